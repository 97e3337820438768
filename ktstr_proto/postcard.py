"""Postcard v1 wire primitives (payloads.md section 2), declared as construct constructs.

Decoding follows ``postcard::from_bytes`` (postcard 1.x): varints are LEB128 with at most
3 / 5 / 10 bytes for u16 / u32 / u64 and no bits beyond the type width in the last byte;
bools and Option tags are exactly 0 or 1; strings must be valid UTF-8. Like postcard, a
varint with redundant zero groups (``80 00`` for 0) is accepted; pass ``canonical=True``
to :class:`VarUInt` to reject it. Lengths and counts are checked against the bytes left
before anything is read or allocated, so a hostile count costs nothing.

Failures while parsing raise :class:`PostcardError` (a construct error carrying the byte
offset of the offending item); :func:`parse_exact` turns it into
:class:`~ktstr_proto.errors.PayloadError` with a dotted field path. Building with a value
of the wrong type or range raises :class:`~ktstr_proto.errors.UsageError`.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

from construct import Adapter, Construct, ConstructError, Renamed, Struct, Subconstruct

from .errors import PayloadError, UsageError

_PATH_ROOTS = ("(parsing)", "(building)", "(sizeof)")


class PostcardError(ConstructError):  # type: ignore[misc]
    """Malformed postcard bytes; ``offset`` is where the offending item starts."""

    def __init__(self, reason: str, path: str, offset: int):
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.offset = offset


# ---- helpers -------------------------------------------------------------------------


def field_path(path: str | None) -> str | None:
    """``"(parsing) -> stats -> cgroups -> [2] -> spread"`` -> ``"stats.cgroups[2].spread"``."""
    if not path:
        return None
    out = ""
    for part in path.split(" -> "):
        if part in _PATH_ROOTS or not part:
            continue
        out += part if part.startswith("[") or not out else "." + part
    return out or None


def _remaining(stream: Any) -> int:
    pos: int = stream.tell()
    end: int = stream.seek(0, io.SEEK_END)
    stream.seek(pos)
    return end - pos


def _read(stream: Any, size: int, what: str, path: str) -> bytes:
    start = stream.tell()
    data: bytes = stream.read(size)
    if len(data) != size:
        raise PostcardError(
            f"unexpected end of payload: {what} needs {size} bytes, {len(data)} left",
            path,
            start,
        )
    return data


def _usage(path: str, message: str) -> UsageError:
    where = field_path(path)
    return UsageError(f"{where}: {message}" if where else message)


def _check_int(obj: Any, lo: int, hi: int, what: str, path: str) -> int:
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise _usage(path, f"{what} must be an int, got {type(obj).__name__}")
    if not lo <= obj <= hi:
        raise _usage(path, f"{what} out of range {lo}..{hi}: {obj}")
    return obj


def min_size(sc: Any) -> int:
    """Smallest number of bytes any value of ``sc`` occupies on the wire."""
    known = getattr(sc, "pc_min_size", None)
    if known is not None:
        return int(known)
    if isinstance(sc, Struct):
        return sum(min_size(s) for s in sc.subcons)
    if isinstance(sc, Subconstruct):  # Renamed, Adapter, ...
        return min_size(sc.subcon)
    return int(sc.sizeof())


# ---- varints -------------------------------------------------------------------------


class _VarintFault(Exception):
    """Internal: a varint decode failure at ``pos`` (relative to the buffer)."""

    def __init__(self, reason: str, pos: int):
        super().__init__(reason)
        self.reason = reason
        self.pos = pos


def _varint_limits(bits: int) -> tuple[int, int]:
    max_len = (bits + 6) // 7
    last_max = (1 << (bits - 7 * (max_len - 1))) - 1
    return max_len, last_max


def _decode_varint(buf: bytes, pos: int, spec: VarUInt) -> tuple[int, int]:
    """Decode one LEB128 varint from ``buf[pos:]``; returns ``(value, next_pos)``."""
    bits, max_len, last_max, canonical = spec.bits, spec.max_len, spec.last_max, spec.canonical
    value = 0
    end = len(buf)
    for i in range(max_len):
        if pos + i >= end:
            raise _VarintFault(f"unexpected end of payload inside a u{bits} varint", pos)
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if i == max_len - 1 and byte > last_max:
                raise _VarintFault(f"varint overflows u{bits}", pos)
            if canonical and i and not byte:
                raise _VarintFault(f"non-canonical (overlong) u{bits} varint", pos)
            return value, pos + i + 1
    raise _VarintFault(f"varint longer than {max_len} bytes (u{bits} maximum)", pos)


def encode_varint(value: int) -> bytes:
    """LEB128 bytes of a non-negative int (no width check)."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class VarUInt(Construct):  # type: ignore[misc]
    """Unsigned LEB128 varint of a ``bits``-wide integer (u16 / u32 / u64 / u128)."""

    pc_min_size = 1

    def __init__(self, bits: int, *, canonical: bool = False):
        super().__init__()
        self.bits = bits
        self.canonical = canonical
        self.max_len, self.last_max = _varint_limits(bits)

    def _parse(self, stream: Any, context: Any, path: str) -> int:
        start = stream.tell()
        chunk: bytes = stream.read(self.max_len)
        try:
            value, used = _decode_varint(chunk, 0, self)
        except _VarintFault as fault:
            raise PostcardError(fault.reason, path, start) from None
        stream.seek(start + used)
        return value

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> int:
        value = _check_int(obj, 0, (1 << self.bits) - 1, f"u{self.bits}", path)
        stream.write(encode_varint(value))
        return value

    def _sizeof(self, context: Any, path: str) -> int:
        return 1


