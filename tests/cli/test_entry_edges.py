"""Edges where the console entry point's own sign/verify path (openward.cli.entry) must
do what typer's path does: an interrupt, a reader that went away, an output that is a
directory; and a file swapped between the early walk and the command's own walk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openward.cli import entry
from openward.cli.main import app
from openward.signing.keys import generate_key, write_key_pair
from openward.signing.oms import sign_model

SRC = str(Path(entry.__file__).resolve().parents[2])


@pytest.fixture
def signed(tmp_path: Path) -> Path:
    """tmp_path with m/ (two files), k/k.pub and m.sig (m signed with k)."""
    model = tmp_path / "m"
    model.mkdir()
    (model / "a.bin").write_bytes(os.urandom(100_000))
    (model / "b.txt").write_text("hello")
    write_key_pair(generate_key("ed25519"), tmp_path / "k", tmp_path / "k.pub")
    from openward.signing.keys import load_private_key

    bundle = sign_model(model, load_private_key(tmp_path / "k", None))
    (tmp_path / "m.sig").write_text(json.dumps(bundle))
    return tmp_path


def _run(cwd: Path, code: str, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "1", "PYTHONPATH": SRC}
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, text=True, check=False,
        **kw,  # type: ignore[call-overload]
    )  # fmt: skip


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("openward-hash")]


_SWAP = """
import os, sys, time
from openward.cli import entry
start = entry._start_hashing
def swapped(command, params):
    run = start(command, params)
    if run is not None:
        for t in run._threads:
            t.join()  # the early run has read every file
    data = open("m/a.bin", "rb").read()
    with open("new", "wb") as f:
        f.write(bytes([data[0] ^ 1]) + data[1:])  # same size, other content
    os.replace("new", "m/a.bin")
    return run
entry._start_hashing = swapped
sys.argv = ["openward", *sys.argv[1:]]
entry.run()
"""


def test_a_file_swapped_after_the_early_run_read_it_fails_verification(signed: Path) -> None:
    proc = _run(signed, _SWAP, "verify", "m", "-s", "m.sig", "-k", "k.pub", capture_output=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "a.bin: content changed since signing" in proc.stderr


def test_an_interrupt_exits_130_silently_as_typer_does(
    signed: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import openward.signing.keys as keys

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(keys, "load_public_key", interrupted)
    line = ["verify", str(signed / "m"), "-s", str(signed / "m.sig"), "-k", str(signed / "k.pub")]
    assert entry.fast(line) == 130
    assert capsys.readouterr() == ("", "")
    assert not _threads()
    typer_path = CliRunner().invoke(app, line)
    assert typer_path.exit_code == 130 and typer_path.output == ""


def test_a_closed_stdout_ends_quietly_with_status_1(signed: Path) -> None:
    for module in ("entry", "main"):
        code = f"import sys; sys.argv=['openward',*sys.argv[1:]]; from openward.cli.{module} "
        code += "import run; run()"
        read, write = os.pipe()
        os.close(read)
        try:
            proc = _run(signed, code, "verify", "m", "-s", "m.sig", "-k", "k.pub", "--json",
                        stdout=write, stderr=subprocess.PIPE)  # fmt: skip
        finally:
            os.close(write)
        assert (module, proc.returncode, proc.stderr) == (module, 1, "")


@pytest.mark.parametrize("output", [".", "m", "out"])
def test_an_output_that_is_a_folder_is_an_error_and_leaves_nothing(
    signed: Path, output: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(signed)
    (signed / "out").mkdir()
    before = sorted(os.listdir(signed))
    assert entry.fast(["sign", "m", "-k", "k", "-o", output]) == 2
    assert capsys.readouterr().err == f"openward: error: [Errno 21] Is a directory: '{output}'\n"
    typer_path = CliRunner().invoke(app, ["sign", "m", "-k", "k", f"--output={output}"])
    assert typer_path.exit_code == 2
    assert "Is a directory" in typer_path.output
    assert sorted(os.listdir(signed)) == before  # no .tmp left behind
    assert not _threads()


def test_the_package_surface_survives_lazy_loading() -> None:
    code = (
        "import sys, openward\n"
        "assert 'pathlib' not in sys.modules and 'typing' not in sys.modules\n"
        "assert set(openward.__all__) <= set(dir(openward))\n"
        "ns = {}\n"
        "exec('from openward import *', ns)\n"
        "from openward.scanning.interface import Finding, ScanReport\n"
        "assert ns['Finding'] is openward.Finding is Finding\n"
        "assert ns['ScanReport'] is ScanReport\n"
        "assert callable(ns['scan']) and callable(ns['inspect'])\n"
        "print('ok')\n"
    )
    proc = _run(Path.cwd(), code, capture_output=True)
    assert proc.stdout.strip() == "ok", proc.stderr
