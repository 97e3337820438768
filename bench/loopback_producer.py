"""A loopback TCP producer for the recorder bench and soak test.

``python bench/loopback_producer.py`` listens on 127.0.0.1, prints its port, accepts one
connection and sends a deterministic pattern (:func:`pattern`) as fast as the peer takes
it, until the peer goes away. With ``--sink`` it connects to itself instead and reads
and discards everything, to measure what the producer can do when nobody slows it down.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

BLOCK = 1 << 20


def pattern(offset: int, size: int) -> bytes:
    """``size`` bytes of the stream from ``offset``: byte i is ``(i * 7 + i // 256) % 251``
    (not periodic in 64 KiB, so a lost or repeated chunk shows)."""
    return bytes((i * 7 + i // 256) % 251 for i in range(offset, offset + size))


PERIOD = 251 * 256  # pattern(i) == pattern(i + PERIOD)
_TABLE = pattern(0, PERIOD + BLOCK)


def serve(server: socket.socket) -> None:
    conn, _ = server.accept()
    sent = 0
    with conn:
        try:
            while True:
                start = sent % PERIOD
                sent += conn.send(_TABLE[start : start + BLOCK])
        except OSError:
            pass


def main() -> int:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    if "--sink" in sys.argv:
        seconds = float(sys.argv[sys.argv.index("--sink") + 1])
        threading.Thread(target=serve, args=(server,), daemon=True).start()
        sink = socket.create_connection(("127.0.0.1", port))
        got, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            got += len(sink.recv(BLOCK))
        print(f"{got / (time.monotonic() - t0) / 1e6:.0f}")
        return 0
    print(port, flush=True)
    serve(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
