"""CRC-32 (IEEE 802.3, as crc32fast and zlib compute it) over frame payloads.

Two interchangeable backends compute the same function: the standard library's
``zlib.crc32`` and, when installed, ISA-L's ``isal.isal_zlib.crc32`` (about 13x faster on
this project's benchmark machine; see README). ``crc32`` is the fastest one available;
set ``KTSTR_CRC=zlib`` in the environment to force the standard library.
"""

from __future__ import annotations

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
