"""Transcripts: write, read, record, replay, and the pytest plugin built on them.

- ``io``: :class:`TranscriptReader`/:class:`TranscriptWriter` (streamed, crash-safe lines);
  ``filters``: drop channels, redact, trim.
- ``recorder``: record live ports (pyserial, QEMU chardevs); ``recorders``: named ways to
  make a transcript; ``stop_signals``: a signal ends a recording readably.
- ``replay``: :class:`Replayer` plays the guest back, answering the host as recorded;
  ``urlhandler``: the same as a pyserial ``ktstrreplay://`` URL.
- ``pytest_plugin`` and ``pytest_marker``: record once, replay in tests.
"""

from ktstr_proto.lazy_exports import attach_stub

__getattr__, __dir__, __all__ = attach_stub(globals())
