"""One run: decoders per channel feeding an incremental result (events in, result out).

- ``run_session``: :class:`RunSession` (``feed(channel, data)``, ``mark``, ``close``,
  ``result``); ``live``: its one-line-per-event display for ``record`` and ``vm run``.
- ``result``: :class:`RunResult`, the verdict with its provenance.
- ``result_builder`` (with ``result_bulk``, ``result_serial``, ``result_decide``): upstream's
  rules, applied event by event in bounded memory; ``build_run_result`` for a whole run.
- ``run_input``: raw capture files as a run; ``full_output``: ``report --full DIR``.
"""

from ktstr_proto.lazy_exports import attach_stub

__getattr__, __dir__, __all__ = attach_stub(globals())
