"""The recorder against live writers over a pty and a loopback socket."""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path

import pytest

from ktstr_guest.bulk_writer import GuestBulkWriter
from ktstr_host.decode.bulk import BulkDecoder
from ktstr_host.decode.events import Frame
from ktstr_host.transcripts.io import read_transcript
from ktstr_host.transcripts.recorder import Recorder, import_captures
from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk, Header


def guest_bulk_bytes() -> bytes:
    w = GuestBulkWriter()
    return b"".join([w.sys_rdy(), w.lifecycle(1), w.stdout(os.urandom(20000)), w.exit(0)])


def test_pty_writer_is_recorded_intact(tmp_path: Path) -> None:
    master, slave = os.openpty()
    data = guest_bulk_bytes()
    out = tmp_path / "pty.jsonl"
    frames: list[Frame] = []
    decoder = BulkDecoder()
    rec = Recorder(
        Header("ktstr-0.15"),
        out,
        on_chunk=lambda c: frames.extend(e for e in decoder.feed(c.data) if isinstance(e, Frame)),
    )
    rec.add("bulk", os.ttyname(slave))  # pyserial puts the tty in raw mode
    rec.start()
    all_read = threading.Event()

    def writer() -> None:
        rng = random.Random(7)
        view = memoryview(data)
        while view:
            n = os.write(master, view[: rng.randint(1, 5000)])
            view = view[n:]
        all_read.wait(30)  # a pty drops unread input when its master closes
        os.close(master)

    th = threading.Thread(target=writer)
    th.start()

    def everything_read() -> bool:
        if rec.bytes_by_channel.get("bulk", 0) < len(data):
            return False
        all_read.set()
        return True

    rec.run(until=everything_read)
    th.join()
    rec.close()
    os.close(slave)
    assert read_transcript(out).channel_bytes("bulk") == data
    assert [f.label for f in frames][:2] == ["SRDY", "LIFE"] and frames[-1].label == "EXIT"
    assert all(f.crc_ok for f in frames)


def test_socket_writer_recorded_until_eof(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    com1 = b"".join(f"line {i}\r\n".encode() for i in range(3000))

    def guest() -> None:
        conn, _ = server.accept()
        with conn:
            for i in range(0, len(com1), 777):
                conn.sendall(com1[i : i + 777])

    th = threading.Thread(target=guest)
    th.start()
    rec = Recorder(Header("ktstr-0.15"), tmp_path / "s.jsonl.gz")
    rec.add("com1", f"socket://127.0.0.1:{port}")
    assert rec.run(timeout=30)
    rec.close()
    th.join()
    server.close()
    t = read_transcript(tmp_path / "s.jsonl.gz")
    assert t.channel_bytes("com1") == com1
    eof = t.mark("eof")
    assert eof is not None and eof.data["channel"] == "com1"
    times = [e.t for e in t.events]
    assert times == sorted(times)


def test_stop_flushes_what_was_read(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    got_it = threading.Event()
    conns: list[socket.socket] = []

    def guest() -> None:
        conn, _ = server.accept()
        conns.append(conn)
        conn.sendall(b"partial output, guest still running\n")

    th = threading.Thread(target=guest)
    th.start()
    out = tmp_path / "stop.jsonl"
    rec = Recorder(Header("ktstr-0.15"), out, on_chunk=lambda c: got_it.set())
    rec.add("com2", f"socket://127.0.0.1:{port}")
    rec.start()

    def stop_after_first_chunk() -> None:
        got_it.wait(30)
        rec.stop()

    threading.Thread(target=stop_after_first_chunk).start()
    rec.run(timeout=30)
    rec.close()
    th.join()
    for c in conns:
        c.close()
    server.close()
    assert read_transcript(out).channel_bytes("com2") == b"partial output, guest still running\n"


def test_send_records_host_writes(tmp_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    received: list[bytes] = []

    def guest() -> None:
        conn, _ = server.accept()
        with conn:
            received.append(conn.recv(1))
            conn.sendall(b"dump follows")

    th = threading.Thread(target=guest)
    th.start()
    rec = Recorder(Header("ktstr-0.15"))
    rec.add("hvc0", f"socket://127.0.0.1:{port}")
    rec.start()
    rec.send("hvc0", b"\xd1")
    rec.run(timeout=30)
    rec.close()
    th.join()
    server.close()
    chunks = rec.transcript.chunks
    assert received == [b"\xd1"]
    assert chunks[0] == Chunk(chunks[0].t, "hvc0", "h2g", b"\xd1")
    assert rec.transcript.channel_bytes("hvc0") == b"dump follows"


def test_file_sources_and_import(tmp_path: Path) -> None:
    (tmp_path / "com1.log").write_bytes(b"console\r\n")
    (tmp_path / "bulk.bin").write_bytes(guest_bulk_bytes())
    rec = Recorder(Header("ktstr-0.15"))
    rec.add("com1", str(tmp_path / "com1.log"))
    rec.add("bulk", f"file:{tmp_path / 'bulk.bin'}")
    assert rec.run(timeout=30)
    rec.close()
    assert rec.transcript.channel_bytes("com1") == b"console\r\n"
    t = import_captures(
        "ktstr-0.15",
        {"bulk": tmp_path / "bulk.bin", "com1": tmp_path / "com1.log"},
        chunk_size=4096,
    )
    assert t.channel_bytes("bulk") == guest_bulk_bytes()[:0] + (tmp_path / "bulk.bin").read_bytes()
    assert max(len(c.data) for c in t.chunks) == 4096


def test_recorder_usage_errors(tmp_path: Path) -> None:
    rec = Recorder(Header("ktstr-0.15"))
    with pytest.raises(UsageError, match="not in the transcript header"):
        rec.add("com9", "socket://127.0.0.1:1")
    with pytest.raises(UsageError, match="no such file or device"):
        rec.add("com1", str(tmp_path / "missing"))
    with pytest.raises(UsageError, match="cannot open"):
        rec.add("com1", "socket://127.0.0.1:1")
    with pytest.raises(UsageError, match="unknown channel"):
        import_captures("ktstr-0.15", {"com9": tmp_path})
