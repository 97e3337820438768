"""The flat module paths of ktstr_host before its regrouping, still importable.

``ktstr_host`` was a flat package (``ktstr_host.bulk``, ``ktstr_host.transcript_io``, ...);
its modules now live in ``decode/``, ``session/``, ``transcripts/``, ``vm/`` and
``export/``. An old path imports as the very module of its new path (same object, so
``isinstance`` checks and pickles made before keep working) and warns once with a
:class:`DeprecationWarning` naming the new path. ``ktstr_host.session`` and
``ktstr_host.vm`` are now packages whose front doors export the old modules' main names.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

MOVED = {
    "bounded_text": "decode.bounded_text",
    "bulk": "decode.bulk",
    "describe": "decode.describe",
    "events": "decode.events",
    "extractors": "decode.extractors",
    "forward_scan": "decode.forward_scan",
    "gc_pause": "decode.gc_pause",
    "hexdump": "decode.hexdump",
    "kmsg": "decode.kmsg",
    "output_scan": "decode.output_scan",
    "serial": "decode.serial",
    "full_output": "session.full_output",
    "live": "session.live",
    "result": "session.result",
    "result_builder": "session.result_builder",
    "result_bulk": "session.result_bulk",
    "result_decide": "session.result_decide",
    "result_serial": "session.result_serial",
    "run_input": "session.run_input",
    "pytest_marker": "transcripts.pytest_marker",
    "pytest_plugin": "transcripts.pytest_plugin",
    "recorder": "transcripts.recorder",
    "recorders": "transcripts.recorders",
    "replay": "transcripts.replay",
    "stop_signals": "transcripts.stop_signals",
    "transcript_filters": "transcripts.filters",
    "transcript_io": "transcripts.io",
    "urlhandler": "transcripts.urlhandler",
    "scx_record": "vm.scx_record",
    "vm_record": "vm.record",
    "export_common": "export.common",
    "export_html": "export.html",
    "export_pcapng": "export.pcapng",
    "export_raw": "export.raw",
    "pcapng_read": "export.pcapng_read",
    "wireshark": "export.wireshark",
}
"""Old module under ``ktstr_host`` -> its module now (relative to ``ktstr_host``)."""

PACKAGE = __name__.rpartition(".")[0]


def new_name(old: str) -> str | None:
    """The current full name of the old full module name ``old`` (or None)."""
    prefix = PACKAGE + "."
    if not old.startswith(prefix):
        return None
    head, dot, rest = old[len(prefix) :].partition(".")
    moved = MOVED.get(head)
    return None if moved is None else f"{prefix}{moved}{dot}{rest}"


class _Alias(importlib.abc.Loader):
    """Loads an old name as the module of its new name (imported once, under that name)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: ModuleSpec | None = None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} moved to {self.target}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system set the alias's spec on the shared module: give it back its own.
        module.__spec__ = self._spec


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """``sys.meta_path`` finder answering only for the old module names in :data:`MOVED`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        new = new_name(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once): a submodule of an old package
    name (``ktstr_host.urlhandler.protocol_ktstrreplay``) must resolve to the loaded module,
    not be found again on disk under its old name."""
    if not any(isinstance(f, MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModuleFinder())
