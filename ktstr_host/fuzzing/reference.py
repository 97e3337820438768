"""A deliberately naive transcription of upstream's host parsers (bulk.md 6.1-6.3).

It keeps one growing buffer and re-scans it exactly as ``HostAssembler::feed`` and
``find_next_valid_frame`` do, with no optimisation, so the real decoder can be checked
against it frame by frame and pending count by pending count: the oracle of the fuzz
harnesses and of ``tests/test_bulk_properties.py``.
"""

from __future__ import annotations

import struct
import zlib

from ktstr_proto.profiles import Profile

HDR = struct.Struct("<IIII")
RefFrame = tuple[int, bytes, bool]  # (msg_type, payload, crc_ok)


def _crc(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


class ReferenceAssembler:
    def __init__(self, profile: Profile) -> None:
        self.p = profile
        self.buf = bytearray()

    def find_next_valid_frame(self, start: int) -> int | None:
        buf = self.buf
        for s in range(start, len(buf) - 16 + 1):
            msg_type, length, crc, pad = HDR.unpack_from(buf, s)
            if pad != 0 or length > self.p.cap or msg_type not in self.p.known_tags:
                continue
            end = s + 16 + length
            if end > len(buf):
                continue
            if _crc(bytes(buf[s + 16 : end])) == crc:
                return s
        return None

    def feed(self, data: bytes) -> list[RefFrame]:
        p = self.p
        buf = self.buf
        buf += data
        out: list[RefFrame] = []
        consumed = 0
        resync = False
        while consumed + 16 <= len(buf):
            msg_type, length, crc, _pad = HDR.unpack_from(buf, consumed)
            end = consumed + 16 + length
            if p.resync == "scan":
                if length > p.cap:
                    nxt = self.find_next_valid_frame(consumed + 1)
                    if nxt is not None:
                        consumed = nxt
                        continue
                    if end > len(buf):
                        break
                    resync = True
                    break
                if end > len(buf):
                    nxt = self.find_next_valid_frame(consumed + 1)
                    if nxt is not None:
                        consumed = nxt
                        continue
                    break
                payload = bytes(buf[consumed + 16 : end])
                ok = _crc(payload) == crc
                if not ok:
                    nxt = self.find_next_valid_frame(consumed + 1)
                    if nxt is not None and nxt < end:
                        consumed = nxt
                        continue
                out.append((msg_type, payload, ok))
                consumed = end
                continue
            if p.cap_check == "header" and length > p.cap:
                resync = True
                break
            if end > len(buf):
                break
            if length > p.cap:
                resync = True
                break
            payload = bytes(buf[consumed + 16 : end])
            out.append((msg_type, payload, _crc(payload) == crc))
            consumed = end
        if resync:
            buf.clear()
        else:
            del buf[:consumed]
        if p.residual_cap and len(buf) > 2 * p.cap:
            buf.clear()
        return out

    @property
    def pending(self) -> int:
        return len(self.buf)


def reference_parse(data: bytes, profile: Profile) -> list[RefFrame]:
    """Upstream's one-shot ``parse_tlv_stream``."""
    out: list[RefFrame] = []
    pos = 0
    while pos + 16 <= len(data):
        msg_type, length, crc, _pad = HDR.unpack_from(data, pos)
        if length > profile.cap:
            break
        end = pos + 16 + length
        if end > len(data):
            break
        payload = data[pos + 16 : end]
        out.append((msg_type, payload, _crc(payload) == crc))
        pos = end
    return out
