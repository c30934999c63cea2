"""Real audits through the CLI on the small models: every suite, the endpoint path, the
differential on Qwen and its abliterated copy, resume after a kill, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from openward.audit.suites import SUITE_NAMES
from openward.cli.main import app

runner = CliRunner()
QUICK = ["--max-tokens", "16", "--judge", "keyword"]


def _audit(
    *args: str, judge: str = "keyword", max_tokens: int = 16
) -> tuple[int, dict[str, Any] | None, str]:
    quick = ["--max-tokens", str(max_tokens), "--judge", judge]
    result = runner.invoke(app, ["audit", *args, *quick, "--json", "--quiet"])
    try:
        data = json.loads(result.stdout)
    except ValueError:
        data = None
    return result.exit_code, data, result.stderr


def test_every_suite_end_to_end(smollm2_dir: Path, tmp_path: Path) -> None:
    from openward.signing.attest import AUDIT_PREDICATE, read_attestation
    from openward.signing.keys import generate_key, load_public_key, write_key_pair
    from openward.signing.manifest import build_manifest

    html = tmp_path / "report.html"
    key = tmp_path / "auditor.key"
    write_key_pair(generate_key(), key, key.with_suffix(".pub"))
    signed = tmp_path / "audit.intoto.json"
    args = [str(smollm2_dir), "--limit", "2", "--log-dir", str(tmp_path / "logs")]
    args += [a for name in SUITE_NAMES for a in ("--suite", name)]
    args += ["--sign", "--key", str(key), "-o", str(signed)]
    code, data, err = _audit(*args, "--html", str(html))
    assert code == 0, err
    # --sign: the report still goes to stdout, the attestation to -o, signed by the key and
    # bound to the model's OMS digest, carrying the same rates
    attestation = read_attestation(signed, {"auditor": load_public_key(key.with_suffix(".pub"))})
    assert attestation.signer == "auditor" and attestation.predicate_type == AUDIT_PREDICATE
    assert attestation.subject_digest == build_manifest(smollm2_dir).digest
    assert data is not None
    assert {s["suite"]: s["success_rate"] for s in attestation.predicate["suites"]} == {
        s["suite"]: s["success_rate"] for s in data["suites"]
    }
    assert data is not None and data["target"] == str(smollm2_dir)
    assert [s["suite"] for s in data["suites"]] == list(SUITE_NAMES)
    for suite in data["suites"]:
        assert suite["samples"] == 2
        assert 0.0 <= suite["success_rate"] <= 1.0
        low, high = suite["interval"]
        assert 0.0 <= low <= suite["success_rate"] <= high <= 1.0
        assert sum(c["samples"] for c in suite["categories"]) == 2
        assert len(suite["sha256"]) == 64 and suite["version"] == "1"
    assert data["decoding"] == {"temperature": 0.0, "max_tokens": 16, "seed": 0, "top_p": None}
    assert data["model_digest"] and data["judge"]["name"] == "keyword"
    assert len(list((tmp_path / "logs" / "target").glob("*.eval"))) == len(SUITE_NAMES)
    assert html.read_text().startswith("<!DOCTYPE html>")


def test_endpoint_path(openai_endpoint: tuple[str, str], tmp_path: Path) -> None:
    base_url, model_name = openai_endpoint
    code, data, err = _audit(
        "--endpoint",
        base_url,
        "--model",
        model_name,
        "--suite",
        "system-prompt-leak",
        "--limit",
        "2",
        "--log-dir",
        str(tmp_path),
    )
    assert code == 0, err
    assert data is not None and data["model_digest"] is None
    assert data["suites"][0]["samples"] == 2


def test_differential_on_qwen_and_its_abliterated_copy(
    qwen_dir: Path, qwen_abliterated_dir: Path, tmp_path: Path
) -> None:
    """The abliterated copy (Arditi et al. 2024, refusal direction removed) is flagged
    safety-regressed against its base on the same samples, seeds and decoding."""
    code, data, err = _audit(
        str(qwen_abliterated_dir),
        "--baseline",
        str(qwen_dir),
        "--suite",
        "harmful",
        "--limit",
        "32",
        "--log-dir",
        str(tmp_path),
        max_tokens=8,  # enough to show a refusal ("I'm sorry, but I can't")
    )
    assert data is not None, err
    regression = data["regression"]
    assert regression["verdict"] == "safety-regressed", regression
    assert code == 1  # the exit status says it too
    [suite] = regression["suites"]
    assert suite["pairs"] == 32
    assert suite["success_rate"] > suite["base_success_rate"]
    assert suite["only_derived"] > suite["only_base"]
    assert 0.0 < regression["p_value"] < 0.05 and suite["counts_for_verdict"]
    assert data["baseline"]["target"] == str(qwen_dir)
    assert data["baseline"]["suites"][0]["success_rate"] == suite["base_success_rate"]


def test_a_model_against_itself_does_not_regress(smollm2_dir: Path, tmp_path: Path) -> None:
    code, data, err = _audit(
        str(smollm2_dir),
        "--baseline",
        str(smollm2_dir),
        "--suite",
        "harmful",
        "--limit",
        "3",
        "--log-dir",
        str(tmp_path),
        judge="default",  # the trained judge, once end to end
    )
    assert code == 0, err
    assert data is not None and data["regression"]["verdict"] == "no-regression"
    assert data["judge"]["name"] != "keyword"
    assert data["regression"]["suites"][0]["only_derived"] == 0


def _finished(log_dir: Path) -> dict[str, str]:
    """sample id -> uuid of the samples inspect has written to the (possibly unfinished) log."""
    from inspect_ai.log import read_eval_log

    done: dict[str, str] = {}
    for path in log_dir.glob("*.eval"):
        try:
            log = read_eval_log(str(path))
        except Exception:  # noqa: S112 - the log is being rewritten: read it on the next poll
            continue
        done.update({str(s.id): s.uuid for s in log.samples or [] if s.uuid})
    return done


def test_resume_after_kill_does_not_repeat_finished_samples(
    smollm2_dir: Path, tmp_path: Path
) -> None:
    log_dir = tmp_path / "logs"
    cmd = [
        sys.executable,
        "-m",
        "openward",
        "audit",
        str(smollm2_dir),
        "--suite",
        "harmful",
        "--limit",
        "5",
        "--batch-size",
        "1",
        "--log-dir",
        str(log_dir),
        "--json",
        *QUICK,
    ]
    env = {**os.environ, "CI": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    done: dict[str, str] = {}
    while time.monotonic() < deadline and len(done) < 2 and proc.poll() is None:
        time.sleep(0.5)
        done = _finished(log_dir / "target")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 1 <= len(done) < 5, "the audit was not interrupted mid-run"
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    data = json.loads(rerun.stdout)
    assert data["suites"][0]["samples"] == 5
    from inspect_ai.log import read_eval_log

    final = [read_eval_log(str(p)) for p in (log_dir / "target").glob("*.eval")]
    [complete] = [log for log in final if log.status == "success"]
    uuids = {str(s.id): s.uuid for s in complete.samples or []}
    assert len(uuids) == 5
    # samples finished before the kill come back with their original uuid: not generated again
    assert all(uuids[sample_id] == uuid for sample_id, uuid in done.items())


def test_one_line_errors(tmp_path: Path) -> None:
    code, _, err = _audit(
        "--endpoint", "http://127.0.0.1:9/v1", "--model", "x", "--suite", "harmful"
    )
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "unreachable" in err
    broken = tmp_path / "broken"
    broken.mkdir()
    # a tiny configuration (a default llama config would allocate billions of parameters)
    # whose weights file has a truncated header
    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "vocab_size": 64,
    }
    (broken / "config.json").write_text(json.dumps(config))
    (broken / "model.safetensors").write_bytes(b'\xe8\x03\x00\x00\x00\x00\x00\x00{"a": [')
    code, _, err = _audit(
        str(broken), "--suite", "harmful", "--limit", "1", "--log-dir", str(tmp_path / "l")
    )
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert "truncated or not a safetensors file" in err  # refused before any load
    code, _, err = _audit("--suite", "nope", "x")
    assert code == 2 and "unknown suite 'nope'" in err
