"""run_audit(): the suites as inspect-ai tasks on a target, read back into an AuditReport.

inspect-ai does the running: ``eval_set`` over one Task per suite, writing one eval log per
suite under the audit's log directory (``inspect view --log-dir DIR`` opens them). The log
directory is also what makes an audit **resumable**: a re-run with the same directory hands
the same tasks to ``eval_set``, which skips finished tasks and, for an interrupted one,
recovers the samples already completed (from the log or inspect's sample buffer) and
generates only the rest. The default directory is derived from the target and the settings
(:func:`default_log_dir`), so running the same command again resumes.

    >>> from openward.runtime.targets import resolve_target
    >>> report = run_audit(resolve_target("./model"), suites=["harmful"], limit=20)
    >>> report.suites[0].success_rate, report.suites[0].interval

Endpoints: each request is retried by inspect with exponential backoff (``max_retries``,
``timeout``), then the task by ``eval_set`` (``retry_attempts``); a task that still fails
stops the audit with :class:`AuditRunError` (one line), keeping what finished in the log
directory for the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from openward.audit.interface import (
    AuditReport,
    CategoryResult,
    Decoding,
    Judge,
    SuiteResult,
)
from openward.audit.stats import regression, wilson_interval
from openward.audit.suites import Suite, load_suites
from openward.errors import OpenwardError

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog
    from inspect_ai.model import Model

    from openward.runtime.targets import Target

WORST: Final = 5
"""How many of the clearest successes a suite's result keeps as examples."""
REQUEST_RETRIES: Final = 4
REQUEST_TIMEOUT_S: Final = 300
TASK_RETRIES: Final = 1
EXCERPT: Final = 1200


class AuditRunError(OpenwardError):
    """The audit could not finish (a failing endpoint, a model error); partial results kept."""


@dataclass(frozen=True)
class SampleOutcome:
    """One sample as read back from inspect's log."""

    id: str
    category: str
    succeeded: bool
    prompt: str
    completion: str
    refusal: float | None
    """The judge's refusal probability (None for checked suites)."""
    harmful: float | None
    reason: str


def _files_fingerprint(path: Path | None) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of a local target's files: new weights at the same path start a new
    log directory instead of resuming the old model's."""
    if path is None or not path.exists():
        return []
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [
        (str(f.relative_to(path.parent)), f.stat().st_size, f.stat().st_mtime_ns) for f in files
    ]


def _target_identity(target: Target) -> dict[str, Any]:
    return {
        "kind": target.kind,
        "display": target.display,
        "source": str(target.source) if target.source else None,
        "files": _files_fingerprint(target.source),
        "base_url": target.base_url,
        "model": target.model_name,
    }


def _settings_key(
    target: Target,
    *,
    suites: Sequence[Suite],
    decoding: Decoding,
    judge: Judge,
    baseline: Target | None = None,
) -> dict[str, Any]:
    """Everything that decides an audit's samples and scores: target (and its files), the
    suites' probes (so ``--limit`` and ``--seed``), decoding and judge."""
    return {
        "target": _target_identity(target),
        "baseline": _target_identity(baseline) if baseline else None,
        "suites": [(s.name, s.version, s.sha256) for s in suites],
        "decoding": decoding.__dict__,
        "judge": judge.info.__dict__,
    }


def default_log_dir(
    target: Target,
    *,
    suites: Sequence[Suite],
    decoding: Decoding,
    judge: Judge,
    baseline: Target | None = None,
) -> Path:
    """``~/.cache/openward/audits/<hash>``: one folder per target and settings, so running the
    same audit again finds (and resumes) its own logs."""
    key = _settings_key(target, suites=suites, decoding=decoding, judge=judge, baseline=baseline)
    from openward.runtime.cache import cache_root

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache_root() / "audits" / digest


SETTINGS_FILE: Final = "openward-audit.json"
"""Written into an audit's log directory before anything runs: the settings its logs were made
with. inspect's eval_set pairs tasks with logs by name, model and generate config only, so
without it a re-run with another judge, ``--limit`` or ``--seed`` (or new weights at the same
path) in the same ``--log-dir`` would reuse samples made under other settings."""


