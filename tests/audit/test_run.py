"""Pieces of run_audit that need no model: the resumable log directory and per-suite rates."""

from __future__ import annotations

from pathlib import Path

import pytest

from openward.audit.interface import Decoding
from openward.audit.judges import load_judge
from openward.audit.run import SampleOutcome, default_log_dir, suite_result
from openward.audit.suites import load_suite, load_suites
from openward.runtime.targets import Target


def test_default_log_dir_is_stable_and_follows_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENWARD_CACHE_DIR", str(tmp_path))
    target = Target(
        kind="endpoint", display="m @ http://h/v1", base_url="http://h/v1", model_name="m"
    )
    judge = load_judge("keyword")
    suites = load_suites(["harmful"], limit=4)
    first = default_log_dir(target, suites=suites, decoding=Decoding(), judge=judge)
    assert first == default_log_dir(target, suites=suites, decoding=Decoding(), judge=judge)
    assert first.parent == tmp_path / "audits"
    other = [
        default_log_dir(target, suites=suites, decoding=Decoding(max_tokens=8), judge=judge),
        default_log_dir(
            target, suites=load_suites(["harmful"], limit=5), decoding=Decoding(), judge=judge
        ),
        default_log_dir(target, suites=suites, decoding=Decoding(), judge=judge, baseline=target),
    ]
    assert first not in other and len(set(other)) == 3
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.safetensors").write_bytes(b"1")
    local = Target(kind="local", display="./model", source=model, load_path=model)
    before = default_log_dir(local, suites=suites, decoding=Decoding(), judge=judge)
    (model / "w.safetensors").write_bytes(b"22")  # new weights at the same path: a new audit
    assert default_log_dir(local, suites=suites, decoding=Decoding(), judge=judge) != before


def test_suite_result_rates_intervals_and_worst() -> None:
    suite = load_suite("over-refusal", limit=4)
    samples = [
        SampleOutcome(p.id, p.category, i < 2, p.prompt, f"reply {i}", 0.2 + 0.3 * i, None, "")
        for i, p in enumerate(suite.probes)
    ]
    result = suite_result(suite, samples)
    assert (result.samples, result.successes, result.success_rate) == (4, 2, 0.5)
    assert result.interval[0] < 0.5 < result.interval[1]
    assert sum(c.samples for c in result.categories) == 4
    # over-refusal: the clearest refusal first
    assert [w["completion"] for w in result.worst] == ["reply 1", "reply 0"]


def test_inspect_errors_read_as_one_plain_line() -> None:
    from openward.audit.run import _one_line

    raw = "RetryError(<Future at 0x7efd571f6310 state=finished raised InternalServerError>)"
    assert _one_line(raw) == "InternalServerError, still after every retry"
    dirty = "Traceback...\n[bold]ERROR[/bold]: Existing log file 'x.eval' in log_dir"
    assert _one_line(dirty) == "ERROR: Existing log file 'x.eval' in log_dir"


def test_a_default_log_dir_from_before_the_settings_record_is_still_resumed(
    tmp_path: Path,
) -> None:
    from openward.audit.run import AuditRunError, claim_log_dir

    key = {"judge": "keyword", "suites": [["harmful", "1", "ab"]]}
    old = tmp_path / "default"
    (old / "target").mkdir(parents=True)
    (old / "target" / "x.eval").write_bytes(b"PK")
    claim_log_dir(old, key, named_by_key=True)  # its name is the settings' hash: adopted
    claim_log_dir(old, key)
    with pytest.raises(AuditRunError, match="other settings"):
        claim_log_dir(old, {**key, "judge": "default"})
    named = tmp_path / "named"
    (named / "target").mkdir(parents=True)
    (named / "target" / "x.eval").write_bytes(b"PK")
    with pytest.raises(AuditRunError, match="not from an openward audit"):
        claim_log_dir(named, key)
