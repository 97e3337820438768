"""Record the channels of a live ktstr guest into a transcript.

One reader thread per channel reads from a pyserial URL (``socket://``, a ``/dev/pts/N``
device, a real serial port, ``ktstrreplay://``...) or a plain file, stamps every read
with the recorder's monotonic clock and queues it; the caller's thread writes the queue
to the transcript in that order and hands each chunk to ``on_chunk`` (live decoding).
Stamping and queueing happen under one lock, so times never decrease and no channel's
bytes are reordered. The queue is bounded (``queue_chunks`` reads of at most
``READ_SIZE`` bytes): when the writer falls behind, readers block and stop reading, so
the source's own flow control (TCP windows, a full pipe) slows the peer and memory stays
bounded at any producer speed. A read error or end of file ends that channel (recorded
as an ``eof`` mark); :meth:`Recorder.stop` (e.g. from a signal handler) makes every
reader finish its current read and quit, then everything read is written and flushed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import socket
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import serial

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Chunk, Direction, Header, Mark

from .io import PathLike, Transcript, TranscriptWriter

READ_SIZE = 65536
POLL_S = 0.05
QUEUE_CHUNKS = 64
"""Default queue bound: at most 64 reads of READ_SIZE bytes (4 MiB) wait for the writer."""
WIND_DOWN_S = 5.0
"""How long :meth:`Recorder.close` waits for readers stuck in a read (e.g. a silent FIFO)."""


class Port(Protocol):
    """What the recorder needs from a port (pyserial ``Serial`` objects fit)."""

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def close(self) -> None: ...


class _FilePort:
    """A regular file (or FIFO) read to its end, as a port."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDONLY)

    def read(self, size: int = 1) -> bytes:
        return os.read(self._fd, size)

    def write(self, data: bytes, /) -> int | None:
        raise UsageError("cannot write to a file source")

    def close(self) -> None:
        os.close(self._fd)


class _SocketPort:
    """A TCP connection for ``socket://HOST:PORT``.

    pyserial's own ``socket://`` handler discards the bytes it has gathered in a read
    when the peer closes during that read, so the recorder talks to the socket itself.
    """

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._sock = socket.create_connection((host, port), timeout=5.0)
        self._sock.settimeout(timeout)

    def read(self, size: int = 1) -> bytes:
        try:
            data = self._sock.recv(size)
        except TimeoutError:
            return b""
        if not data:
            raise EOFError("peer closed the connection")
        return data

    def write(self, data: bytes, /) -> int | None:
        self._sock.sendall(data)
        return len(data)

    def close(self) -> None:
        self._sock.close()


def open_port(spec: str, *, timeout: float = POLL_S) -> Port:
    """Open a pyserial URL, a device node, or ``file:PATH`` / a regular file."""
    if spec.startswith("file:"):
        try:
            return _FilePort(spec[5:])
        except OSError as exc:
            raise UsageError(f"cannot open {spec}: {exc.strerror}") from None
    if spec.startswith("socket://"):
        parts = urlsplit(spec)
        if parts.hostname is None or parts.port is None:
            raise UsageError(f"{spec}: expected socket://HOST:PORT")
        try:
            return _SocketPort(parts.hostname, parts.port, timeout)
        except OSError as exc:
            raise UsageError(f"cannot open {spec}: {exc}") from None
    if "://" not in spec:
        try:
            mode = os.stat(spec).st_mode
        except FileNotFoundError:
            raise UsageError(f"{spec}: no such file or device") from None
        if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
            return _FilePort(spec)
    try:
        port: Port = serial.serial_for_url(spec, timeout=timeout)
    except (serial.SerialException, ValueError) as exc:
        raise UsageError(f"cannot open {spec}: {exc}") from None
    return port


def _g2h(t: float, *, channel: str, data: bytes) -> Chunk:
    return Chunk(t, channel, "g2h", data)


@dataclass
class _Source:
    channel: str
    port: Port
    spec: str
    is_file: bool


