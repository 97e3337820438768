"""The channels between a ktstr guest and its host, as one table (serial.md §1, bulk.md §1).

Every module that names, lists, wires or decodes a channel reads it from :data:`CHANNELS`:
the transcript header's standard channel table, the recorder and ``import`` options, the
QEMU wiring, the guest initramfs, the dissector and the HTML timeline. Table order is the
transcript header's order.

The virtio-console device has three ports: port 0 is the console (``/dev/hvc0``, its
host-to-guest bytes are single wake bytes), port 1 carries the bulk TLV stream and port 2
relays scheduler statistics (raw bytes, no TLV; recorded, never decoded). The guest finds
ports 1 and up by name; their ``/dev/vport0pN`` number is only what QEMU gives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

from .errors import UsageError

ChannelName: TypeAlias = Literal["bulk", "com1", "com2", "hvc0", "stats"]
ChannelKind: TypeAlias = Literal["binary", "text"]
"""How a transcript stores the channel's bytes by default: text lines or opaque bytes."""
ChannelDirection: TypeAlias = Literal["g2h", "h2g", "both"]
DecoderName: TypeAlias = Literal["bulk", "serial", "raw"]
"""Which host decoder reads the channel's guest-to-host bytes (``raw``: none)."""

BULK: Final = "bulk"
COM1: Final = "com1"
COM2: Final = "com2"
HVC0: Final = "hvc0"
STATS: Final = "stats"

CONSOLE_PORT: Final = 0
"""The virtio-console port that is the guest's ``/dev/hvc0``."""
WAKE_CHANNEL: Final = HVC0
"""The channel whose host-to-guest bytes are wake bytes (``ktstr_proto.serial.WakeByte``)."""


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One row of the channel table."""

    name: ChannelName
    kind: ChannelKind
    direction: ChannelDirection
    device: str
    """The guest's device node."""
    summary: str
    """One line for people; a transcript header's ``device`` field."""
    decoder: DecoderName
    uart: int | None = None
    """Index of the 16550 UART (``ttyS<uart>``, QEMU's n-th ``-serial``), if one."""
    virtio_port: int | None = None
    """virtio-console port number (QEMU's ``nr=``), if one."""
    port_name: str = ""
    """virtio port name (QEMU's ``name=``), what the guest looks a port up by."""

    @property
    def found_by_name(self) -> bool:
        """A virtio port the guest opens through its name, not a fixed device node."""
        return self.virtio_port is not None and self.virtio_port != CONSOLE_PORT


CHANNELS: tuple[ChannelInfo, ...] = (
    ChannelInfo(
        BULK,
        "binary",
        "both",
        "/dev/vport0p1",
        "virtio-console port 1 (/dev/vport0p1)",
        "bulk",
        virtio_port=1,
        port_name="ktstr-bulk",
    ),
    ChannelInfo(COM1, "text", "g2h", "/dev/ttyS0", "16550 COM1 (ttyS0)", "serial", uart=0),
    ChannelInfo(COM2, "text", "g2h", "/dev/ttyS1", "16550 COM2 (ttyS1)", "serial", uart=1),
    ChannelInfo(
        HVC0,
        "binary",
        "both",
        "/dev/hvc0",
        "virtio-console port 0 (hvc0)",
        "raw",
        virtio_port=CONSOLE_PORT,
        port_name="ktstr-console",
    ),
    ChannelInfo(
        STATS,
        "binary",
        "both",
        "/dev/vport0p2",
        "virtio-console port 2 (/dev/vport0p2)",
        "raw",
        virtio_port=2,
        port_name="ktstr-stats",
    ),
)

BY_NAME: Mapping[str, ChannelInfo] = MappingProxyType({c.name: c for c in CHANNELS})
NAMES: tuple[ChannelName, ...] = tuple(c.name for c in CHANNELS)


def channel_info(name: str) -> ChannelInfo:
    """The row of channel ``name``; :class:`UsageError` for a name not in the table."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise UsageError(f"unknown channel {name!r} (known: {', '.join(NAMES)})") from None


def names_read_by(decoder: DecoderName) -> tuple[ChannelName, ...]:
    """Channels whose guest output ``decoder`` reads, in table order."""
    return tuple(c.name for c in CHANNELS if c.decoder == decoder)


def qemu_order() -> tuple[ChannelInfo, ...]:
    """The channels as QEMU is wired: UARTs by index, then virtio ports by number."""
    uarts = sorted((c for c in CHANNELS if c.uart is not None), key=lambda c: c.uart or 0)
    ports = sorted(
        (c for c in CHANNELS if c.virtio_port is not None), key=lambda c: c.virtio_port or 0
    )
    return (*uarts, *ports)
