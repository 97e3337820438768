"""Pause the cyclic garbage collector around a loop that allocates many survivors.

A decoder that returns a million events from one call allocates a million tracked
objects that all stay alive; with collection on, each generation-2 collection during the
loop walks every event built so far, and the per-event cost grows with the call. The
events hold no reference cycles, so nothing is lost by collecting after the loop instead
(the first collection afterwards walks them once).
"""

from __future__ import annotations

import gc
from types import TracebackType

PAUSE_THRESHOLD = 64 * 1024
"""Bytes in one call above which decoders pause collection (below it the pause costs
more than it saves)."""


class gc_paused:
    """Context manager: collection off inside, the caller's setting restored after.

    Nests (an inner pause leaves collection off for the outer one) and only re-enables
    collection if it was on at entry, so a caller that disabled it keeps it disabled.
    Another thread that toggles collection meanwhile may see it re-enabled when this one
    exits: that affects only speed, never results.
    """

    __slots__ = ("_was_on",)

    def __init__(self) -> None:
        self._was_on = False

    def __enter__(self) -> None:
        self._was_on = gc.isenabled()
        if self._was_on:
            gc.disable()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._was_on:
            gc.enable()
