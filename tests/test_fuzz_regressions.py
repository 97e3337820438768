"""Bugs the fuzz harnesses found in existing code, as minimal regression tests.

Each was first a failing ``xfail(strict=True)`` test. All three were then fixed in
``ktstr_proto/transcript.py`` (``_obj`` and ``LineDecoder.decode``), so they are plain
tests now. See docs/fuzzing.md, "Findings".
"""

from __future__ import annotations

import io

import pytest

from ktstr_host.fuzzing.targets import fuzz_transcript
from ktstr_host.transcripts.io import read_transcript, write_transcript
from ktstr_proto.transcript import Transcript, TranscriptError

HEADER = b'{"format": "ktstr-transcript", "version": 1, "profile": "ktstr-0.15", "channels": {}}\n'
HUGE_INT_TIME = HEADER + b'{"t": 1' + b"0" * 400 + b', "mark": "x"}\n'
DIGIT_LIMIT_TIME = HEADER + b'{"t": 1' + b"0" * 4300 + b', "mark": "x"}\n'
DIGIT_LIMIT_HEADER = b'{"format": "ktstr-transcript", "version": 1' + b"0" * 4300 + b"}\n"
SURROGATE_MARK = HEADER + b'{"t": 0, "mark": "\\ud800"}\n'


def read(data: bytes) -> Transcript:
    return read_transcript(io.BufferedReader(io.BytesIO(data)))


def test_huge_integer_time_is_a_transcript_error() -> None:
    """Was: ``math.isfinite()`` on an int ``t`` of more than 308 digits raised
    ``OverflowError`` out of ``LineDecoder.decode``."""
    with pytest.raises(TranscriptError, match="line 2"):
        read(HUGE_INT_TIME)


@pytest.mark.parametrize(
    "data", [DIGIT_LIMIT_TIME, DIGIT_LIMIT_HEADER], ids=["event-line", "header-line"]
)
def test_integer_beyond_the_digit_limit_is_a_transcript_error(data: bytes) -> None:
    """Was: ``_obj()`` caught ``JSONDecodeError`` and ``RecursionError`` only, and
    ``json.loads`` raises a plain ``ValueError`` for an int of more than 4300 digits."""
    with pytest.raises(TranscriptError, match=r"line [12]"):
        read(data)


def test_a_transcript_that_reads_writes_back() -> None:
    """Was: the reader accepted a lone surrogate outside ``text`` (here a mark name),
    and ``write_transcript`` then died with ``UnicodeEncodeError``."""
    try:
        transcript = read(SURROGATE_MARK)
    except TranscriptError:
        return  # rejecting it on read is the fix
    write_transcript(io.BytesIO(), transcript)


@pytest.mark.parametrize(
    "data",
    [HUGE_INT_TIME, DIGIT_LIMIT_TIME, DIGIT_LIMIT_HEADER, SURROGATE_MARK],
    ids=["overflow", "digit-limit", "digit-limit-header", "surrogate"],
)
def test_transcript_target_passes(data: bytes) -> None:
    """The same inputs through the fuzz target's oracles (option byte 0)."""
    fuzz_transcript(b"\x00" + data)
