"""Plain-JSON view of decoded payload values, for the run report.

:func:`to_jsonable` maps dataclasses to dicts (field order kept); enums to their upstream
variant name (``DetailKind.SKIP`` -> ``"Skip"``, ``PolarityKind.TARGET_VALUE`` ->
``"TargetValue"``, ``ValueKind.OR_U32`` -> ``"OrU32"``); tuples to lists; frozensets to
sorted lists; bytes to lowercase hex; and the non-finite floats to the strings ``"NaN"``
/ ``"inf"`` / ``"-inf"``, so that ``json.dumps(..., allow_nan=False)`` accepts the
result. A kernel-op target gains a ``"variant"`` key with its upstream variant name
(``"PerCpuField"``).
"""

from __future__ import annotations

import dataclasses
import math
from enum import Enum, StrEnum
from typing import Any

from ..errors import UsageError
from .kernel_op import DirectTarget, KvaTarget, PerCpuFieldTarget, SymbolTarget, TaskFieldTarget

_TARGETS = (SymbolTarget, DirectTarget, KvaTarget, PerCpuFieldTarget, TaskFieldTarget)
JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def _float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def to_jsonable(value: Any) -> JsonValue:
    """A JSON-ready structure (dicts, lists, str, int, float, bool, None) for ``value``."""
    if value is None or (isinstance(value, bool | str) and not isinstance(value, Enum)):
        return value
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Enum):  # UPPER_SNAKE member -> upstream CamelCase variant
        return "".join(word.capitalize() for word in value.name.split("_"))
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, JsonValue] = {}
        if isinstance(value, _TARGETS):
            out["variant"] = type(value).__name__.removesuffix("Target")
        for f in dataclasses.fields(value):
            out[f.name] = to_jsonable(getattr(value, f.name))
        return out
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return [to_jsonable(v) for v in sorted(value)]
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    raise UsageError(f"no JSON form for {type(value).__name__}")
