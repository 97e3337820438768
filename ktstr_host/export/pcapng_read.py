"""A small strict pcapng reader (little-endian, one section): checks what the exporter writes.

It validates every block: the type and both total-length fields, 32-bit alignment, zero
padding, option lists ending in ``opt_endofopt``, interface ids and packet lengths.
Violations raise :class:`PcapngError` with the block's byte offset. Blocks of other
types are kept raw in :attr:`Pcapng.other`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ktstr_proto.errors import KtstrError

__all__ = [
    "EnhancedPacket",
    "InterfaceDescription",
    "Pcapng",
    "PcapngError",
    "SectionHeader",
    "parse_options",
    "read_pcapng",
]

Options = list[tuple[int, bytes]]
SHB, IDB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000006


class PcapngError(KtstrError, ValueError):
    """The bytes are not a well-formed little-endian pcapng file."""


@dataclass(frozen=True, slots=True)
class SectionHeader:
    major: int
    minor: int
    section_length: int
    options: Options

    def strings(self, code: int) -> list[str]:
        return [v.decode("utf-8") for c, v in self.options if c == code]


@dataclass(frozen=True, slots=True)
class InterfaceDescription:
    linktype: int
    snaplen: int
    options: Options

    def string(self, code: int) -> str | None:
        return next((v.decode("utf-8") for c, v in self.options if c == code), None)

    @property
    def name(self) -> str | None:
        return self.string(2)

    @property
    def description(self) -> str | None:
        return self.string(3)

    @property
    def units_per_second(self) -> int:
        """From if_tsresol (code 9); 10**6 when absent."""
        raw = next((v for c, v in self.options if c == 9), b"\x06")
        if len(raw) != 1:
            raise PcapngError("if_tsresol must be one byte")
        exponent = raw[0] & 0x7F
        return 1 << exponent if raw[0] & 0x80 else 10**exponent


@dataclass(frozen=True, slots=True)
class EnhancedPacket:
    interface_id: int
    timestamp: int
    original_length: int
    data: bytes
    options: Options

    @property
    def flags(self) -> int | None:
        raw = next((v for c, v in self.options if c == 2), None)
        return None if raw is None else int(struct.unpack("<I", raw)[0])

    @property
    def comments(self) -> list[str]:
        return [v.decode("utf-8") for c, v in self.options if c == 1]


@dataclass
class Pcapng:
    section: SectionHeader
    interfaces: list[InterfaceDescription] = field(default_factory=list)
    packets: list[EnhancedPacket] = field(default_factory=list)
    other: list[tuple[int, bytes]] = field(default_factory=list)

    def timestamp_us(self, packet: EnhancedPacket) -> int:
        """The packet's time in microseconds since 1970 (exact for if_tsresol = 6)."""
        units = self.interfaces[packet.interface_id].units_per_second
        return packet.timestamp * 1_000_000 // units


def _check_pad(raw: bytes, start: int, end: int, where: str) -> None:
    if any(raw[start:end]):
        raise PcapngError(f"{where}: non-zero padding")


def parse_options(raw: bytes, where: str = "options") -> Options:
    """An option list that must end with ``opt_endofopt`` (an empty list is allowed)."""
    opts: Options = []
    pos = 0
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise PcapngError(f"{where}: truncated option header")
        code, length = struct.unpack_from("<HH", raw, pos)
        if code == 0:
            if length != 0 or pos + 4 != len(raw):
                raise PcapngError(f"{where}: opt_endofopt must be empty and last")
            return opts
        end = pos + 4 + length
        padded = end + (-length % 4)
        if padded > len(raw):
            raise PcapngError(f"{where}: option {code} overruns the block")
        _check_pad(raw, end, padded, f"{where}: option {code}")
        opts.append((code, raw[pos + 4 : end]))
        pos = padded
    if opts:
        raise PcapngError(f"{where}: missing opt_endofopt")
    return opts


def _blocks(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, type, body) of every block, with the length fields checked."""
    out = []
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise PcapngError(f"offset {pos}: truncated block header")
        block_type, total = struct.unpack_from("<II", data, pos)
        if total < 12 or total % 4 or pos + total > len(data):
            raise PcapngError(f"offset {pos}: bad block total length {total}")
        (trailer,) = struct.unpack_from("<I", data, pos + total - 4)
        if trailer != total:
            raise PcapngError(f"offset {pos}: trailing length {trailer} != {total}")
        out.append((pos, block_type, data[pos + 8 : pos + total - 4]))
        pos += total
    return out


def read_pcapng(data: bytes) -> Pcapng:
    """Parse and check a whole pcapng file held in ``data``."""
    blocks = _blocks(data)
    if not blocks or blocks[0][1] != SHB:
        raise PcapngError("not a pcapng file: no Section Header Block at offset 0")
    result = Pcapng(_section(blocks[0][2], "offset 0"))
    for pos, block_type, body in blocks[1:]:
        where = f"offset {pos}"
        if block_type == SHB:
            raise PcapngError(f"{where}: only one section is supported")
        if block_type == IDB:
            result.interfaces.append(_interface(body, where))
        elif block_type == EPB:
            result.packets.append(_packet(body, where, len(result.interfaces)))
        else:
            result.other.append((block_type, body))
    return result


def _section(body: bytes, where: str) -> SectionHeader:
    if len(body) < 16:
        raise PcapngError(f"{where}: SHB too short")
    magic, major, minor, length = struct.unpack_from("<IHHq", body)
    if magic != 0x1A2B3C4D:
        raise PcapngError(f"{where}: not little-endian (byte-order magic {magic:#x})")
    if major != 1:
        raise PcapngError(f"{where}: unsupported version {major}.{minor}")
    return SectionHeader(major, minor, length, parse_options(body[16:], where))


def _interface(body: bytes, where: str) -> InterfaceDescription:
    if len(body) < 8:
        raise PcapngError(f"{where}: IDB too short")
    linktype, reserved, snaplen = struct.unpack_from("<HHI", body)
    if reserved:
        raise PcapngError(f"{where}: IDB reserved field is {reserved}")
    return InterfaceDescription(linktype, snaplen, parse_options(body[8:], where))


def _packet(body: bytes, where: str, interfaces: int) -> EnhancedPacket:
    if len(body) < 20:
        raise PcapngError(f"{where}: EPB too short")
    iface, hi, lo, captured, original = struct.unpack_from("<IIIII", body)
    if iface >= interfaces:
        raise PcapngError(f"{where}: interface {iface} not described ({interfaces} known)")
    end = 20 + captured
    padded = end + (-captured % 4)
    if padded > len(body) or captured > original:
        raise PcapngError(f"{where}: bad captured length {captured} (original {original})")
    _check_pad(body, end, padded, where)
    opts = parse_options(body[padded:], where)
    return EnhancedPacket(iface, hi << 32 | lo, original, body[20:end], opts)