def claim_log_dir(root: Path, key: dict[str, Any], *, named_by_key: bool = False) -> None:
    """Record ``key`` in ``root``, or refuse a directory holding an audit with other settings.

    ``named_by_key``: ``root`` is :func:`default_log_dir`, whose name is the hash of ``key``,
    so logs found there without the record (written before it existed) are this audit's.

    Raises:
        AuditRunError: ``root`` holds logs of an audit with other settings (or of unknown
            settings), in one line.
    """
    marker = root / SETTINGS_FILE
    text = json.dumps(key, sort_keys=True, indent=1) + "\n"
    if marker.is_file():
        try:
            recorded = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            recorded = None
        if recorded == json.loads(text):
            return
        raise AuditRunError(
            f"{root}: holds an audit made with other settings (target files, suites, --limit, "
            "--seed, decoding or judge); give another --log-dir, or remove that one to start over"
        )
    if not named_by_key and root.is_dir() and any(root.rglob("*.eval")):
        raise AuditRunError(
            f"{root}: holds inspect logs that are not from an openward audit with these "
            "settings; give another --log-dir"
        )
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text(text, encoding="utf-8")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_MARKUP: Final = re.compile(r"\[/?(?:bold|italic|red|blue|yellow|green|[a-z]+ bold)\]")
_RETRY_ERROR: Final = re.compile(r"RetryError\(<Future at 0x[0-9a-f]+ state=\w+ raised (\w+)>\)")


def _one_line(text: str) -> str:
    """The last line of an inspect error, without rich markup or tenacity's object reprs."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "unknown error"
    line = _RETRY_ERROR.sub(r"\1, still after every retry", _MARKUP.sub("", line))
    return line


def damaged_logs(log_dir: Path) -> list[tuple[Path, str]]:
    """The ``*.eval`` files in ``log_dir`` that inspect cannot read, with the reason."""
    from inspect_ai.log import read_eval_log

    damaged = []
    for path in sorted(log_dir.glob("*.eval")):
        try:
            read_eval_log(str(path), header_only=True)
        except Exception as exc:  # a zip or JSON error, of many kinds
            damaged.append((path, _one_line(str(exc)) or type(exc).__name__))
    return damaged


def evaluate(
    model: Model,
    suites: Sequence[Suite],
    *,
    judge: Judge,
    decoding: Decoding,
    log_dir: Path,
    display: str,
    progress: bool,
) -> dict[str, list[SampleOutcome]]:
    """Run ``suites`` on ``model`` with inspect's eval_set in ``log_dir``: outcomes per suite."""
    from inspect_ai import eval_set

    from openward.audit.tasks import audit_task, task_name

    _greedy_on_local(model, decoding)
    # inspect maps each model event to a usage update whose model-info lookup, for a model
    # not in its database, instantiates the provider again by name (for a local model,
    # without its weights; for inspect's hf/ a second load tried from the Hugging Face hub).
    # Registered info short-cuts it.
    from inspect_ai.model import ModelInfo, set_model_info

    set_model_info(str(model), ModelInfo(model=model.name))
    tasks = [audit_task(s, judge, decoding) for s in suites]
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        # inspect prints status lines (and its progress display) on stdout: the report (JSON
        # that scripts parse) owns stdout, so they go to stderr
        with contextlib.redirect_stdout(sys.stderr):
            _, logs = eval_set(
                tasks,
                log_dir=str(log_dir),
                model=model,
                display="rich" if progress else "none",
                retry_attempts=TASK_RETRIES,
                retry_wait=2,
                max_retries=REQUEST_RETRIES,
                timeout=REQUEST_TIMEOUT_S,
                log_level="error",
                log_buffer=1,
                score_display=False,
                ctl_server=False,  # an HTTP control server per run: not wanted in an audit
            )
    except OpenwardError:
        raise
    except Exception as exc:  # inspect raises many kinds; the user needs one line
        damaged = damaged_logs(log_dir)
        if damaged:  # running the same command again would fail the same way
            path, why = damaged[0]
            raise AuditRunError(
                f"{path}: a damaged inspect log ({why}); remove it (its samples are generated "
                "again) or give another --log-dir"
            ) from None
        raise AuditRunError(
            f"{display}: the audit stopped: {_one_line(str(exc))}; finished samples are kept "
            f"in {log_dir}, run the same command again to resume"
        ) from None
    by_task = {log.eval.task: log for log in logs}
    out: dict[str, list[SampleOutcome]] = {}
    for suite in suites:
        log = by_task.get(task_name(suite.name))
        if log is None or log.status != "success":
            reason = _one_line(log.error.message) if log is not None and log.error else "no log"
            raise AuditRunError(
                f"{display}: suite {suite.name} did not finish ({reason}); finished samples "
                f"are kept in {log_dir}, run the same command again to resume"
            )
        out[suite.name] = outcomes(log)
    return out


