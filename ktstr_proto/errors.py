"""Exception hierarchy.

Two families, as in h11/wsproto: :class:`UsageError` means the caller used the API
wrongly (a bug in the calling code); :class:`PeerError` subclasses mean the bytes a
guest or host sent are malformed. Streaming decoders never raise peer errors: they
report them as events. Explicit decode functions (``decode_*``) raise them.
"""

from __future__ import annotations


class KtstrError(Exception):
    """Base class of every error raised by ktstr-py."""


class UsageError(KtstrError, ValueError):
    """The API was called wrongly (bad argument type or value, unknown profile, ...)."""


class ProfileError(UsageError):
    """An unknown or inconsistent protocol profile."""


class PeerError(KtstrError, ValueError):
    """Bytes produced by the other side are malformed."""


class PayloadError(PeerError):
    """A payload does not match its layout: wrong size, invalid value, bad encoding.

    ``field`` names the offending field when known, ``offset`` its byte offset in the
    payload.
    """

    def __init__(self, message: str, *, field: str | None = None, offset: int | None = None):
        where = []
        if field is not None:
            where.append(f"field {field!r}")
        if offset is not None:
            where.append(f"offset {offset}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.field = field
        self.offset = offset
