"""Protocol profiles: every behaviour that changed between ktstr versions, as data.

The exact upstream commit of ktstr 0.15.0 is not known (spec README), so decoders,
writers and the result model take a :class:`Profile` instead of hard-coding one era.
Users may build their own with :func:`dataclasses.replace` and :func:`register_profile`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Literal

from .errors import ProfileError
from .tags import ALL_TAGS, MsgType

MiB = 1024 * 1024
KiB = 1024

CapCheck = Literal["frame", "header"]
Resync = Literal["clear", "scan"]
TestResultEncoding = Literal["postcard-e4", "postcard-e3", "bincode", "json"]
Transport = Literal["bulk", "serial"]


_CHOICES: dict[str, tuple[object, ...]] = {
    "transport": ("bulk", "serial"),
    "cap_check": ("frame", "header"),
    "resync": ("clear", "scan"),
    "scenario_end_len": (8, 16),
    "snapshot_reason_len": (64, 512),
    "kern_addrs_len": (16, 24),
    "test_result": ("postcard-e4", "postcard-e3", "bincode", "json"),
}


_BOOLS = frozenset(
    {
        "residual_cap",
        "pad_warning",
        "step_end",
        "stimulus_exact",
        "wprof_chunked",
        "sched_swap_notify",
        "raw_payload_output",
        "test_result_fallback_e3",
    }
)
_INTS = frozenset({"cap"})


@dataclass(frozen=True, slots=True)
class Profile:
    """One protocol version's behaviour on both sides of the bulk port."""

    name: str
    era: str
    transport: Transport = "bulk"
    # --- host decoding (bulk.md section 6) ---
    cap: int = 16 * MiB
    """MAX_BULK_FRAME_PAYLOAD: a frame may carry at most this many payload bytes."""
    cap_check: CapCheck = "frame"
    """``"frame"``: checked once the whole frame is buffered; ``"header"``: on arrival."""
    residual_cap: bool = True
    """Clear the buffer when more than 2 x cap bytes remain after a feed."""
    resync: Resync = "clear"
    """``"clear"``: drop the whole buffer; ``"scan"``: skip to the next valid frame."""
    pad_warning: bool = True
    """The streaming assembler warns about a non-zero ``_pad`` (never fatal)."""
    known_tags: frozenset[int] = field(default=ALL_TAGS)
    """Tags the forward scan accepts as resync candidates."""
    # --- guest writer shapes (bulk.md sections 4 and 5) ---
    step_end: bool = True
    scenario_end_len: Literal[8, 16] = 16
    stimulus_exact: bool = True
    """The host requires exactly 24 Stimulus bytes (else at least 24)."""
    snapshot_reason_len: Literal[64, 512] = 512
    kern_addrs_len: Literal[16, 24] = 24
    wprof_chunked: bool = False
    sched_swap_notify: bool = False
    raw_payload_output: bool = True
    # --- payload encodings (payloads.md) ---
    test_result: TestResultEncoding = "postcard-e4"
    test_result_fallback_e3: bool = False
    """When the E4 schema does not consume the payload exactly, try E3."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ProfileError("a profile needs a name")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _BOOLS and not isinstance(value, bool):
                raise ProfileError(f"profile {self.name!r}: {f.name} must be true or false")
            if f.name in _INTS and (type(value) is not int):
                raise ProfileError(f"profile {self.name!r}: {f.name} must be an integer")
        if not isinstance(self.era, str):
            raise ProfileError(f"profile {self.name!r}: era must be a string")
        if not 0 < self.cap <= 0xFFFFFFFF:
            raise ProfileError(f"profile {self.name!r}: cap must be in 1..u32::MAX")
        if not isinstance(self.known_tags, frozenset) or not all(
            type(t) is int and 0 <= t <= 0xFFFFFFFF for t in self.known_tags
        ):
            raise ProfileError(f"profile {self.name!r}: known_tags must be u32 integers")
        for name, allowed in _CHOICES.items():
            if (
                type(getattr(self, name)) not in (type(a) for a in allowed)
                or getattr(self, name) not in allowed
            ):
                raise ProfileError(
                    f"profile {self.name!r}: {name} must be one of "
                    f"{', '.join(map(repr, allowed))}, got {getattr(self, name)!r}"
                )

    @property
    def residual_limit(self) -> int | None:
        """Pending bytes above which the buffer is cleared after a feed, if any."""
        return 2 * self.cap if self.residual_cap else None

    @property
    def snapshot_reply_len(self) -> int:
        return 8 + self.snapshot_reason_len


KTSTR_0_15 = Profile(name="ktstr-0.15", era="E4 (16 MiB cap)", test_result_fallback_e3=True)
KTSTR_0_10 = Profile(
    name="ktstr-0.10",
    era="E3",
    step_end=False,
    scenario_end_len=8,
    stimulus_exact=False,
    snapshot_reason_len=64,
    test_result="postcard-e3",
)
KTSTR_BULK_256K = Profile(
    name="ktstr-bulk-256k",
    era="E1/E2",
    cap=256 * KiB,
    cap_check="header",
    residual_cap=False,
    pad_warning=False,
    step_end=False,
    scenario_end_len=8,
    stimulus_exact=False,
    snapshot_reason_len=64,
    kern_addrs_len=16,
    test_result="bincode",
)
KTSTR_0_20 = Profile(name="ktstr-0.20", era="E5", wprof_chunked=True, sched_swap_notify=True)
KTSTR_0_44 = Profile(
    name="ktstr-0.44",
    era="E7",
    resync="scan",
    # Upstream's scan accepts only tags MsgType::from_wire knows: RAWO left the enum in
    # E6, and from_wire never had a KADR arm (found by a differential run, issue 9).
    known_tags=ALL_TAGS - {int(MsgType.RAW_PAYLOAD_OUTPUT), int(MsgType.KERN_ADDRS)},
    wprof_chunked=True,
    sched_swap_notify=True,
    raw_payload_output=False,
)
KTSTR_0_4 = Profile(
    name="ktstr-0.4",
    era="E0 (serial sentinels)",
    transport="serial",
    step_end=False,
    scenario_end_len=8,
    stimulus_exact=False,
    test_result="json",
)

DEFAULT_PROFILE = KTSTR_0_15

_REGISTRY: dict[str, Profile] = {
    p.name: p for p in (KTSTR_0_15, KTSTR_0_10, KTSTR_BULK_256K, KTSTR_0_20, KTSTR_0_44, KTSTR_0_4)
}
BUILTIN_NAMES = frozenset(_REGISTRY)
"""Built-in profiles: user profiles may not replace them."""


def register_profile(profile: Profile, *, replace: bool = False) -> Profile:
    """Make a user-defined profile available by name."""
    if not isinstance(profile, Profile):
        raise ProfileError(f"expected a Profile, got {type(profile).__name__}")
    if profile.name in BUILTIN_NAMES:
        raise ProfileError(f"profile {profile.name!r} is built in and cannot be replaced")
    if profile.name in _REGISTRY and not replace:
        raise ProfileError(f"profile {profile.name!r} already exists (pass replace=True)")
    _REGISTRY[profile.name] = profile
    return profile


def get_profile(profile: str | Profile | None = None) -> Profile:
    """Resolve a profile name (or pass a :class:`Profile` through); ``None`` = default."""
    if profile is None:
        return DEFAULT_PROFILE
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, str):
        try:
            return _REGISTRY[profile]
        except KeyError:
            raise ProfileError(
                f"unknown profile {profile!r}; known: {', '.join(profile_names())}"
            ) from None
    raise ProfileError(f"a profile is a name or a Profile, got {type(profile).__name__}")


def load_profiles(path: str | os.PathLike[str]) -> list[Profile]:
    """Register the profiles of a JSON file: a list of objects (or one object) with a
    ``name``, an optional ``base`` profile (default ``ktstr-0.15``) and the fields to
    change, e.g. ``{"name": "mine", "base": "ktstr-0.20", "cap": 1048576}``."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError, RecursionError) as exc:
        raise ProfileError(f"cannot read profiles from {path}: {_one_line(exc)}") from None
    items = doc if isinstance(doc, list) else [doc]
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ProfileError(f"{path}: each profile is an object with a 'name'")
        fields = dict(item)
        base_name = fields.pop("base", DEFAULT_PROFILE.name)
        if not isinstance(base_name, str):
            raise ProfileError(f"{path}: profile {item['name']!r}: base must be a profile name")
        base = get_profile(base_name)
        if "known_tags" in fields:
            fields["known_tags"] = _tags(path, item["name"], fields["known_tags"])
        unknown = set(fields) - {f.name for f in dataclasses.fields(Profile)}
        if unknown:
            raise ProfileError(f"{path}: unknown profile field(s) {', '.join(sorted(unknown))}")
        try:
            profile = dataclasses.replace(base, **fields)
        except (TypeError, ValueError) as exc:
            raise ProfileError(f"{path}: {_one_line(exc)}") from None
        except ProfileError as exc:
            raise ProfileError(f"{path}: {exc}") from None
        out.append(register_profile(profile, replace=True))
    return out


def _tags(path: object, name: str, value: object) -> frozenset[int]:
    if not isinstance(value, list) or not all(
        type(t) is int and 0 <= t <= 0xFFFFFFFF for t in value
    ):
        raise ProfileError(f"{path}: profile {name!r}: known_tags must be a list of u32 integers")
    return frozenset(value)


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def profile_names() -> list[str]:
    """Names of all registered profiles."""
    return sorted(_REGISTRY)
