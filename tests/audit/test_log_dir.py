"""An audit's log directory is only ever resumed by the same audit: same target files, suites
(so --limit and --seed), decoding and judge; a re-run's stdout is still the report alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from openward.cli.main import app

runner = CliRunner()


def _audit(model: Path, log_dir: Path, *extra: str) -> tuple[int, str, str]:
    args = ["audit", str(model), "--suite", "over-refusal", "--limit", "1", "--max-tokens", "4"]
    result = runner.invoke(app, [*args, "--log-dir", str(log_dir), "--json", "--quiet", *extra])
    return result.exit_code, result.stdout, result.stderr


def test_rerun_resumes_but_other_settings_are_refused(smollm2_dir: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    code, out, err = _audit(smollm2_dir, logs, "--judge", "keyword")
    assert code == 0, err
    first = json.loads(out)
    # the same command again, as a process: every task is finished (inspect then prints a
    # status line of its own); stdout is still exactly the JSON report
    args = ["audit", str(smollm2_dir), "--suite", "over-refusal", "--limit", "1"]
    args += ["--max-tokens", "4", "--log-dir", str(logs), "--json", "--judge", "keyword"]
    env = {**os.environ, "CI": "1"}
    cmd = [sys.executable, "-m", "openward", *args]
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    again = json.loads(rerun.stdout)
    assert again["suites"][0]["samples"] == first["suites"][0]["samples"] == 1
    # another judge, limit or seed in the same directory would reuse samples judged or drawn
    # under other settings: refused in one line, before any model loads
    for other in (["--judge", "default"], ["--judge", "keyword", "--limit", "2"]):
        code, out, err = _audit(smollm2_dir, logs, *other)
        assert code == 2 and out == "", err
        assert "Traceback" not in err and err.count("\n") == 1
        assert "other settings" in err


def test_a_log_dir_with_foreign_logs_is_refused(smollm2_dir: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "target").mkdir(parents=True)
    (logs / "target" / "2026-01-01_other-task_x.eval").write_bytes(b"PK")
    code, _, err = _audit(smollm2_dir, logs, "--judge", "keyword")
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "not from an openward audit" in err


def test_a_damaged_log_is_named_not_resumed_forever(smollm2_dir: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    code, _, err = _audit(smollm2_dir, logs, "--judge", "keyword")
    assert code == 0, err
    [log] = (logs / "target").glob("*.eval")
    log.write_bytes(log.read_bytes()[:300])  # a damaged zip: "run again to resume" never helps
    code, _, err = _audit(smollm2_dir, logs, "--judge", "keyword")
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert f"{log}: a damaged inspect log" in err and "remove it" in err
    log.unlink()  # as told: the re-run generates its samples again
    code, out, err = _audit(smollm2_dir, logs, "--judge", "keyword")
    assert code == 0, err
    assert json.loads(out)["suites"][0]["samples"] == 1
