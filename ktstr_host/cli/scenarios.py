"""``ktstr-host scenarios`` and ``ktstr-host synth``: the built-in guest runs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ktstr_guest.scenarios import SCENARIOS, get_scenario, synthetic_transcript

from ..output_files import STDOUT
from ..transcripts.io import save_transcript


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("scenarios", help="list the built-in scenarios")
    p.set_defaults(run=run_list)
    q: argparse.ArgumentParser = sub.add_parser(
        "synth", help="write the synthetic transcript of a scenario"
    )
    q.add_argument("scenario", help="a name from `ktstr-host scenarios`")
    q.add_argument("--out", required=True, metavar="T.jsonl", help="'-' writes stdout")
    q.add_argument("--force", action="store_true", help="replace an existing output file")
    q.set_defaults(run=run_synth)


def run_list(args: argparse.Namespace) -> int:
    for name, make in SCENARIOS.items():
        s = make()
        vm = "" if s.vm else "  (synthetic only)"
        sys.stdout.write(f"{name:<28} {s.profile:<12} {s.description}{vm}\n")
    return 0


def run_synth(args: argparse.Namespace) -> int:
    scenario = get_scenario(args.scenario)
    transcript = synthetic_transcript(scenario)
    save_transcript(args.out, transcript, force=args.force)
    note = sys.stderr if args.out == STDOUT else sys.stdout
    note.write(f"wrote {args.out}: {len(transcript.events)} events\n")
    return 0
