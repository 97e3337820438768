"""Side-by-side-able hexdumps for mismatch messages, with one byte marked."""

from __future__ import annotations

WIDTH = 16


def hexdump(data: bytes, base: int = 0, *, mark: int | None = None) -> list[str]:
    """``data`` as ``offset  hex  |ascii|`` lines; ``base`` is the offset of ``data[0]``.

    Lines are aligned to :data:`WIDTH` byte boundaries of the absolute offset. When
    ``mark`` (an absolute offset) falls inside ``data``, a ``^^`` line points at that
    byte in both the hex and the ASCII column. Empty ``data`` gives ``["(nothing)"]``.
    """
    if not data:
        return ["(nothing)"]
    lines: list[str] = []
    start = base - base % WIDTH
    end = base + len(data)
    for row in range(start, end, WIDTH):
        cells: list[str] = []
        text: list[str] = []
        for off in range(row, row + WIDTH):
            if base <= off < end:
                b = data[off - base]
                cells.append(f"{b:02x}")
                text.append(chr(b) if 0x20 <= b < 0x7F else ".")
            else:
                cells.append("  ")
                text.append(" ")
        lines.append(f"{row:08x}  {' '.join(cells)}  |{''.join(text)}|")
        if mark is not None and row <= mark < row + WIDTH and base <= mark < end:
            col = mark - row
            hex_at = 10 + 3 * col
            ascii_at = 10 + 3 * WIDTH + 2 + col
            lines.append(" " * hex_at + "^^" + " " * (ascii_at - hex_at - 2) + "^")
    return lines


def window(
    data: bytes, base: int, mark: int, *, before: int = WIDTH, after: int = 2 * WIDTH
) -> tuple[int, bytes]:
    """The part of ``data`` (at offset ``base``) from a line before ``mark`` to a few
    lines after it: ``(offset, bytes)``."""
    lo = max(base, mark - mark % WIDTH - before)
    hi = min(base + len(data), mark - mark % WIDTH + after)
    return lo, data[lo - base : max(lo, hi) - base]