class ZigZag(Construct):  # type: ignore[misc]
    """Signed integer: zigzag-mapped, then an unsigned varint of the same width."""

    pc_min_size = 1

    def __init__(self, bits: int):
        super().__init__()
        self.bits = bits
        self.raw = VarUInt(bits)

    def _parse(self, stream: Any, context: Any, path: str) -> int:
        n: int = self.raw._parse(stream, context, path)
        return (n >> 1) ^ -(n & 1)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> int:
        half = 1 << (self.bits - 1)
        value = _check_int(obj, -half, half - 1, f"i{self.bits}", path)
        zz = ((value << 1) ^ (value >> (self.bits - 1))) & ((1 << self.bits) - 1)
        stream.write(encode_varint(zz))
        return value

    def _sizeof(self, context: Any, path: str) -> int:
        return 1


# ---- fixed-size scalars --------------------------------------------------------------


class RawInt8(Construct):  # type: ignore[misc]
    """u8 / i8: one raw byte."""

    pc_min_size = 1

    def __init__(self, signed: bool):
        super().__init__()
        self.signed = signed

    def _parse(self, stream: Any, context: Any, path: str) -> int:
        data = _read(stream, 1, "an i8" if self.signed else "a u8", path)
        return int.from_bytes(data, "little", signed=self.signed)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> int:
        lo, hi = (-128, 127) if self.signed else (0, 255)
        value = _check_int(obj, lo, hi, "i8" if self.signed else "u8", path)
        stream.write(value.to_bytes(1, "little", signed=self.signed))
        return value

    def _sizeof(self, context: Any, path: str) -> int:
        return 1


class Float(Construct):  # type: ignore[misc]
    """f32 / f64: IEEE-754 bits, little-endian. NaN and infinities are legal."""

    def __init__(self, size: int):
        super().__init__()
        self.fmt = struct.Struct("<f" if size == 4 else "<d")
        self.pc_min_size = size

    def _parse(self, stream: Any, context: Any, path: str) -> float:
        data = _read(stream, self.fmt.size, f"an f{self.fmt.size * 8}", path)
        value: float = self.fmt.unpack(data)[0]
        return value

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> float:
        if isinstance(obj, bool) or not isinstance(obj, int | float):
            raise _usage(path, f"f{self.fmt.size * 8} must be a float, got {type(obj).__name__}")
        try:
            value = float(obj)
            stream.write(self.fmt.pack(value))
        except OverflowError:
            raise _usage(path, f"{obj} does not fit an f{self.fmt.size * 8}") from None
        return value

    def _sizeof(self, context: Any, path: str) -> int:
        return self.fmt.size


class Bool(Construct):  # type: ignore[misc]
    """bool: exactly one byte, 0x00 or 0x01."""

    pc_min_size = 1

    def _parse(self, stream: Any, context: Any, path: str) -> bool:
        start = stream.tell()
        byte = _read(stream, 1, "a bool", path)[0]
        if byte > 1:
            raise PostcardError(f"invalid bool byte 0x{byte:02x} (only 0x00 / 0x01)", path, start)
        return byte == 1

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> bool:
        if not isinstance(obj, bool):
            raise _usage(path, f"bool expected, got {type(obj).__name__}")
        stream.write(b"\x01" if obj else b"\x00")
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        return 1


