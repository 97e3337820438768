"""Front door of ktstr_guest (the list ``ktstr_guest/__init__.py`` loads lazily)."""

from .bulk_writer import GuestBulkWriter, HostReplyWriter
from .console import ConsoleWrite, onlcr, tty_write
from .initramfs import (
    DieMidFrame,
    GuestScript,
    Hang,
    OnWake,
    PowerOff,
    Sleep,
    WaitWake,
    Write,
    build_initramfs,
)
from .scenarios import SCENARIOS, Scenario, get_scenario, synthetic_transcript

__all__ = [
    "SCENARIOS",
    "ConsoleWrite",
    "DieMidFrame",
    "GuestBulkWriter",
    "GuestScript",
    "Hang",
    "HostReplyWriter",
    "OnWake",
    "PowerOff",
    "Scenario",
    "Sleep",
    "WaitWake",
    "Write",
    "build_initramfs",
    "get_scenario",
    "onlcr",
    "synthetic_transcript",
    "tty_write",
]
