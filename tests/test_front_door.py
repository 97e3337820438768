"""The packages' front doors: ``__all__``, lazy loading, no pyserial or QEMU for decoders."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ktstr_guest
import ktstr_host
import ktstr_host.decode
import ktstr_host.export
import ktstr_host.session
import ktstr_host.transcripts
import ktstr_host.vm
import ktstr_proto
from ktstr_proto.lazy_exports import stub_exports

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "qemu" / "guest-panic.jsonl"
PACKAGES = (
    ktstr_proto,
    ktstr_guest,
    ktstr_host,
    ktstr_host.decode,
    ktstr_host.session,
    ktstr_host.transcripts,
    ktstr_host.vm,
    ktstr_host.export,
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter (this one has pytest's plugin, hence pyserial)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "module",
    [
        "ktstr_host.decode.bulk",
        "ktstr_host.bulk",  # the issue's check, through the path before the regrouping
        "ktstr_host.decode",
        "ktstr_host.session",
        "ktstr_host.decode.serial",
        "ktstr_host.decode.events",
        "ktstr_host.session.result_builder",
        "ktstr_host",
        "ktstr_proto",
        "ktstr_proto.frame",
        "ktstr_guest.bulk_writer",
    ],
)
def test_sans_io_import_loads_neither_pyserial_nor_qemu(module: str) -> None:
    proc = _run(f"""
        import {module}, sys
        assert "serial" not in sys.modules, "pyserial"
        assert "ktstr_host.vm.runner" not in sys.modules, "QEMU runner"
        assert "ktstr_host.transcripts.recorder" not in sys.modules, "recorder"
    """)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    "imports",
    ["import ktstr_host; import serial", "import serial; import ktstr_host"],
)
def test_ktstr_host_registers_the_replay_url_in_either_order(imports: str) -> None:
    proc = _run(f"""
        {imports}
        port = serial.serial_for_url("ktstrreplay://{FIXTURE}?channel=com2", timeout=5)
        assert type(port).__module__ == "ktstr_host.transcripts.urlhandler.protocol_ktstrreplay"
        print(port.read(17).decode())
        assert serial.protocol_handler_packages.count("ktstr_host.transcripts.urlhandler") == 1
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "PANIC: panicked a\n"


def test_pyserial_alone_does_not_know_the_url() -> None:
    proc = _run(f"""
        import serial
        serial.serial_for_url("ktstrreplay://{FIXTURE}?channel=com2")
    """)
    assert "ValueError" in proc.stderr and "ktstrreplay" in proc.stderr


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_every_front_door_name_is_its_module_attribute(package: object) -> None:
    stub = Path(package.__file__).with_suffix(".pyi")  # type: ignore[attr-defined]
    exports = stub_exports(stub)
    assert exports, stub
    for module, names in exports.items():
        source = importlib.import_module(importlib.util.resolve_name(module, package.__name__))  # type: ignore[attr-defined]
        for name in names:
            assert getattr(package, name) is getattr(source, name), name
            assert name in package.__all__ and name in dir(package)  # type: ignore[attr-defined]
            # a submodule of the same name would replace the name once imported
            assert importlib.util.find_spec(f"{package.__name__}.{name}") is None, name  # type: ignore[attr-defined]


def test_issue_examples() -> None:
    from ktstr_guest import GuestBulkWriter
    from ktstr_host import BulkDecoder, Frame, RunResult, build_run_result, read_transcript
    from ktstr_proto import MsgType, build_frame, get_profile

    w = GuestBulkWriter("ktstr-0.15")
    stream = w.exit(7) + build_frame(MsgType.EXIT, b"\x08\0\0\0")
    events = BulkDecoder(get_profile("ktstr-0.15")).feed(stream)
    assert [(e.tag, bytes(e.payload)) for e in events if isinstance(e, Frame)] == [
        (MsgType.EXIT, b"\x07\0\0\0"),
        (MsgType.EXIT, b"\x08\0\0\0"),
    ]
    result = build_run_result(read_transcript(FIXTURE))
    assert isinstance(result, RunResult) and result.status == "fail"


def test_run_session_is_lazy() -> None:
    import ktstr_host.session.run_session

    assert "RunSession" in ktstr_host.__all__
    assert ktstr_host.RunSession is ktstr_host.session.run_session.RunSession


def test_unknown_name() -> None:
    with pytest.raises(AttributeError, match="module 'ktstr_host' has no attribute 'Nope'"):
        ktstr_host.Nope  # type: ignore[attr-defined]  # noqa: B018


def test_stub_must_list_exactly_its_imports(tmp_path: Path) -> None:
    stub = tmp_path / "__init__.pyi"
    stub.write_text('from .a import x, y\n__all__ = ["x"]\n')
    with pytest.raises(ValueError, match="__all__ must list exactly the imported names"):
        stub_exports(stub)
    stub.write_text('from .a import x as z\n__all__ = ["z"]\n')
    with pytest.raises(ValueError, match="must keep its module's name"):
        stub_exports(stub)
    stub.write_text('from .a import x\nfrom b import y\n__all__ = ["y", "x"]\n')
    assert stub_exports(stub) == {".a": ("x",), "b": ("y",)}
