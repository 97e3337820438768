"""Shared pieces of the transcript exporters: lanes and safe names (outputs: ``output_files``)."""

from __future__ import annotations

import re

from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import DIRECTIONS, Direction, Header

from ..output_files import OutputExistsError, atomic_output, check_absent

__all__ = ["Lane", "OutputExistsError", "atomic_output", "check_absent", "lanes"]

Lane = tuple[str, Direction]
"""One channel in one direction: ``("bulk", "g2h")``."""

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def lanes(header: Header) -> list[Lane]:
    """Every (channel, direction) the channel table allows, in table order."""
    return [(ch, d) for ch, spec in header.channels.items() for d in DIRECTIONS if spec.allows(d)]


def safe_name(channel: str) -> str:
    """``channel`` when it is usable as a file name component; UsageError otherwise."""
    if not _SAFE_NAME.fullmatch(channel):
        raise UsageError(f"channel {channel!r} cannot be used in a file name")
    return channel