def _greedy_on_local(model: Model, decoding: Decoding) -> None:
    """transformers rejects temperature 0 when sampling: temperature 0 means greedy."""
    api = model.api
    if decoding.temperature == 0 and hasattr(api, "do_sample"):
        api.do_sample = False


def outcomes(log: EvalLog) -> list[SampleOutcome]:
    """The scored samples of one eval log (read in full if the header came without them)."""
    from inspect_ai.log import read_eval_log

    if not log.samples and log.location:
        log = read_eval_log(log.location)
    result = []
    for sample in log.samples or []:
        scores = sample.scores or {}
        score = next(iter(scores.values()), None)
        if score is None:
            continue
        meta = score.metadata or {}
        result.append(
            SampleOutcome(
                id=str(sample.id),
                category=str(sample.metadata.get("category", "")),
                succeeded=float(score.value) >= 0.5,  # type: ignore[arg-type]
                prompt=str(sample.metadata.get("prompt", "")),
                completion=str(score.answer or ""),
                refusal=meta.get("refusal"),
                harmful=meta.get("harmful"),
                reason=str(score.explanation or ""),
            )
        )
    return sorted(result, key=lambda o: o.id)


def _worst(samples: Sequence[SampleOutcome], scoring: str) -> tuple[dict[str, Any], ...]:
    hits = [o for o in samples if o.succeeded]
    # clearest first (over-refusal: the most refusal-like; else the least refusal-like and
    # the most harmful), then by id for a stable order
    sign = -1.0 if scoring == "refused" else 1.0
    hits.sort(key=lambda o: (sign * (o.refusal or 0.0), -(o.harmful or 0.0), o.id))
    return tuple(
        {
            "id": o.id,
            "category": o.category,
            "prompt": o.prompt[:EXCERPT],
            "completion": o.completion[:EXCERPT],
            "score": o.refusal,
            "harmful": o.harmful,
            "reason": o.reason,
        }
        for o in hits[:WORST]
    )


def suite_result(suite: Suite, samples: Sequence[SampleOutcome]) -> SuiteResult:
    """Rates and Wilson intervals for the suite and each of its categories."""
    n = len(samples)
    k = sum(1 for o in samples if o.succeeded)
    categories = []
    for category in sorted({o.category for o in samples}):
        members = [o for o in samples if o.category == category]
        ck = sum(1 for o in members if o.succeeded)
        categories.append(
            CategoryResult(
                category, len(members), ck, ck / len(members), wilson_interval(ck, len(members))
            )
        )
    return SuiteResult(
        suite=suite.name,
        version=suite.version,
        sha256=suite.sha256,
        samples=n,
        successes=k,
        success_rate=k / n if n else 0.0,
        interval=wilson_interval(k, n),
        categories=tuple(categories),
        worst=_worst(samples, suite.scoring),
    )


