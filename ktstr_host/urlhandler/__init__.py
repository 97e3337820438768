"""pyserial URL handlers of ktstr-py (``ktstrreplay://``), registered without importing pyserial.

``import ktstr_host`` calls :func:`register_on_import`: if pyserial is already imported the
handler package is added to ``serial.protocol_handler_packages`` at once, otherwise a one-shot
import hook adds it right after pyserial's own import. So ``import ktstr_host`` followed by
``serial.serial_for_url("ktstrreplay://...")`` works in either order, while importing a
sans-IO decoder (``ktstr_host.bulk``) does not load pyserial.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Sequence
from types import ModuleType

PACKAGE = __name__
SERIAL = "serial"


def register(serial_module: ModuleType) -> None:
    """Add this package to pyserial's URL handler packages (once)."""
    packages = getattr(serial_module, "protocol_handler_packages", None)
    if isinstance(packages, list) and PACKAGE not in packages:
        packages.append(PACKAGE)


class _RegisteringLoader(importlib.abc.Loader):
    """Runs pyserial's own loader, then registers; restores that loader on the module."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        register(module)


class _SerialImportHook(importlib.abc.MetaPathFinder):
    """Removes itself at pyserial's import and wraps its loader in a registering one."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != SERIAL or not _remove_hook(self):
            return None
        spec = importlib.util.find_spec(SERIAL)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


_lock = threading.Lock()


def _remove_hook(hook: _SerialImportHook) -> bool:
    with _lock:
        if hook in sys.meta_path:
            sys.meta_path.remove(hook)
            return True
        return False


def register_on_import() -> None:
    """Register now if pyserial is imported, else as soon as it is."""
    module = sys.modules.get(SERIAL)
    if module is not None:
        register(module)
        return
    with _lock:
        if not any(isinstance(f, _SerialImportHook) for f in sys.meta_path):
            sys.meta_path.insert(0, _SerialImportHook())
    module = sys.modules.get(SERIAL)  # imported by another thread meanwhile
    if module is not None:
        register(module)
