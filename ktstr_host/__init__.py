"""Host side of the ktstr protocol: sans-IO decoders, transcripts, recorder, replayer."""

from __future__ import annotations


def _register_url_handlers() -> None:
    """Make ``serial.serial_for_url`` understand ``ktstrreplay://``."""
    import serial

    packages: list[str] = serial.protocol_handler_packages
    if "ktstr_host.urlhandler" not in packages:
        packages.append("ktstr_host.urlhandler")


_register_url_handlers()