class Recorder:
    """Reads channels into a transcript; see the module docstring."""

    def __init__(
        self,
        header: Header,
        out: TranscriptWriter | PathLike | None = None,
        *,
        on_chunk: Callable[[Chunk], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        keep: bool | None = None,
        queue_chunks: int = QUEUE_CHUNKS,
    ) -> None:
        """``keep``: also hold every event in :attr:`transcript` (default: only when
        there is no output file, so long recordings do not grow in memory).
        ``queue_chunks``: how many reads may wait for the writer before readers block."""
        if queue_chunks < 1:
            raise UsageError("queue_chunks must be at least 1")
        self.header = header
        self._keep = (out is None) if keep is None else keep
        if out is None or isinstance(out, TranscriptWriter):
            self._writer = out
        else:
            self._writer = TranscriptWriter(out, header)
        self._owns_writer = out is not None and not isinstance(out, TranscriptWriter)
        self.transcript = Transcript(header)
        self._on_chunk = on_chunk
        self._clock = clock
        self._t0: float | None = None
        self._queue: queue.Queue[Chunk | Mark | None] = queue.Queue(queue_chunks)
        self._stamp_lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._open = 0
        self.bytes_by_channel: dict[str, int] = {}

    # ---- setup -------------------------------------------------------------------

    def add(self, channel: str, source: str | Port) -> None:
        """Record ``channel`` (g2h) from a URL/device/file spec or an open port."""
        if channel not in self.header.channels:
            raise UsageError(f"channel {channel!r} is not in the transcript header")
        if channel in self._sources:
            raise UsageError(f"channel {channel!r} is already recorded")
        port = open_port(source) if isinstance(source, str) else source
        spec = source if isinstance(source, str) else repr(source)
        self._sources[channel] = _Source(channel, port, spec, isinstance(port, _FilePort))

    def now(self) -> float:
        if self._t0 is None:
            self._t0 = self._clock()
        return self._clock() - self._t0

    def _put(self, make: Callable[[float], Chunk | Mark]) -> None:
        """Stamp and queue; blocks while the queue is full (back-pressure). Never call
        it from the thread that runs :meth:`run`: only that thread empties the queue."""
        with self._stamp_lock:
            self._queue.put(make(self.now()))

    # ---- running -----------------------------------------------------------------

    def start(self) -> None:
        self.now()
        for src in self._sources.values():
            th = threading.Thread(
                target=self._read_loop, args=(src,), name=f"rec-{src.channel}", daemon=True
            )
            self._threads.append(th)
            self._open += 1
            th.start()

    def _read_loop(self, src: _Source) -> None:
        reason = "eof"
        try:
            while not self._stop.is_set():
                try:
                    # Ask only for what is there: pyserial drops the bytes a read has
                    # gathered when the device disconnects during that read.
                    waiting = getattr(src.port, "in_waiting", READ_SIZE) or 1
                    data = src.port.read(min(waiting, READ_SIZE))
                except EOFError:
                    break
                except (serial.SerialException, OSError) as exc:
                    reason = f"closed: {exc}"
                    break
                if data:
                    self._put(functools.partial(_g2h, channel=src.channel, data=data))
                elif src.is_file:
                    break
        finally:
            self._put(lambda t: Mark(t, "eof", {"channel": src.channel, "reason": reason}))
            self._queue.put(None)

    def send(self, channel: str, data: bytes) -> None:
        """The host writes ``data`` to the guest on ``channel``; recorded as h2g."""
        src = self._sources.get(channel)
        if src is None:
            raise UsageError(f"channel {channel!r} has no open port")
        direction: Direction = "h2g"
        if not self.header.channels[channel].allows(direction):
            raise UsageError(f"channel {channel!r} does not carry host writes")
        with self._stamp_lock:
            src.port.write(bytes(data))
            self._queue.put(Chunk(self.now(), channel, direction, bytes(data)))

    def note(self, name: str, **data: object) -> None:
        """Record a mark (e.g. ``vm-exit``)."""
        self._put(lambda t: Mark(t, name, dict(data)))

    def stop(self) -> None:
        """Ask every reader to finish (safe from signal handlers and other threads)."""
        self._stop.set()

    def run(self, *, timeout: float | None = None, until: Callable[[], bool] | None = None) -> bool:
        """Write queued chunks until every channel ended, :meth:`stop` was called,
        ``until()`` is true, or ``timeout`` seconds passed (returns False then). Readers
        are stopped first, then what they read is written: stopping takes one read."""
        if not self._threads:
            self.start()
        deadline = None if timeout is None else self._clock() + timeout
        finished = True
        while self._open > 0:
            if self._stop.is_set() or (until is not None and until()):
                break
            if deadline is not None and self._clock() >= deadline:
                finished = False
                break
            try:
                item = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                continue
            self._consume(item)
        self._wind_down()
        return finished

    def _wind_down(self) -> None:
        """Stop the readers and write everything they queued until each one ended."""
        self.stop()
        give_up = time.monotonic() + WIND_DOWN_S
        while self._open > 0:
            try:
                self._consume(self._queue.get(timeout=POLL_S))
            except queue.Empty:
                alive = any(th.is_alive() for th in self._threads)
                if not alive or time.monotonic() >= give_up:
                    break
        self.drain()

    def drain(self) -> None:
        """Write whatever is queued now."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            self._consume(item)

    def _consume(self, item: Chunk | Mark | None) -> None:
        if item is None:
            self._open -= 1
            return
        if self._keep:
            self.transcript.events.append(item)
        if self._writer is not None:
            self._writer.write(item)
        if isinstance(item, Chunk):
            self.bytes_by_channel[item.channel] = self.bytes_by_channel.get(item.channel, 0) + len(
                item.data
            )
            if self._on_chunk is not None:
                self._on_chunk(item)

    def close(self) -> None:
        """Stop the readers, write everything read so far, close ports and the file."""
        self._wind_down()
        for src in self._sources.values():
            with contextlib.suppress(OSError):
                src.port.close()
        if self._writer is not None and self._owns_writer:
            self._writer.close()


def import_captures(
    profile: str,
    captures: Mapping[str, PathLike],
    *,
    chunk_size: int = 65536,
    meta: dict[str, object] | None = None,
    host_to_guest: tuple[str, ...] = (),
) -> Transcript:
    """A transcript from raw per-channel capture files (no timing: every chunk at t=0).

    ``captures`` maps channel names (``bulk``, ``com1``, ``com2``, ``hvc0``...) to files;
    channels named in ``host_to_guest`` hold what the host wrote (e.g. hvc0 wake bytes).
    """
    header = Header(
        profile,
        recorder={"name": "ktstr-py", "source": "import"},
        meta={"imported_from": {ch: str(p) for ch, p in captures.items()}, **(meta or {})},
    )
    t = Transcript(header)
    for channel, path in captures.items():
        if channel not in header.channels:
            raise UsageError(f"unknown channel {channel!r} (known: {', '.join(header.channels)})")
        p = Path(path)
        if not p.is_file():
            raise UsageError(f"{p}: no such file")
        with open(p, "rb") as f:
            direction: Direction = "h2g" if channel in host_to_guest else "g2h"
            while block := f.read(chunk_size):
                t.events.append(Chunk(0.0, channel, direction, block))
    return t
