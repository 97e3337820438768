"""A package front door whose names are imported from their submodules on first use.

``import ktstr_host.decode.bulk`` runs ``ktstr_host/__init__.py``; if that imported every public
name, a sans-IO decoder would load pyserial and the QEMU runner. Instead each package lists
its front door once, in its ``__init__.pyi`` stub (``from .bulk import BulkDecoder`` lines and
``__all__``): type checkers read the stub, and :func:`attach_stub` reads the same imports to
give the package a module ``__getattr__`` (PEP 562) that imports a name's module when the
name is first used (the layout of scientific Python's ``lazy_loader``).
"""

from __future__ import annotations

import ast
import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    Exports = Mapping[str, tuple[str, ...]]
    """Module (``".bulk"`` or absolute) -> the names the package takes from it."""


def stub_exports(stub: str | os.PathLike[str]) -> dict[str, tuple[str, ...]]:
    """The ``from MODULE import NAME`` lines of a stub; ``__all__`` must list exactly them."""
    with open(stub, encoding="utf-8") as f:
        tree = ast.parse(f.read(), os.fspath(stub))
    exports: dict[str, tuple[str, ...]] = {}
    listed: list[str] | None = None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            if node.level > 1 or not node.module:
                raise ValueError(f"{stub}: import from a submodule (.name) or another package")
            module = "." * node.level + node.module
            names = tuple(alias.asname or alias.name for alias in node.names)
            if any(a.asname not in (None, a.name) for a in node.names):
                raise ValueError(f"{stub}: a front door name must keep its module's name")
            exports[module] = exports.get(module, ()) + names
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            listed = list(ast.literal_eval(node.value))
    imported = [name for names in exports.values() for name in names]
    if listed is None or sorted(listed) != sorted(imported):
        raise ValueError(f"{stub}: __all__ must list exactly the imported names")
    return exports


def attach(
    package: str, namespace: dict[str, Any], exports: Exports
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package`` (``namespace``: its
    ``globals()``, where a loaded name is cached)."""
    where = {name: module for module, names in exports.items() for name in names}
    if len(where) != sum(len(names) for names in exports.values()):
        raise ValueError(f"{package}: a name is exported twice")

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = package + module if module.startswith(".") else module
        try:
            value = getattr(importlib.import_module(target), name)
        except ModuleNotFoundError as exc:
            if exc.name != target:  # a dependency of that module is missing: say so
                raise
            raise AttributeError(f"module {package!r} has no attribute {name!r} ({exc})") from exc
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__, list(where)


def attach_stub(
    namespace: dict[str, Any], extra: Exports | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """:func:`attach` with the exports of the package's ``__init__.pyi`` (plus ``extra``)."""
    stub = os.path.splitext(namespace["__file__"])[0] + ".pyi"
    return attach(namespace["__name__"], namespace, {**stub_exports(stub), **(extra or {})})
