"""``ktstr-host wireshark``: where the packaged dissector is, and installing it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ktstr_proto.errors import UsageError

from ..export.common import OutputExistsError
from ..export.wireshark import DISSECTOR, install, plugin_dir


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "wireshark",
        help="the Wireshark/tshark dissector for exported pcapng files",
        description="Print the path of the packaged Lua dissector (--path) or copy it into "
        f"the personal Wireshark plugin folder (--install; default {plugin_dir()}). "
        "Try it without installing: tshark -X lua_script:$(ktstr-host wireshark --path) "
        "-r run.pcapng -2",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--path", action="store_true", help="print where the dissector is")
    what.add_argument("--install", action="store_true", help="copy it to the plugin folder")
    p.add_argument("--dir", metavar="DIR", help="install into DIR instead")
    p.add_argument("--force", action="store_true", help="replace an existing ktstr.lua")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.path:
        print(DISSECTOR)
        return 0
    try:
        path = install(Path(args.dir) if args.dir else None, overwrite=args.force)
    except OutputExistsError as exc:
        raise UsageError(f"{exc} (use --force to replace it)") from None
    print(f"installed {path}")
    return 0
