"""pyserial URL handlers of ktstr-py (``ktstrreplay://``), registered without importing pyserial.

``import ktstr_host`` calls :func:`register_on_import`: if pyserial is already imported the
handler package is added to ``serial.protocol_handler_packages`` at once, otherwise a one-shot
import hook adds it right after pyserial's own import. So ``import ktstr_host`` followed by
``serial.serial_for_url("ktstrreplay://...")`` works in either order, while importing a
sans-IO decoder (``ktstr_host.decode.bulk``) does not load pyserial.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec

PACKAGE = __name__
SERIAL = "serial"


def register(serial_module: ModuleType) -> None:
    """Add this package to pyserial's URL handler packages (once)."""
    packages = getattr(serial_module, "protocol_handler_packages", None)
    if isinstance(packages, list) and PACKAGE not in packages:
        packages.append(PACKAGE)


class _RegisteringLoader:
    """Runs pyserial's own loader, then registers; puts that loader back on the module."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        register(module)


class _SerialImportHook:
    """A ``sys.meta_path`` finder that leaves at pyserial's import and wraps its loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != SERIAL:
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:  # another thread's import of pyserial got here first
            return None
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(fullname, path, target) if find_spec is not None else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _RegisteringLoader(spec.loader)
                return spec  # type: ignore[no-any-return]
        return None


def register_on_import() -> None:
    """Register now if pyserial is imported, else as soon as it is."""
    if SERIAL not in sys.modules and not any(
        isinstance(f, _SerialImportHook) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _SerialImportHook())
    module = sys.modules.get(SERIAL)  # imported before, or by another thread meanwhile
    if module is not None:
        register(module)
