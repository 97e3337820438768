"""Front door of ktstr_proto (the list ``ktstr_proto/__init__.py`` loads lazily)."""

from .channels import CHANNELS, ChannelInfo, channel_info
from .crc import crc32
from .errors import KtstrError, PayloadError, PeerError, ProfileError, UsageError
from .frame import build_frame, build_header, parse_header
from .payloads import decode_fixed
from .profiles import Profile, get_profile, load_profiles, profile_names, register_profile
from .schemas import AssertResult, decode_assert_result, encode_assert_result
from .serial import WakeByte
from .tags import MsgType, tag_label
from .transcript import Chunk, Mark, Transcript, TranscriptError

__all__ = [
    "CHANNELS",
    "AssertResult",
    "ChannelInfo",
    "Chunk",
    "KtstrError",
    "Mark",
    "MsgType",
    "PayloadError",
    "PeerError",
    "Profile",
    "ProfileError",
    "Transcript",
    "TranscriptError",
    "UsageError",
    "WakeByte",
    "build_frame",
    "build_header",
    "channel_info",
    "crc32",
    "decode_assert_result",
    "decode_fixed",
    "encode_assert_result",
    "get_profile",
    "load_profiles",
    "parse_header",
    "profile_names",
    "register_profile",
    "tag_label",
]
