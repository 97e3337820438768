"""CRC-32 (IEEE 802.3, as crc32fast and zlib compute it) over frame payloads.

Two interchangeable backends compute the same function: the standard library's
``zlib.crc32`` and, when installed, ISA-L's ``isal.isal_zlib.crc32`` (about 13x faster on
this project's benchmark machine; see README). ``crc32`` is the fastest one available;
set ``KTSTR_CRC=zlib`` in the environment to force the standard library.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Callable

from typing_extensions import Buffer

Crc32 = Callable[[Buffer], int]

crc32_stdlib: Crc32 = zlib.crc32


def _load_isal() -> Crc32 | None:
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - isal is a declared dependency
        return None
    fn: Crc32 = isal_zlib.crc32
    return fn


crc32_isal: Crc32 | None = _load_isal()

BACKENDS: dict[str, Crc32] = {"zlib": crc32_stdlib}
if crc32_isal is not None:
    BACKENDS["isal"] = crc32_isal


def select_backend(name: str | None = None) -> Crc32:
    """Return a CRC-32 backend by name (``"zlib"``, ``"isal"``) or the fastest one."""
    if name is None:
        name = os.environ.get("KTSTR_CRC") or ("isal" if "isal" in BACKENDS else "zlib")
    try:
        return BACKENDS[name]
    except KeyError:
        from .errors import UsageError

        raise UsageError(
            f"unknown CRC backend {name!r}; available: {', '.join(sorted(BACKENDS))}"
        ) from None


def _default_backend() -> Crc32:
    """The backend named by ``KTSTR_CRC`` if valid, else the fastest (with a warning)."""
    try:
        return select_backend()
    except ValueError as exc:
        import warnings

        warnings.warn(f"{exc}; using the default", stacklevel=2)
        os.environ.pop("KTSTR_CRC", None)
        return select_backend()


crc32: Crc32 = _default_backend()


# ---- CRC-32 algebra: the CRC of a window from two prefix CRCs --------------------------
#
# CRC-32 is affine in its input, so for any bytes A and B (zlib's crc32_combine):
#     crc(A + B) == shift(crc(A), len(B)) ^ crc(B)
# where shift(c, n) multiplies c by x^(8n) modulo the (reflected) polynomial. Hence the
# CRC of a window X[a:b] is crc(X[:b]) ^ shift(crc(X[:a]), b - a): two running prefix
# CRCs give the CRC of every window of a fixed length at O(1) cost each.

_POLY = 0xEDB88320  # reflected IEEE 802.3 polynomial


def _multmodp(a: int, b: int) -> int:
    """``a * b`` modulo the polynomial (reflected bit order, as in zlib)."""
    m = 1 << 31
    p = 0
    while a:
        if a & m:
            p ^= b
            a ^= m
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


_X2N = [1 << 30]  # x^(2^k) modulo the polynomial: x^1, x^2, x^4, ...
for _ in range(31):
    _X2N.append(_multmodp(_X2N[-1], _X2N[-1]))


def _x8n(n: int) -> int:
    """x^(8n) modulo the polynomial."""
    p = 1 << 31  # x^0
    k = 3
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return p


@functools.lru_cache(maxsize=64)
def crc32_shifter(n: int) -> Callable[[int], int]:
    """``shift(c)``: what CRC value ``c`` contributes after ``n`` more bytes, so that
    ``crc32(a + b) == crc32_shifter(len(b))(crc32(a)) ^ crc32(b)``. O(1) per call."""
    if n < 0:
        raise ValueError("n must be >= 0")
    xn = _x8n(n)
    t0, t1, t2, t3 = ([_multmodp(xn, i << (8 * k)) for i in range(256)] for k in range(4))

    def shift(c: int) -> int:
        return t0[c & 0xFF] ^ t1[(c >> 8) & 0xFF] ^ t2[(c >> 16) & 0xFF] ^ t3[c >> 24]

    return shift
