"""``ktstr-host``: the command-line front end."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ktstr_proto.errors import KtstrError
from ktstr_proto.profiles import load_profiles

from . import decode, export, fuzz, record, replay, report, scenarios, validate, vm
from .numbers import OptionError


class CliError(Exception):
    """An error the CLI reports as one line and exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ktstr-host", description="Decode, record and replay ktstr guest<->host traffic."
    )
    parser.add_argument(
        "--profiles",
        metavar="FILE.json",
        action="append",
        default=[],
        help="register extra protocol profiles from a JSON file (see README)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (decode, report, validate, replay, record, scenarios, vm, export, fuzz):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        for path in args.profiles:
            load_profiles(path)
        status: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:  # output piped into `head`: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (KtstrError, CliError, OptionError, OSError) as exc:
        print(f"ktstr-host: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ktstr-host: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
