"""Labelled mutations: what a fuzzer did to an input, so a failure names its cause."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ktstr_proto.errors import UsageError


@dataclass(frozen=True, slots=True)
class Mutation:
    """One damage applied to an input: a kind (``"crc-flip"``) and where/how."""

    name: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.name} ({self.detail})" if self.detail else self.name


@dataclass(frozen=True, slots=True)
class Mutant:
    """A hostile variant of an input: its bytes, how they are delivered, and why.

    ``cuts`` are the stream offsets where one read ends and the next begins (sorted,
    strictly inside the data); no cuts means the bytes arrive in one read. Offsets in
    the mutation details are those of the stream as it stood when the mutation was
    applied; delivery mutations (read splits) are applied last, on the final bytes.
    """

    data: bytes
    mutations: tuple[Mutation, ...] = ()
    cuts: tuple[int, ...] = ()

    @property
    def reads(self) -> list[bytes]:
        """The data as the reads a decoder sees (empty data: no read at all)."""
        return split_at(self.data, self.cuts)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.mutations)

    @property
    def label(self) -> str:
        """Every mutation, in order, on one line."""
        return "; ".join(str(m) for m in self.mutations) or "unmutated"


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (out-of-range and repeated cuts are ignored)."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def cuts_of(reads: Iterable[bytes]) -> tuple[int, ...]:
    """The cut offsets of a list of reads (inverse of :func:`split_at`)."""
    out: list[int] = []
    pos = 0
    for r in reads:
        if r and pos:
            out.append(pos)
        pos += len(r)
    return tuple(out)


def as_rng(seed: random.Random | int) -> random.Random:
    """A ``random.Random`` from a seed, or the instance itself (e.g. hypothesis's)."""
    if isinstance(seed, random.Random):
        return seed
    if isinstance(seed, int) and not isinstance(seed, bool):
        return random.Random(seed)
    raise UsageError(f"a seed is an int or a random.Random, got {type(seed).__name__}")


def check_kinds(kinds: Iterable[str] | None, known: Iterable[str], what: str) -> list[str]:
    """Validate a user's selection of mutation kinds (``None``: all of them)."""
    known_list = list(known)
    if kinds is None:
        return known_list
    chosen = list(kinds)
    unknown = [k for k in chosen if k not in known_list]
    if unknown or not chosen:
        raise UsageError(
            f"unknown {what} mutation {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(known_list)}"
        )
    return chosen


C = TypeVar("C")
MutationFn = Callable[[C], "Mutation | None"]


def apply_kinds(
    ctx: C,
    rng: random.Random,
    *,
    chosen: Sequence[str],
    count: int | None,
    content: Mapping[str, MutationFn[C]],
    delivery: Mapping[str, MutationFn[C]],
    explicit: bool,
    fallback: MutationFn[C],
) -> list[Mutation]:
    """Pick ``count`` kinds from ``chosen`` (default 1 to 3) and apply them to ``ctx``,
    content kinds before delivery kinds. An inapplicable kind is replaced by another of
    its class; if nothing applied, ``fallback`` runs (or, when the caller restricted the
    kinds, :class:`UsageError` is raised)."""
    n = rng.randint(1, 3) if count is None else count
    if n < 0:
        raise UsageError("count must be >= 0")
    picks = [rng.choice(list(chosen)) for _ in range(n)]
    picks.sort(key=lambda k: k in delivery)
    done: list[Mutation] = []
    for kind in picks:
        table = delivery if kind in delivery else content
        others = [k for k in chosen if k in table and k != kind]
        rng.shuffle(others)
        for k in (kind, *others):
            m = table[k](ctx)
            if m is not None:
                done.append(m)
                break
    if n and not done:
        if explicit:
            raise UsageError(f"none of {', '.join(chosen)} applies to this input")
        m = fallback(ctx)
        if m is not None:
            done.append(m)
    return done
