"""Real VMs: boot a kernel and a ktstr guest under QEMU and record every channel.

- ``runner``: :func:`run_vm` with :class:`VmConfig`, kernel and QEMU discovery, errors.
- ``record``: :func:`record_scenario`, a guest scenario recorded into a transcript.
- ``scx_record``: a real BPF scheduler on a sched_ext kernel (``tools/build-scx-kernel.sh``).
"""

from ktstr_proto.lazy_exports import attach_stub

__getattr__, __dir__, __all__ = attach_stub(globals())
