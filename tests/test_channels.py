"""The channel table (``ktstr_proto.channels``) and what the package derives from it."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from ktstr_guest import initramfs
from ktstr_host.cli import record
from ktstr_host.vm import runner as vm
from ktstr_proto import channels, serial
from ktstr_proto.errors import UsageError
from ktstr_proto.transcript import STANDARD_CHANNELS, ChannelSpec


def test_literal_type_names_exactly_the_table() -> None:
    assert get_args(channels.ChannelName) == channels.NAMES
    assert channels.NAMES == ("bulk", "com1", "com2", "hvc0", "stats")


def test_each_row_is_wired_once() -> None:
    uarts = [c.uart for c in channels.CHANNELS if c.uart is not None]
    ports = [c.virtio_port for c in channels.CHANNELS if c.virtio_port is not None]
    assert sorted(uarts) == [0, 1] and sorted(ports) == [0, 1, 2]
    for c in channels.CHANNELS:
        assert (c.uart is None) != (c.virtio_port is None), c.name
        if c.uart is not None:
            assert c.device == f"/dev/ttyS{c.uart}" and not c.port_name
        elif c.found_by_name:
            assert c.device == f"/dev/vport0p{c.virtio_port}" and c.port_name


def test_decoders() -> None:
    assert channels.names_read_by("bulk") == ("bulk",)
    assert channels.names_read_by("serial") == ("com1", "com2") == serial.CHANNELS
    assert get_args(serial.SerialChannel) == serial.CHANNELS
    assert channels.names_read_by("raw") == ("hvc0", "stats")  # stats: recorded, never decoded


def test_unknown_channel_is_a_usage_error() -> None:
    assert channels.channel_info("stats").port_name == "ktstr-stats"
    with pytest.raises(UsageError, match="unknown channel 'com3'"):
        channels.channel_info("com3")
    with pytest.raises(UsageError, match="channel must be 'com1' or 'com2', got 'hvc0'"):
        serial.check_channel("hvc0")


def test_transcript_header_table() -> None:
    assert {
        "bulk": ChannelSpec("binary", "both", "virtio-console port 1 (/dev/vport0p1)"),
        "com1": ChannelSpec("text", "g2h", "16550 COM1 (ttyS0)"),
        "com2": ChannelSpec("text", "g2h", "16550 COM2 (ttyS1)"),
        "hvc0": ChannelSpec("binary", "both", "virtio-console port 0 (hvc0)"),
        "stats": ChannelSpec("binary", "both", "virtio-console port 2 (/dev/vport0p2)"),
    } == STANDARD_CHANNELS
    assert list(STANDARD_CHANNELS) == ["bulk", "com1", "com2", "hvc0", "stats"]


def test_guest_devices() -> None:
    assert initramfs.PORT_NAMES == {"bulk": "ktstr-bulk", "stats": "ktstr-stats"}
    assert initramfs.SERIAL_DEVICES == {
        "com1": "/dev/ttyS0",
        "com2": "/dev/ttyS1",
        "hvc0": "/dev/hvc0",
    }
    assert initramfs.CONSOLE_PORT_NAME == "ktstr-console"
    with pytest.raises(UsageError, match="unknown channel"):
        initramfs.Write("ttyS0", b"")  # type: ignore[arg-type]


@pytest.mark.parametrize("stats", [True, False])
def test_qemu_wiring(stats: bool) -> None:
    cfg = vm.VmConfig(Path("/k"), b"", stats_port=stats)
    cmd = vm.qemu_command(cfg, Path("qemu"), Path("/r"), Path("/i"), Path("/s"))
    wiring = cmd[cmd.index("-append") + 2 :]
    want = [
        *("-chardev", "file,id=com1,path=/r/com1.out", "-serial", "chardev:com1"),
        *("-chardev", "file,id=com2,path=/r/com2.out", "-serial", "chardev:com2"),
        *("-device", "virtio-serial-pci,id=vser0"),
        *("-chardev", "socket,id=hvc0,path=/s"),
        *("-device", "virtconsole,bus=vser0.0,nr=0,chardev=hvc0,name=ktstr-console"),
        *("-chardev", "file,id=bulk,path=/r/bulk.out"),
        *("-device", "virtserialport,bus=vser0.0,nr=1,chardev=bulk,name=ktstr-bulk"),
    ]
    if stats:
        want += [
            *("-chardev", "file,id=stats,path=/r/stats.out"),
            *("-device", "virtserialport,bus=vser0.0,nr=2,chardev=stats,name=ktstr-stats"),
        ]
    assert wiring == want
    assert vm.CHANNELS == ("com1", "com2", "hvc0", "bulk", "stats")
    assert vm.FILE_CHANNELS == ("com1", "com2", "bulk", "stats")


def test_record_options_cover_every_channel() -> None:
    assert record.CHANNELS == channels.NAMES