# ---- length-prefixed -----------------------------------------------------------------

_LEN = VarUInt(64)  # usize lengths and counts travel as u64 varints


def _read_len(stream: Any, path: str, what: str, unit: int) -> int:
    """Read a varint count and check ``count * unit`` bytes are left."""
    start = stream.tell()
    count: int = _LEN._parse(stream, None, path)
    left = _remaining(stream)
    if count * unit > left:
        raise PostcardError(
            f"{what} announces {count} (at least {count * unit} bytes) but only {left} bytes "
            "are left",
            path,
            start,
        )
    return count


class Utf8String(Construct):  # type: ignore[misc]
    """String / &str / Cow<str>: varint byte length, then strictly valid UTF-8."""

    pc_min_size = 1

    def _parse(self, stream: Any, context: Any, path: str) -> str:
        size = _read_len(stream, path, "string length", 1)
        start = stream.tell()
        data = _read(stream, size, "a string", path)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PostcardError(
                f"string is not valid UTF-8 ({exc.reason})", path, start + exc.start
            ) from None

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> str:
        if not isinstance(obj, str):
            raise _usage(path, f"str expected, got {type(obj).__name__}")
        try:
            data = obj.encode("utf-8")
        except UnicodeEncodeError:
            raise _usage(path, "string contains lone surrogates (not UTF-8 encodable)") from None
        stream.write(encode_varint(len(data)) + data)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        return 1


