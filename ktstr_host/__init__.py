"""Host side of the ktstr protocol: sans-IO decoders, run results, transcripts, recorder,
replayer, exports and the QEMU runner.

The front door, listed in ``__init__.pyi`` (each name is imported from its submodule on
first use, so importing a decoder loads neither pyserial nor the QEMU runner)::

    from ktstr_host import RunSession, BulkDecoder, SerialDecoder, RunResult, Replayer

Importing the package also makes ``serial.serial_for_url("ktstrreplay://...")`` work,
without importing pyserial itself (see :mod:`ktstr_host.urlhandler`).
"""

from __future__ import annotations

from ktstr_proto.lazy_exports import attach_stub

from .urlhandler import register_on_import

__getattr__, __dir__, __all__ = attach_stub(globals())

register_on_import()
