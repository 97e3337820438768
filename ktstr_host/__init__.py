"""Host side of the ktstr protocol, grouped by the way data flows::

    decode/  (bytes -> events)  <-  session/  (events -> RunResult)
        <-  transcripts/, vm/, export/, fuzzing/  <-  cli/

``decode``: the sans-IO bulk and serial decoders; ``session``: :class:`RunSession` and the
run result; ``transcripts``: files, recorder, replayer, pytest plugin; ``vm``: QEMU runs;
``export``: raw, pcapng, Wireshark, HTML; ``fuzzing``: harnesses and reference models;
``cli``: ``ktstr-host``. The front door, listed in ``__init__.pyi`` (each name is imported
from its submodule on first use, so importing a decoder loads neither pyserial nor the QEMU
runner)::

    from ktstr_host import RunSession, BulkDecoder, SerialDecoder, RunResult, Replayer

Importing the package also makes ``serial.serial_for_url("ktstrreplay://...")`` work,
without importing pyserial itself (see :mod:`ktstr_host.transcripts.urlhandler`), and keeps
the flat module paths of earlier releases importable (:mod:`ktstr_host.moved_modules`).
"""

from __future__ import annotations

from ktstr_proto.lazy_exports import attach_stub

from . import moved_modules
from .transcripts.urlhandler import register_on_import

__getattr__, __dir__, __all__ = attach_stub(globals())

moved_modules.install()
register_on_import()