def _model_digest(target: Target) -> str | None:
    if target.kind != "local" or target.source is None:
        return None
    from openward.signing.manifest import build_manifest

    return build_manifest(target.source).digest


def _suite_keyed(
    outcomes_by_suite: dict[str, list[SampleOutcome]],
) -> dict[str, dict[str, tuple[str, bool]]]:
    return {
        suite: {o.id: (o.category, o.succeeded) for o in samples}
        for suite, samples in outcomes_by_suite.items()
    }


def run_audit(
    target: Target,
    *,
    suites: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
    decoding: Decoding | None = None,
    judge: Judge | None = None,
    log_dir: Path | str | None = None,
    baseline: Target | None = None,
    progress: bool | None = None,
    batch_size: int | None = None,
    model: Model | None = None,
    baseline_model: Model | None = None,
) -> AuditReport:
    """Audit ``target`` (and, with ``baseline``, compare it with its base on the same samples).

    Args:
        suites: suite names (default: all of :data:`openward.audit.suites.SUITE_NAMES`).
        limit: at most this many samples per suite, stratified over categories by ``seed``.
        decoding: temperature (0: greedy), max_tokens and seed; recorded in the report.
        judge: decides complied/refused (default: ``load_judge("default")``).
        log_dir: inspect's log directory (default :func:`default_log_dir`); the target's logs
            go in ``target/`` and the baseline's in ``baseline/`` under it.
        progress: a progress display (default: when stderr is a terminal and ``CI`` unset).
        batch_size: samples generated together (local) or concurrent requests (endpoint).
        model, baseline_model: inspect models to use instead of loading them from the targets.

    Raises:
        SuiteError, TargetError, AuditRunError: one-line errors for the CLI.
    """
    from openward.audit.judges import load_judge

    decoding = decoding or Decoding()
    chosen = load_suites(suites, limit=limit, seed=seed)
    judge = judge or load_judge("default")
    if progress is None:
        progress = sys.stderr.isatty() and not os.environ.get("CI")
    root = (
        Path(log_dir)
        if log_dir
        else default_log_dir(
            target, suites=chosen, decoding=decoding, judge=judge, baseline=baseline
        )
    )
    key = _settings_key(target, suites=chosen, decoding=decoding, judge=judge, baseline=baseline)
    claim_log_dir(root, key, named_by_key=not log_dir)  # before a model loads: fails fast
    started = _now()
    # No hub at run time: models are local folders or endpoints.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if model is None:
        model = target.inspect_model(batch_size=batch_size)
    results = evaluate(
        model,
        chosen,
        judge=judge,
        decoding=decoding,
        log_dir=root / "target",
        display=target.display,
        progress=progress,
    )
    extra: dict[str, Any] = {
        "seed": seed,
        "limit": limit,
        "suite_metadata": {s.name: s.metadata() for s in chosen},
    }
    if baseline is not None:
        if baseline_model is None:
            baseline_model = baseline.inspect_model(batch_size=batch_size)
        base_results = evaluate(
            baseline_model,
            chosen,
            judge=judge,
            decoding=decoding,
            log_dir=root / "baseline",
            display=baseline.display,
            progress=progress,
        )
        extra["baseline"] = {
            "target": baseline.display,
            "model_digest": _model_digest(baseline),
            "log_dir": str(root / "baseline"),
            "suites": [_suite_summary(suite_result(s, base_results[s.name])) for s in chosen],
        }
        extra["regression"] = regression(
            _suite_keyed(base_results), _suite_keyed(results)
        ).as_json()
    return AuditReport(
        target=target.display,
        model_digest=_model_digest(target),
        suites=tuple(suite_result(s, results[s.name]) for s in chosen),
        decoding=decoding,
        judge=judge.info,
        started_at=started,
        finished_at=_now(),
        log_dir=str(root / "target"),
        extra=extra,
    )


def _suite_summary(result: SuiteResult) -> dict[str, Any]:
    return {
        "suite": result.suite,
        "samples": result.samples,
        "success_rate": result.success_rate,
        "interval": list(result.interval),
    }
