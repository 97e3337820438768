"""Guest side of the ktstr protocol: the bulk writer, console text, scenarios, initramfs.

The front door, listed in ``__init__.pyi`` (each name is imported from its submodule on
first use)::

    from ktstr_guest import GuestBulkWriter, get_scenario, synthetic_transcript
"""

from __future__ import annotations

from ktstr_proto.lazy_exports import attach_stub

__getattr__, __dir__, __all__ = attach_stub(globals())
