"""The console entry point builds only the command the line names, and the sign and
verify paths leave the heavy modules unimported. Nothing is timed: what is checked is
which commands were built and which modules a real run imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from openward.cli.main import app, run
from openward.signing.keys import generate_key, write_key_pair


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["openward", *args])
    with pytest.raises(SystemExit) as exc:
        run()
    return int(exc.value.code or 0)


def test_a_named_command_is_built_alone_and_the_app_is_restored(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    commands, groups = list(app.registered_commands), list(app.registered_groups)
    assert _run(monkeypatch, "verify", "--help") == 0
    out = capsys.readouterr().out
    assert "--signature" in out and "Exit status" in out
    assert app.registered_commands == commands and app.registered_groups == groups
    assert _run(monkeypatch, "registry", "token", "--help") == 0
    assert "create" in capsys.readouterr().out
    assert app.registered_commands == commands and app.registered_groups == groups


def test_whole_app_when_no_command_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, "--help") == 0
    out = capsys.readouterr().out
    for name in ("scan", "sign", "verify", "registry", "audit"):
        assert name in out
    assert _run(monkeypatch, "verfy") == 2  # click's error, with its suggestion
    err = capsys.readouterr().err
    assert "No such command" in err and "verify" in err


def test_usage_errors_stay_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, "verify") == 2
    assert "Missing argument" in capsys.readouterr().err


_PROBE = """
import json, sys
from openward.cli.entry import run
sys.argv = ["openward", *sys.argv[1:]]
try:
    run()
except SystemExit as exc:
    code = exc.code
heavy = ("rich", "typer.rich_utils", "cryptography.x509", "pydantic", "sigstore",
         "model_signing", "numpy", "openward.scanning.engine")
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def _probe(*args: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_sign_verify_and_help_import_nothing_heavy(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    key, pub, sig = tmp_path / "k.pem", tmp_path / "k.pub", tmp_path / "m.sig"
    write_key_pair(generate_key(), key, pub)
    assert _probe("verify", "--help") == {"code": 0, "loaded": []}
    assert _probe("sign", str(model), "-k", str(key), "-o", str(sig)) == {
        "code": 0,
        "loaded": [],
    }
    assert _probe("verify", str(model), "-s", str(sig), "-k", str(pub)) == {
        "code": 0,
        "loaded": [],
    }
