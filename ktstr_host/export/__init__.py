"""Exports of a transcript for other tools.

- ``raw``: one byte stream per channel and direction; ``pcapng``: Wireshark captures
  (``pcapng_read``: a strict reader that checks them); ``wireshark``: the Lua dissector.
- ``html``: the self-contained timeline page of ``report --html``.
- ``common``: lanes and safe names shared by the exporters.
"""

from ktstr_proto.lazy_exports import attach_stub

__getattr__, __dir__, __all__ = attach_stub(globals())