class ByteVec(Construct):  # type: ignore[misc]
    """Vec<u8> / byte slices: varint length, then the raw bytes."""

    pc_min_size = 1

    def _parse(self, stream: Any, context: Any, path: str) -> bytes:
        size = _read_len(stream, path, "byte length", 1)
        return _read(stream, size, "a byte string", path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> bytes:
        if not isinstance(obj, bytes | bytearray | memoryview):
            raise _usage(path, f"bytes expected, got {type(obj).__name__}")
        data = bytes(obj)
        stream.write(encode_varint(len(data)) + data)
        return data

    def _sizeof(self, context: Any, path: str) -> int:
        return 1


class Option(Subconstruct):  # type: ignore[misc]
    """Option<T>: 0x00 = None, 0x01 then T; any other tag is an error."""

    pc_min_size = 1

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        start = stream.tell()
        tag = _read(stream, 1, "an Option tag", path)[0]
        if tag == 0:
            return None
        if tag != 1:
            raise PostcardError(f"invalid Option tag 0x{tag:02x} (only 0x00 / 0x01)", path, start)
        return self.subcon._parsereport(stream, context, path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if obj is None:
            stream.write(b"\x00")
            return None
        stream.write(b"\x01")
        return self.subcon._build(obj, stream, context, path)

    def _sizeof(self, context: Any, path: str) -> int:
        return 1


class _Repeated(Subconstruct):  # type: ignore[misc]
    """Common part of Seq and Set: varint count, then the items."""

    pc_min_size = 1
    what = "sequence"

    def __init__(self, subcon: Any):
        super().__init__(subcon)
        self.item_min = min_size(subcon)
        if self.item_min < 1:
            raise UsageError("postcard sequences of zero-sized items are not supported")

    def _items(self, stream: Any, context: Any, path: str) -> list[Any]:
        count = _read_len(stream, path, f"{self.what} count", self.item_min)
        sub = self.subcon
        if isinstance(sub, VarUInt):
            return _fast_varints(stream, count, sub, path)
        if isinstance(sub, Float):
            data = _read(stream, count * sub.fmt.size, f"{count} floats", path)
            return [v for (v,) in sub.fmt.iter_unpack(data)]
        return [sub._parsereport(stream, context, f"{path} -> [{i}]") for i in range(count)]

    def _emit(self, items: Sequence[Any], stream: Any, context: Any, path: str) -> None:
        stream.write(encode_varint(len(items)))
        for i, item in enumerate(items):
            self.subcon._build(item, stream, context, f"{path} -> [{i}]")

    def _sizeof(self, context: Any, path: str) -> int:
        return 1


def _fast_varints(stream: Any, count: int, sub: VarUInt, path: str) -> list[int]:
    """Decode ``count`` varints in one pass over the remaining bytes (wake-latency vectors)."""
    start = stream.tell()
    buf: bytes = stream.read(count * sub.max_len)
    out: list[int] = []
    pos = 0
    try:
        for _ in range(count):
            value, pos = _decode_varint(buf, pos, sub)
            out.append(value)
    except _VarintFault as fault:
        raise PostcardError(fault.reason, f"{path} -> [{len(out)}]", start + fault.pos) from None
    stream.seek(start + pos)
    return out


class Seq(_Repeated):
    """Vec<T>: varint element count, then the elements. Decodes to a tuple."""

    def _parse(self, stream: Any, context: Any, path: str) -> tuple[Any, ...]:
        return tuple(self._items(stream, context, path))

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if isinstance(obj, str | bytes | dict | set | frozenset) or not isinstance(obj, Iterable):
            raise _usage(path, f"a sequence (tuple or list) expected, got {type(obj).__name__}")
        items = list(obj)
        self._emit(items, stream, context, path)
        return obj


class Set(_Repeated):
    """BTreeSet<T>: like Vec; duplicates collapse (as serde does). Decodes to a frozenset.

    Building emits the elements in ascending order, as a BTreeSet does.
    """

    what = "set"

    def _parse(self, stream: Any, context: Any, path: str) -> frozenset[Any]:
        return frozenset(self._items(stream, context, path))

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if not isinstance(obj, set | frozenset | list | tuple):
            raise _usage(path, f"a set expected, got {type(obj).__name__}")
        try:
            items = sorted(obj)
        except TypeError:
            raise _usage(path, "set elements are not mutually comparable") from None
        self._emit(items, stream, context, path)
        return obj


def btree_order(key: Any) -> Any:
    """Sort key reproducing Rust ``Ord``: bytewise UTF-8 for strings, numeric otherwise."""
    return key.encode("utf-8", "surrogatepass") if isinstance(key, str) else key


def _key_label(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 40 else text[:37] + "..."


class Map(Construct):  # type: ignore[misc]
    """BTreeMap<K, V>: varint entry count, then key/value pairs. Decodes to a dict.

    A repeated key keeps the last value, as serde's BTreeMap visitor does. Building emits
    the keys in ascending ``Ord`` order (strings bytewise), as a BTreeMap does.
    """

    pc_min_size = 1

    def __init__(self, key: Any, value: Any):
        super().__init__()
        self.key = key
        self.value = value
        self.pair_min = min_size(key) + min_size(value)

    def _parse(self, stream: Any, context: Any, path: str) -> dict[Any, Any]:
        count = _read_len(stream, path, "map entry count", self.pair_min)
        out: dict[Any, Any] = {}
        for i in range(count):
            k = self.key._parsereport(stream, context, f"{path} -> [{i}] -> key")
            out[k] = self.value._parsereport(stream, context, f"{path} -> [{_key_label(k)}]")
        return out

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if not isinstance(obj, dict):
            raise _usage(path, f"a dict expected, got {type(obj).__name__}")
        try:
            keys = sorted(obj, key=btree_order)
        except TypeError:
            raise _usage(path, "map keys are not mutually comparable") from None
        stream.write(encode_varint(len(keys)))
        for i, k in enumerate(keys):
            self.key._build(k, stream, context, f"{path} -> [{i}] -> key")
            self.value._build(obj[k], stream, context, f"{path} -> [{_key_label(k)}]")
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        return 1


# ---- enums and records ---------------------------------------------------------------

VariantIndex = VarUInt(32)
"""The variant index of an externally tagged enum: a u32 varint."""


class Tagged(Construct):  # type: ignore[misc]
    """An externally tagged Rust enum: varint u32 variant index, then that variant's payload.

    ``variants`` lists ``(key, payload construct or None)`` in declaration order (index =
    position). ``make(key, payload)`` builds the Python value; ``split(value)`` returns
    ``(key, payload)`` for building.
    """

    pc_min_size = 1

    def __init__(
        self,
        what: str,
        variants: Sequence[tuple[Any, Any]],
        make: Callable[[Any, Any], Any],
        split: Callable[[Any], tuple[Any, Any]],
    ):
        super().__init__()
        self.what = what
        self.variants = tuple(variants)
        self.index = {key: i for i, (key, _) in enumerate(self.variants)}
        self.make = make
        self.split = split

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        start = stream.tell()
        idx: int = VariantIndex._parse(stream, context, path)
        if idx >= len(self.variants):
            raise PostcardError(
                f"unknown {self.what} variant index {idx} (this schema has {len(self.variants)})",
                path,
                start,
            )
        key, sub = self.variants[idx]
        payload = None if sub is None else sub._parsereport(stream, context, _sub(path, key))
        return self.make(key, payload)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        key, payload = self.split(obj)
        try:
            idx = self.index[key]
        except (KeyError, TypeError):
            raise _usage(path, f"{key!r} is not a {self.what} variant of this schema") from None
        stream.write(encode_varint(idx))
        sub = self.variants[idx][1]
        if sub is not None:
            sub._build(payload, stream, context, _sub(path, key))
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        return 1


def _sub(path: str, key: Hashable) -> str:
    if isinstance(key, str):  # StrEnum members: the upstream variant name
        label = str(key)
    else:
        label = getattr(key, "name", None) or getattr(key, "__name__", None) or repr(key)
    return f"{path} -> {label}"


def unit_enum(what: str, members: Sequence[Hashable]) -> Tagged:
    """A Rust enum whose variants carry no data; decodes to the member itself."""
    return Tagged(what, [(m, None) for m in members], lambda key, _: key, lambda v: (v, None))


class Record(Adapter):  # type: ignore[misc]
    """A struct: the fields of ``layout`` in order, typed as the dataclass ``cls``."""

    def __init__(self, cls: type, layout: Any):
        super().__init__(layout)
        self.cls = cls
        self.names = tuple(sc.name for sc in layout.subcons if isinstance(sc, Renamed))

    def _decode(self, obj: Any, context: Any, path: str) -> Any:
        return self.cls(**{name: obj[name] for name in self.names})

    def _encode(self, obj: Any, context: Any, path: str) -> dict[str, Any]:
        if not isinstance(obj, self.cls):
            raise _usage(path, f"{self.cls.__name__} expected, got {type(obj).__name__}")
        return {name: getattr(obj, name) for name in self.names}


def record(cls: type, *fields: Any) -> Record:
    """``record(Cls, "a" / U64, "b" / String)``: a :class:`Record` over a ``Struct``."""
    return Record(cls, Struct(*fields))


# ---- ready-made instances ------------------------------------------------------------

U8 = RawInt8(signed=False)
I8 = RawInt8(signed=True)
U16 = VarUInt(16)
U32 = VarUInt(32)
U64 = VarUInt(64)
Usize = U64
I16 = ZigZag(16)
I32 = ZigZag(32)
I64 = ZigZag(64)
F32 = Float(4)
F64 = Float(8)
BoolByte = Bool()
String = Utf8String()
Bytes = ByteVec()


# ---- whole payloads ------------------------------------------------------------------


def parse_prefix(layout: Any, payload: bytes, what: str) -> tuple[Any, int]:
    """Parse one complete value from the start of ``payload``, as ``postcard::from_bytes``
    does: bytes after it are ignored. Returns the value and the number of bytes it took.

    Raises :class:`PayloadError` naming the field path and byte offset on any mismatch.
    """
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise UsageError(f"{what} payload must be bytes-like, got {type(payload).__name__}")
    stream = io.BytesIO(bytes(payload))
    try:
        value = layout.parse_stream(stream)
    except PostcardError as exc:
        raise PayloadError(
            f"{what}: {exc.reason}", field=field_path(exc.path), offset=exc.offset
        ) from None
    except ConstructError as exc:  # defensive: every primitive above raises PostcardError
        raise PayloadError(f"{what}: {exc}", offset=stream.tell()) from None
    return value, stream.tell()


def parse_exact(layout: Any, payload: bytes, what: str) -> Any:
    """Parse ``payload`` with ``layout``; it must be consumed exactly.

    Raises :class:`PayloadError` naming the field path and byte offset on any mismatch.
    """
    value, end = parse_prefix(layout, payload, what)
    if end != len(payload):
        raise PayloadError(
            f"{what}: {len(payload) - end} trailing bytes after a complete value", offset=end
        )
    return value


def build(layout: Any, value: Any, what: str) -> bytes:
    """Encode ``value`` with ``layout``; wrong types or ranges raise :class:`UsageError`."""
    try:
        out: bytes = layout.build(value)
    except ConstructError as exc:
        raise UsageError(f"{what}: cannot encode: {exc}") from None
    return out
