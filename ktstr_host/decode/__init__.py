"""Decoding: bytes in, typed events out (sans-IO: no pyserial, no QEMU).

- ``bulk``: :class:`BulkDecoder` and the one-shot ``parse_tlv_stream``/``scan_tlv_stream``
  (``forward_scan``: the ``ktstr-0.44`` resync); ``events``: :class:`Frame`, :class:`Dropped`.
- ``serial``: :class:`SerialDecoder` for COM1/COM2, its line, dump and panic events.
- ``extractors``, ``kmsg``, ``output_scan``: upstream's scans over console text and output.
- ``bounded_text``, ``describe``, ``hexdump``, ``gc_pause``: the helpers they share.
"""

from ktstr_proto.lazy_exports import attach_stub

__getattr__, __dir__, __all__ = attach_stub(globals())
