"""Structure-aware fuzzing of the guest->host protocol: hostile variants of valid input.

Mutators take a seed (or a ``random.Random``) and return a :class:`Mutant`: the damaged
bytes, how they are cut into reads, and a :class:`Mutation` label per damage, so that a
decoder failure names its cause (``crc-flip (frame 3 (EXIT) at offset 120: ...)``).

* :func:`mutate_bulk`: bulk TLV streams (:data:`BULK_MUTATIONS`);
* :func:`mutate_serial`: COM1/COM2 noise (:data:`SERIAL_MUTATIONS`);
* :func:`damage_transcript`: transcript files (:data:`TRANSCRIPT_MUTATIONS`);
* hypothesis strategies: :func:`mutated_bulk_streams`, :func:`serial_noise`,
  :func:`damaged_transcript_lines`.

The host-side harnesses that feed these to the decoders live in ``ktstr_host.fuzzing``;
see ``docs/fuzzing.md``.
"""

from __future__ import annotations

from .bulk import BULK_MUTATIONS, mutate_bulk, sample_bulk_streams, segments
from .mutation import Mutant, Mutation, cuts_of, split_at
from .serial import SERIAL_MUTATIONS, mutate_serial, sample_serial_streams
from .strategies import damaged_transcript_lines, mutated_bulk_streams, serial_noise
from .transcript import (
    TRANSCRIPT_MUTATIONS,
    damage_transcript,
    sample_transcript,
    transcript_lines,
)

__all__ = [
    "BULK_MUTATIONS",
    "SERIAL_MUTATIONS",
    "TRANSCRIPT_MUTATIONS",
    "Mutant",
    "Mutation",
    "cuts_of",
    "damage_transcript",
    "damaged_transcript_lines",
    "mutate_bulk",
    "mutate_serial",
    "mutated_bulk_streams",
    "sample_bulk_streams",
    "sample_serial_streams",
    "sample_transcript",
    "segments",
    "serial_noise",
    "split_at",
    "transcript_lines",
]
