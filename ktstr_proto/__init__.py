"""The ktstr guest<->host protocol as data: frames, tags, profiles, payloads, channels.

No I/O. The front door, listed in ``__init__.pyi`` (each name is imported from its
submodule on first use)::

    from ktstr_proto import MsgType, build_frame, get_profile
"""

from __future__ import annotations

from .lazy_exports import attach_stub

__getattr__, __dir__, __all__ = attach_stub(globals())
