"""The ``ktstr-host`` parser and ``main``: one line and exit status 2 for any error."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from ktstr_proto.errors import KtstrError
from ktstr_proto.profiles import load_profiles

from ..output_files import OutputExistsError
from . import decode, export, fuzz, record, replay, report, scenarios, validate, vm
from . import wireshark as wireshark_cmd
from .numbers import OptionError
from .terminal import guard_terminal


class CliError(Exception):
    """An error the CLI reports as one line and exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ktstr-host", description="Decode, record and replay ktstr guest<->host traffic."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--profiles",
        metavar="FILE.json",
        action="append",
        default=[],
        help="register extra protocol profiles from a JSON file (see README)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (decode, report, validate, replay, record, scenarios, vm, export, fuzz):
        module.register(sub)
    wireshark_cmd.register(sub)
    return parser


def _version() -> str:
    try:
        return version("ktstr-py")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except OptionError as exc:  # an out-of-range number: one line, like any other error
        print(f"ktstr-host: error: {exc}", file=sys.stderr)
        return 2
    if args.command is None:  # bare `ktstr-host`: show what it can do
        parser.print_help()
        return 2
    with guard_terminal():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        for path in args.profiles:
            load_profiles(path)
        status: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:  # output piped into `head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OutputExistsError as exc:
        print(f"ktstr-host: error: {exc} (use --force to replace it)", file=sys.stderr)
        return 2
    except (KtstrError, CliError, OptionError, OSError) as exc:
        print(f"ktstr-host: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ktstr-host: interrupted", file=sys.stderr)
        return 130
    return status
