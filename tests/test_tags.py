from __future__ import annotations

import pytest

from ktstr_proto.tags import ALL_TAGS, INTERNAL_TAGS, MsgType, fourcc, from_wire, tag_label

# Values copied from bulk.md section 3.
TABLE = {
    "STIM": 0x5354494D,
    "STEN": 0x5354454E,
    "SCST": 0x53435354,
    "SCEN": 0x5343454E,
    "SCPP": 0x53435050,
    "SCRR": 0x53435252,
    "EXIT": 0x45584954,
    "TEST": 0x54455354,
    "SCDX": 0x53434458,
    "CRSH": 0x43525348,
    "PMET": 0x504D4554,
    "RAWO": 0x5241574F,
    "PRAW": 0x50524157,
    "WPRF": 0x57505246,
    "WPRC": 0x57505243,
    "SNRQ": 0x534E5251,
    "SNRP": 0x534E5250,
    "KORQ": 0x4B4F5251,
    "KORP": 0x4B4F5250,
    "SRDY": 0x53524459,
    "SCSW": 0x53435357,
    "SOUT": 0x534F5554,
    "SERR": 0x53455252,
    "SCLG": 0x53434C47,
    "LIFE": 0x4C494645,
    "KADR": 0x4B414452,
    "EXCX": 0x45584358,
    "DMSG": 0x444D5347,
    "PROB": 0x50524F42,
}


def test_every_tag_of_the_spec_is_known_with_its_value() -> None:
    assert {m.ascii: int(m) for m in MsgType} == TABLE


def test_constants_are_distinct() -> None:
    assert len(ALL_TAGS) == len(MsgType) == len(TABLE)


def test_exit_wire_bytes_read_reversed() -> None:
    assert MsgType.EXIT.wire == b"TIXE"
    assert MsgType.from_ascii("EXIT") is MsgType.EXIT


@pytest.mark.parametrize("value", [0, 0xDEADBEEF, 0xFFFFFFFF])
def test_unknown_values_are_representable(value: int) -> None:
    assert from_wire(value) is None
    assert tag_label(value) == f"0x{value:08x}"


def test_unknown_printable_tag_label() -> None:
    assert tag_label(fourcc("ABCD")) == "ABCD"
    with pytest.raises(ValueError, match="unknown tag"):
        MsgType.from_ascii("ABCD")


def test_internal_set() -> None:
    assert {t.ascii for t in INTERNAL_TAGS} == {"SNRQ", "SNRP", "KORQ", "KORP", "SRDY", "SCSW"}
    assert MsgType.SYS_RDY.is_internal and not MsgType.EXIT.is_internal
