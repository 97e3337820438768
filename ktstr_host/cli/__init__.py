"""``ktstr-host``, the command line: one module per command.

``decode``, ``report``, ``validate``, ``replay``, ``record`` (with ``import``),
``scenarios``, ``vm``, ``export``, ``fuzz`` and ``wireshark``; ``app`` builds the parser and
runs a command (``main``); ``inputs``, ``numbers`` and ``terminal`` are shared by them.
"""

from __future__ import annotations

from .app import CliError, build_parser, main

__all__ = ["CliError", "build_parser", "main"]
