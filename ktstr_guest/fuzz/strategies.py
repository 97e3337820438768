"""Hypothesis strategies over the mutators: ``@given(mutated_bulk_streams())``.

Each strategy draws a base input and a hypothesis-controlled ``Random`` (so failing
examples shrink towards fewer, simpler mutations) and yields a labelled
:class:`~ktstr_guest.fuzz.mutation.Mutant`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from hypothesis import reject
from hypothesis import strategies as st

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import Transcript

from .bulk import DEFAULT_CAP, mutate_bulk, sample_bulk_streams
from .mutation import Mutant
from .serial import mutate_serial, sample_serial_streams
from .transcript import damage_transcript, sample_transcript


@st.composite
def _mutants(
    draw: st.DrawFn,
    bases: Sequence[object],
    apply: Callable[[object, random.Random, int], Mutant],
    max_mutations: int,
) -> Mutant:
    base = draw(st.sampled_from(bases))
    count = draw(st.integers(1, max_mutations))
    rnd = draw(st.randoms(use_true_random=False))
    try:
        return apply(base, rnd, count)
    except UsageError:  # the chosen kinds do not apply to this base
        reject()


def _bases(given: Sequence[object] | None, default: Sequence[object]) -> list[object]:
    bases = list(default if given is None else given)
    if not bases:
        raise UsageError("need at least one base input")
    return bases


def mutated_bulk_streams(
    base_streams: Sequence[bytes] | None = None,
    *,
    cap: int = DEFAULT_CAP,
    max_mutations: int = 3,
    kinds: Sequence[str] | None = None,
) -> st.SearchStrategy[Mutant]:
    """Hostile variants of bulk streams (default: :func:`sample_bulk_streams`)."""
    bases = _bases(base_streams, list(sample_bulk_streams().values()))

    def apply(base: object, rnd: random.Random, n: int) -> Mutant:
        assert isinstance(base, bytes)
        return mutate_bulk(base, rnd, cap=cap, count=n, kinds=kinds)

    return _mutants(bases, apply, max_mutations)


def serial_noise(
    base_streams: Sequence[bytes] | None = None,
    *,
    max_mutations: int = 3,
    kinds: Sequence[str] | None = None,
) -> st.SearchStrategy[Mutant]:
    """Noisy variants of serial captures (default: :func:`sample_serial_streams`)."""
    bases = _bases(base_streams, list(sample_serial_streams().values()))

    def apply(base: object, rnd: random.Random, n: int) -> Mutant:
        assert isinstance(base, bytes)
        return mutate_serial(base, rnd, count=n, kinds=kinds)

    return _mutants(bases, apply, max_mutations)


def damaged_transcript_lines(
    transcripts: Sequence[Transcript | Sequence[str]] | None = None,
    *,
    max_mutations: int = 2,
    kinds: Sequence[str] | None = None,
) -> st.SearchStrategy[Mutant]:
    """Damaged transcript files (``Mutant.data`` is the file's bytes); default base:
    :func:`sample_transcript`."""
    bases = _bases(transcripts, [sample_transcript()])

    def apply(base: object, rnd: random.Random, n: int) -> Mutant:
        assert isinstance(base, Transcript | Sequence)
        return damage_transcript(base, rnd, count=n, kinds=kinds)

    return _mutants(bases, apply, max_mutations)
