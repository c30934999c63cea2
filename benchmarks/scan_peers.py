"""Compare openward with four peer scanners: detection, false positives, speed.

What it measures
----------------
1. **Detection and false positives.** The corpus is openward's own sample zoo
   (``openward._samples``): one poisoned file per attack technique and a set of
   legitimate files (plain pickles, real torch/numpy/joblib/safetensors files).
   Each tool is run the way a user runs it, through its CLI, in a fresh process,
   on one file at a time, with a per-call timeout (a timeout counts as a miss).
   A tool's verdict on a file is decided from its machine-readable output by
   the rules printed in the report header (``DEFINITIONS`` below).

   The rules are deliberately *not* the same for openward and the peers:
   openward must report the technique's expected rule at the expected severity
   (its own test criterion, ``openward._samples.detected``), while a peer only
   has to flag the file as dangerous by any rule. So a peer's tick means "it
   would have stopped the file", and openward's tick means "it stopped it for
   the right reason"; openward cells that are misses under its own criterion
   but flagged by another rule are annotated.

2. **Throughput on a large file.** A real ``torch.save`` checkpoint (a dict of
   float32 4096x4096 tensors, ``--big-gib`` GiB) is scanned by each CLI under
   hyperfine (``-N``, warm page cache), plus in-process calls where a library
   API exists (openward's ``openward.scan``, picklescan's ``scan_file_path``
   run in the peer venv's interpreter). Bytecode is compiled first and
   ``PYTHONDONTWRITEBYTECODE`` is removed, so every tool starts from cached
   bytecode. The verdict column says what each tool concluded about the file:
   a fast time from a tool that could not parse the file measures nothing.

3. **Directory scan.** The whole zoo directory scanned in one call by the tools
   that have a directory mode, with how many files each one actually looked at
   and flagged. picklescan and modelscan choose files by extension in this
   mode, so renamed payloads are not even opened; fickling has no such mode.

How to read it
--------------
``✓`` detected (malicious table) or false positive (benign table); ``✗`` not.
A note in brackets says why a tool gave no verdict (timeout, crash, not
scanned) or what it said short of the rule (e.g. picklescan "suspicious only",
modelaudit "warning only"). The peers run from their own virtual environment
(``benchmarks/.venv-peers``), always as subprocesses: nothing of theirs is
imported into this process. After every tool ran, the marker directory must
still be empty; a file there means some tool executed a payload.

Setting up the peers (once; about 70 s, 1.3 GB)::

    python3 -m venv benchmarks/.venv-peers
    benchmarks/.venv-peers/bin/pip install torch==2.13.0 numpy   # CPU build first
    benchmarks/.venv-peers/bin/pip install picklescan==1.0.5 modelscan==0.8.8 \
        fickling==0.1.12 modelaudit==0.2.54

Usage::

    .venv/bin/python benchmarks/scan_peers.py [--out DIR] [--big-gib N]
        [--skip-big] [--skip-dir] [--tools openward,picklescan,...]

Writes ``<out>/scan_peers.md`` and ``<out>/scan_peers.json`` (default
``benchmarks/results/``) plus the raw hyperfine exports, and prints the
Markdown report. Exit status 0, or 3 when a payload marker was created.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import openward
from openward._samples import Sample, build_benign, build_malicious, detected

sys.path.insert(0, str(Path(__file__).resolve().parent))
from big_models import build_gguf, build_repository, build_safetensors

REPO = Path(__file__).resolve().parent.parent
PEER_VENV = REPO / "benchmarks" / ".venv-peers"
PEER_BIN = PEER_VENV / "bin"
OPENWARD_BIN = Path(sys.executable).with_name("openward")
HYPERFINE = shutil.which("hyperfine") or "/usr/bin/hyperfine"

TOOLS = ("openward", "picklescan", "modelscan", "fickling", "modelaudit")
PEER_PACKAGES = ("picklescan", "modelscan", "fickling", "modelaudit", "torch", "numpy")
TIMEOUT_S = 120.0
GIB = 1 << 30
TENSOR_BYTES = 4096 * 4096 * 4
DIR_JOBS = 2

_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
_FICKLING_LEVELS = (
    "LIKELY_SAFE",
    "POSSIBLY_UNSAFE",
    "SUSPICIOUS",
    "LIKELY_UNSAFE",
    "LIKELY_OVERTLY_MALICIOUS",
    "OVERTLY_MALICIOUS",
)
_FICKLING_STRICT = _FICKLING_LEVELS.index("LIKELY_OVERTLY_MALICIOUS")

DEFINITIONS = {
    "openward": "`openward scan FILE --json`. Detected: `openward._samples.detected(sample, "
    "findings)`, i.e. the technique's expected rule at or above its expected severity. "
    "False positive: any finding of severity medium or above on a benign file.",
    "picklescan": "`picklescan -p FILE`. Detected / false positive: `Dangerous globals: N` "
    "with N > 0, whatever the exit code. Unknown (suspicious-only) globals are noted, "
    "not counted.",
    "modelscan": "`modelscan -p FILE -r json -o OUT`. Detected / false positive: any issue "
    "in OUT. Exit code 3 means nothing was scanned (unsupported extension or magic).",
    "fickling": "`fickling -s --json-output OUT FILE`. Detected / false positive: highest "
    "severity over the stacked pickles >= LIKELY_OVERTLY_MALICIOUS. The column "
    "`fickling >SAFE` applies fickling's own, looser rule (anything above "
    "LIKELY_SAFE). A crash (Traceback) counts as not detected.",
    "modelaudit": "`modelaudit scan --format json --no-cache FILE` with "
    "PROMPTFOO_DISABLE_TELEMETRY=1. Detected: any issue of severity critical. "
    "False positive: any warning or critical issue on a benign file.",
}
CAVEAT = (
    "openward's detection is per technique (the expected rule must fire); a peer's detection "
    "means it flagged the file as dangerous by any rule. Every tool runs through its CLI, one "
    f"file per fresh process, with a {TIMEOUT_S:.0f} s timeout; a timeout counts as not detected."
)


# ---------------------------------------------------------------------------
# Running commands
# ---------------------------------------------------------------------------


@dataclass
class Proc:
    """How one command ended. ``rc`` is None when it was killed by the timeout."""

    rc: int | None
    stdout: str
    stderr: str
    seconds: float


def tool_env() -> dict[str, str]:
    """The environment every tool runs in (also under hyperfine).

    PYTHONDONTWRITEBYTECODE is dropped so that all tools start from cached
    bytecode, and modelaudit's telemetry (network retries: +6 s a run) is off.
    """
    dropped = {"PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PROMPTFOO_DISABLE_TELEMETRY"] = "1"
    env["NO_ANALYTICS"] = "1"
    return env


def run(argv: list[str], *, cwd: Path, timeout: float = TIMEOUT_S) -> Proc:
    """Run ``argv`` in its own process group; on timeout, kill that group."""
    start = time.perf_counter()
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=tool_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return Proc(None, out, err, time.perf_counter() - start)
    return Proc(proc.returncode, out, err, time.perf_counter() - start)


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _crashed(proc: Proc) -> bool:
    return "Traceback (most recent call last)" in proc.stderr + proc.stdout


# ---------------------------------------------------------------------------
# The tools
# ---------------------------------------------------------------------------


@dataclass
class Verdict:
    """One tool's verdict on one file."""

    hit: bool
    """Detected (malicious file) or false positive (benign file), by the tool's rule."""
    note: str = ""
    """Why there is no verdict (timeout, crash, not scanned) or what fell short of the rule."""
    detail: str = ""
    """What the tool reported, briefly."""
    loose: bool | None = None
    """fickling only: the looser rule (anything above LIKELY_SAFE)."""
    rc: int | None = None
    seconds: float = 0.0
    findings: list[dict[str, Any]] = field(default_factory=list)
    """openward only: its findings, for the misses and false positives section."""


@dataclass
class DirSummary:
    """What a tool did with the whole corpus directory."""

    scanned: int | None
    flagged_malicious: int
    flagged_benign: int
    note: str = ""


class Tool:
    """A scanner driven through its CLI."""

    name = ""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    def argv(self, target: Path) -> list[str]:
        """The command that scans ``target`` (a file, or a directory where supported)."""
        raise NotImplementedError

    def judge(self, sample: Sample, proc: Proc) -> Verdict:
        """Turn the command's outcome into a verdict under this tool's rule."""
        raise NotImplementedError

    def flagged_files(self, proc: Proc, files: list[str]) -> tuple[int | None, set[str], str]:
        """Directory mode: (files scanned, corpus files flagged, note)."""
        raise NotImplementedError

    def has_dir_mode(self) -> bool:
        return True

    def reset(self) -> None:
        """Remove output files a previous call left behind."""

    def scan(self, sample: Sample, path: Path) -> Verdict:
        self.reset()
        proc = run(self.argv(path), cwd=self.scratch)
        if proc.rc is None:
            verdict = Verdict(False, "timeout", f"killed after {TIMEOUT_S:.0f} s")
        else:
            verdict = self.judge(sample, proc)
        verdict.rc = proc.rc
        verdict.seconds = round(proc.seconds, 4)
        return verdict


def _match_file(location: str, files: list[str]) -> str | None:
    """The corpus file (relative path) a tool's location string points into."""
    for rel in sorted(files, key=len, reverse=True):
        if re.search(re.escape(rel) + r"(?![\w.\-])", location):
            return rel
    return None


class Openward(Tool):
    name = "openward"

    def argv(self, target: Path) -> list[str]:
        cmd = [str(OPENWARD_BIN), "scan", str(target), "--json"]
        return [*cmd, "-j", str(DIR_JOBS)] if target.is_dir() else cmd

    def judge(self, sample: Sample, proc: Proc) -> Verdict:
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return Verdict(False, "error", _short(proc.stderr or proc.stdout))
        findings: list[dict[str, Any]] = report["findings"]
        pairs = [(f["rule_id"], f["severity"]) for f in findings]
        serious = [(r, s) for r, s in pairs if _RANK[s] >= _RANK["medium"]]
        detail = ", ".join(sorted({f"{r}/{s}" for r, s in pairs})) or "no findings"
        if sample.malicious:
            hit = detected(sample, pairs)
            note = "" if hit or not serious else "other rule: " + serious[0][0]
        else:
            hit, note = bool(serious), ""
        if proc.rc == 2:
            note = note or "error"
        keep = ("rule_id", "severity", "path", "member", "offset", "message", "evidence")
        kept = [{k: f.get(k) for k in keep} for f in findings]
        return Verdict(hit, note, detail, findings=kept)

    def flagged_files(self, proc: Proc, files: list[str]) -> tuple[int | None, set[str], str]:
        report = json.loads(proc.stdout)
        flagged = {
            _match_file(f["path"], files)
            for f in report["findings"]
            if _RANK[f["severity"]] >= _RANK["high"]
        }
        return report["summary"]["files_analysed"], {f for f in flagged if f}, ""


class Picklescan(Tool):
    name = "picklescan"

    def argv(self, target: Path) -> list[str]:
        return [str(PEER_BIN / "picklescan"), "-p", str(target)]

    def judge(self, sample: Sample, proc: Proc) -> Verdict:
        text = proc.stdout + proc.stderr
        dangerous = re.search(r"Dangerous globals: (\d+)", text)
        suspicious = re.search(r"Suspicious globals: (\d+)", text)
        found = sorted(set(re.findall(r"(\w+) import '([^']*)' FOUND", text)))
        detail = ", ".join(f"{kind} {name}" for kind, name in found) or "nothing found"
        if dangerous is None:
            note = "crash" if _crashed(proc) else "error"
            return Verdict(False, note, _short(text.strip().splitlines()[-1] if text else ""))
        hit = int(dangerous[1]) > 0
        note = ""
        if not hit and suspicious and int(suspicious[1]) > 0:
            note = "suspicious only"
        elif not hit and proc.rc == 2:
            note = "error"
        return Verdict(hit, note, detail)

    def flagged_files(self, proc: Proc, files: list[str]) -> tuple[int | None, set[str], str]:
        text = proc.stdout + proc.stderr
        scanned = re.search(r"Scanned files: (\d+)", text)
        flagged = {
            _match_file(line, files)
            for line in text.splitlines()
            if re.search(r"dangerous import '[^']*' FOUND", line)
        }
        note = ""
        if scanned is None:
            last = text.strip().splitlines()[-1] if text.strip() else ""
            note = "aborted: " + _short(last, 120)
        return (int(scanned[1]) if scanned else None), {f for f in flagged if f}, note


class Modelscan(Tool):
    name = "modelscan"

    @property
    def output(self) -> Path:
        return self.scratch / "modelscan.json"

    def reset(self) -> None:
        self.output.unlink(missing_ok=True)

    def argv(self, target: Path) -> list[str]:
        return [
            str(PEER_BIN / "modelscan"),
            "-p",
            str(target),
            "-r",
            "json",
            "-o",
            str(self.output),
        ]

    def _report(self, proc: Proc) -> dict[str, Any] | None:
        if not self.output.exists():
            return None
        try:
            data: dict[str, Any] = json.loads(self.output.read_text())
        except json.JSONDecodeError:
            return None
        return data

    def judge(self, sample: Sample, proc: Proc) -> Verdict:
        report = self._report(proc)
        if proc.rc == 3:
            reason = ""
            if report and report.get("errors"):
                reason = report["errors"][0].get("description", "")
            return Verdict(False, "not scanned", _short(reason) or "no scanner for this file")
        if report is None:
            note = "crash" if _crashed(proc) else "error"
            return Verdict(False, note, _short(proc.stderr.strip()[-160:]))
        issues = report.get("issues", [])
        errors = report.get("errors", [])
        detail = ", ".join(
            sorted({f"{i.get('severity')} {i.get('module')}.{i.get('operator')}" for i in issues})
        )
        if errors:
            detail += (
                ("; " if detail else "") + "error: " + _short(errors[0].get("description", ""))
            )
        hit = bool(issues)
        return Verdict(hit, "" if hit or not errors else "error", detail or "no issues")

    def flagged_files(self, proc: Proc, files: list[str]) -> tuple[int | None, set[str], str]:
        report = self._report(proc)
        if report is None:
            return None, set(), "no report: " + _short(proc.stderr.strip()[-120:])
        flagged = {_match_file(i.get("source", ""), files) for i in report.get("issues", [])}
        scanned = report["summary"]["scanned"]["total_scanned"]
        errors = len(report.get("errors", []))
        note = f"{errors} scanner errors" if errors else ""
        return scanned, {f for f in flagged if f}, note


class Fickling(Tool):
    name = "fickling"

    @property
    def output(self) -> Path:
        return self.scratch / "fickling.json"

    def reset(self) -> None:
        self.output.unlink(missing_ok=True)

    def argv(self, target: Path) -> list[str]:
        return [str(PEER_BIN / "fickling"), "-s", "--json-output", str(self.output), str(target)]

    def has_dir_mode(self) -> bool:
        return False

    def judge(self, sample: Sample, proc: Proc) -> Verdict:
        if _crashed(proc):
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
            return Verdict(False, "crash", _short(last), loose=False)
        # fickling appends one JSON object per stacked pickle to the output file.
        levels: list[int] = []
        reasons: dict[str, str] = {}
        text = self.output.read_text() if self.output.exists() else ""
        decoder, pos = json.JSONDecoder(), 0
        try:
            while text[pos:].strip():
                pos += len(text[pos:]) - len(text[pos:].lstrip())
                obj, pos = decoder.raw_decode(text, pos)
                levels.append(_FICKLING_LEVELS.index(obj["severity"]))
                if levels[-1] == max(levels):
                    reasons = obj.get("detailed_results", {}).get("AnalysisResult", {})
        except (json.JSONDecodeError, KeyError, ValueError) as exc:
            return Verdict(False, "error", f"unreadable output: {exc!r}", loose=False)
        if not levels:
            error = re.search(r"Error: (.+)", proc.stdout + proc.stderr)
            note = "not parsed" if proc.rc == 2 else "error"
            reason = _short(error[1]) if error else f"rc {proc.rc}, no result"
            return Verdict(False, note, reason, loose=False)
        top = max(levels)
        detail = " + ".join(_FICKLING_LEVELS[level] for level in levels)
        if reasons:
            detail += " (" + _short("; ".join(f"{k}: {v}" for k, v in reasons.items()), 200) + ")"
        return Verdict(top >= _FICKLING_STRICT, "", detail, loose=top > 0)


class Modelaudit(Tool):
    name = "modelaudit"

    def argv(self, target: Path) -> list[str]:
        return [str(PEER_BIN / "modelaudit"), "scan", "--format", "json", "--no-cache", str(target)]

    def judge(self, sample: Sample, proc: Proc) -> Verdict:
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            note = "crash" if _crashed(proc) else "error"
            return Verdict(False, note, _short(proc.stderr.strip()[-160:]))
        issues = report.get("issues", [])
        severities = {i.get("severity") for i in issues}
        critical, warning = "critical" in severities, "warning" in severities
        detail = ", ".join(
            sorted(
                {
                    f"{i.get('severity')} {i.get('rule_code') or i.get('type')}"
                    for i in issues
                    if i.get("severity") in {"critical", "warning"}
                }
            )
        )
        if not detail:
            infos = [i.get("message", "") for i in issues if i.get("severity") == "info"]
            detail = "info: " + _short(infos[0], 120) if infos else ""
        if sample.malicious:
            hit = critical
            note = "warning only" if warning and not critical else ""
        else:
            hit, note = critical or warning, ""
        if not hit and proc.rc == 2:
            note = note or "inconclusive"
        return Verdict(hit, note, detail or "no issues")

    def flagged_files(self, proc: Proc, files: list[str]) -> tuple[int | None, set[str], str]:
        report = json.loads(proc.stdout)
        flagged = {
            _match_file(i.get("location") or "", files)
            for i in report.get("issues", [])
            if i.get("severity") == "critical"
        }
        return report.get("files_scanned"), {f for f in flagged if f}, ""


TOOL_CLASSES: dict[str, type[Tool]] = {
    "openward": Openward,
    "picklescan": Picklescan,
    "modelscan": Modelscan,
    "fickling": Fickling,
    "modelaudit": Modelaudit,
}


# ---------------------------------------------------------------------------
# Corpus, machine, versions
# ---------------------------------------------------------------------------


@dataclass
class Corpus:
    root: Path
    zoo: Path
    markers: Path
    malicious: list[Sample]
    benign: list[Sample]

    def path(self, sample: Sample) -> Path:
        return self.zoo / self.rel(sample)

    def rel(self, sample: Sample) -> str:
        return f"{'malicious' if sample.malicious else 'benign'}/{sample.name}"


def build_corpus(root: Path) -> Corpus:
    """Rebuild the zoo (fast) under ``root/zoo``; keep ``root/big`` for reuse."""
    zoo, markers = root / "zoo", root / "markers"
    if zoo.exists():
        shutil.rmtree(zoo)
    if markers.exists() and any(markers.iterdir()):
        print(f"note: clearing markers left from an earlier run in {markers}", file=sys.stderr)
        shutil.rmtree(markers)
    markers.mkdir(parents=True, exist_ok=True)
    malicious = build_malicious(zoo / "malicious", markers)
    benign = build_benign(zoo / "benign")
    return Corpus(root, zoo, markers, malicious, benign)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    memory = "unknown"
    try:
        info = Path("/proc/cpuinfo").read_text()
        names = re.findall(r"^model name\s*:\s*(.+)$", info, re.MULTILINE)
        cpu = names[0].strip() if names else cpu
        mem = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        memory = f"{int(mem[1]) / (1 << 20):.1f} GiB" if mem else memory
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "memory": memory,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


def versions(tools: list[str]) -> dict[str, str]:
    found = {"openward": openward.__version__}
    head = run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, timeout=30)
    if head.rc == 0:
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, timeout=30)
        found["openward"] += f" (git {head.stdout.strip()}{'+dirty' if dirty.stdout else ''})"
    probe = (
        "import importlib.metadata as m, json, sys\n"
        "out = {'peer python': sys.version.split()[0]}\n"
        f"for p in {PEER_PACKAGES!r}:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    if any(t != "openward" for t in tools):
        proc = run([str(PEER_BIN / "python"), "-c", probe], cwd=REPO, timeout=60)
        if proc.rc == 0:
            peer = json.loads(proc.stdout)
            found |= {
                (f"{k} (peers)" if k in {"torch", "numpy"} else k): v for k, v in peer.items()
            }
    proc = run([HYPERFINE, "--version"], cwd=REPO, timeout=30)
    if proc.rc == 0:
        found["hyperfine"] = proc.stdout.split()[-1]
    return found


def available_tools(requested: list[str]) -> list[str]:
    tools = []
    for name in requested:
        binary = OPENWARD_BIN if name == "openward" else PEER_BIN / name
        if binary.exists():
            tools.append(name)
        else:
            print(
                f"warning: {name} not found at {binary}; skipped "
                "(the module docstring says how to install the peers)",
                file=sys.stderr,
            )
    return tools


# ---------------------------------------------------------------------------
# Detection pass
# ---------------------------------------------------------------------------

_SYMBOL = {True: "✓", False: "✗"}
_NO_VERDICT = ("timeout", "crash", "not scanned", "not parsed", "error", "inconclusive")


def detection_pass(corpus: Corpus, tools: dict[str, Tool]) -> dict[str, dict[str, Verdict]]:
    """Every tool on every file; results keyed by corpus-relative path, then tool."""
    results: dict[str, dict[str, Verdict]] = {}
    samples = corpus.malicious + corpus.benign
    for n, sample in enumerate(samples, 1):
        rel = corpus.rel(sample)
        results[rel] = {
            name: tool.scan(sample, corpus.path(sample)) for name, tool in tools.items()
        }
        cells = " ".join(
            f"{name[:2]}{_SYMBOL[v.hit]}{'!' if v.note else ''}" for name, v in results[rel].items()
        )
        print(f"[{n:3}/{len(samples)}] {rel:60} {cells}", file=sys.stderr, flush=True)
    return results


OTHER_FORMAT_DIRS = ("safetensors", "gguf", "keras", "tensorflow", "onnx")
OTHER_FORMAT_FILES = ("config.json", "README.md", "model.safetensors")


def family(sample: Sample) -> str:
    """``pickle`` (pickle-based formats and archives, issue 3) or ``other`` (issue 4:
    safetensors, GGUF, templates, repository code, Keras, TensorFlow, ONNX)."""
    top = sample.name.split("/")[0]
    if top in OTHER_FORMAT_DIRS or top.startswith("repo") or sample.name in OTHER_FORMAT_FILES:
        return "other"
    return "pickle"


FAMILY_TITLES = {"pickle": "pickle family", "other": "other formats"}


def _cell(verdict: Verdict) -> str:
    return _SYMBOL[verdict.hit] + (f" ({verdict.note})" if verdict.note else "")


def _columns(tools: list[str]) -> list[str]:
    cols = []
    for name in tools:
        cols.append(name)
        if name == "fickling":
            cols.append("fickling >SAFE")
    return cols


def _column_cell(col: str, verdict: Verdict) -> str:
    if col == "fickling >SAFE":
        return _SYMBOL[bool(verdict.loose)]
    return _cell(verdict)


def _column_hit(col: str, verdict: Verdict) -> bool:
    return bool(verdict.loose) if col == "fickling >SAFE" else verdict.hit


def _tool_of(col: str) -> str:
    return col.split()[0]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def summarize(
    corpus: Corpus, tools: list[str], results: dict[str, dict[str, Verdict]]
) -> dict[str, Any]:
    cols = _columns(tools)
    mal = [corpus.rel(s) for s in corpus.malicious]
    ben = [corpus.rel(s) for s in corpus.benign]
    reachable = [corpus.rel(s) for s in corpus.malicious if s.loader]
    fam = {corpus.rel(s): family(s) for s in corpus.malicious + corpus.benign}
    totals: dict[str, dict[str, Any]] = {}
    for col in cols:
        tool = _tool_of(col)
        notes: dict[str, int] = {}
        for rel in mal + ben:
            note = results[rel][tool].note
            if note in _NO_VERDICT:
                notes[note] = notes.get(note, 0) + 1
        seconds = [results[rel][tool].seconds for rel in mal + ben]
        totals[col] = {
            "detected": sum(_column_hit(col, results[r][tool]) for r in mal),
            "detected_loader_reachable": sum(_column_hit(col, results[r][tool]) for r in reachable),
            "false_positives": sum(_column_hit(col, results[r][tool]) for r in ben),
            "by_family": {
                f: {
                    "detected": sum(_column_hit(col, results[r][tool]) for r in mal if fam[r] == f),
                    "false_positives": sum(
                        _column_hit(col, results[r][tool]) for r in ben if fam[r] == f
                    ),
                }
                for f in FAMILY_TITLES
            },
            "no_verdict": notes,
            "median_seconds": round(statistics.median(seconds), 3),
            "total_seconds": round(sum(seconds), 1),
        }
    return {
        "malicious": len(mal),
        "malicious_loader_reachable": len(reachable),
        "benign": len(ben),
        "by_family": {
            f: {
                "malicious": sum(fam[r] == f for r in mal),
                "benign": sum(fam[r] == f for r in ben),
            }
            for f in FAMILY_TITLES
        },
        "by_tool": totals,
    }


def detection_markdown(
    corpus: Corpus, tools: list[str], results: dict[str, dict[str, Verdict]], totals: dict[str, Any]
) -> list[str]:
    cols = _columns(tools)
    out: list[str] = []
    for fam, title in FAMILY_TITLES.items():
        out += [f"## Malicious samples, {title} (one per technique)", ""]
        rows = []
        for s in corpus.malicious:
            if family(s) != fam:
                continue
            verdicts = results[corpus.rel(s)]
            cells = [_column_cell(c, verdicts[_tool_of(c)]) for c in cols]
            rows.append([s.technique, f"`{s.name}`", s.loader or "—", *cells])
        out += [*_table(["technique", "file", "loader", *cols], rows), ""]

    out += ["## Benign samples (✓ = false positive)", ""]
    kinds: dict[str, list[Sample]] = {}
    for s in corpus.benign:
        kinds.setdefault(s.technique, []).append(s)
    rows = []
    for kind, samples in kinds.items():
        cells = []
        for c in cols:
            fps = sum(_column_hit(c, results[corpus.rel(s)][_tool_of(c)]) for s in samples)
            cells.append(f"{fps}/{len(samples)}")
        rows.append([kind, *cells])
    out += _table(["kind", *cols], rows)

    by = totals["by_tool"]
    out += ["", "## Totals", ""]
    rows = [
        [f"detected (of {totals['malicious']} malicious)", *[str(by[c]["detected"]) for c in cols]],
        *[
            [
                f"… {title} (of {totals['by_family'][f]['malicious']})",
                *[str(by[c]["by_family"][f]["detected"]) for c in cols],
            ]
            for f, title in FAMILY_TITLES.items()
        ],
        [
            f"detected, payload runs in a common loader "
            f"(of {totals['malicious_loader_reachable']})",
            *[str(by[c]["detected_loader_reachable"]) for c in cols],
        ],
        [
            f"false positives (of {totals['benign']} benign)",
            *[str(by[c]["false_positives"]) for c in cols],
        ],
        *[
            [
                f"… {title} (of {totals['by_family'][f]['benign']})",
                *[str(by[c]["by_family"][f]["false_positives"]) for c in cols],
            ]
            for f, title in FAMILY_TITLES.items()
        ],
        [
            "no verdict (timeout / crash / not scanned / error)",
            *[", ".join(f"{k} {v}" for k, v in by[c]["no_verdict"].items()) or "—" for c in cols],
        ],
        ["median seconds per file (CLI)", *[f"{by[c]['median_seconds']:.2f}" for c in cols]],
    ]
    out += _table(["", *cols], rows)

    out += ["", "### Peer false positives", ""]
    any_fp = False
    for c in cols:
        tool = _tool_of(c)
        for s in corpus.benign:
            v = results[corpus.rel(s)][tool]
            if _column_hit(c, v) and tool != "openward":
                any_fp = True
                out.append(f"- {c}: `{s.name}`: {v.detail}")
    if not any_fp:
        out.append("- none")

    out += ["", "### Peer crashes, errors and files not scanned", ""]
    groups: dict[tuple[str, str, str], list[str]] = {}
    for s in corpus.malicious + corpus.benign:
        for tool, v in results[corpus.rel(s)].items():
            if tool != "openward" and v.note in _NO_VERDICT:
                groups.setdefault((tool, v.note, v.detail), []).append(corpus.rel(s))
    for (tool, note, detail), files in sorted(groups.items()):
        examples = ", ".join(f"`{f}`" for f in files[:3]) + (", …" if len(files) > 3 else "")
        out.append(f"- {tool}, {note} ×{len(files)}: {detail} ({examples})")
    if not groups:
        out.append("- none")

    out += ["", "### openward misses and false positives (bugs)", ""]
    bugs = 0
    if "openward" in tools:
        for s in corpus.malicious + corpus.benign:
            v = results[corpus.rel(s)]["openward"]
            if v.hit == s.malicious:
                continue
            bugs += 1
            what = "MISSED" if s.malicious else "FALSE POSITIVE"
            expect = f", expected {s.expected_rule}/{s.expected_severity}" if s.malicious else ""
            out.append(f"- {what} `{s.name}` ({s.technique}{expect}): {v.note or v.detail}")
            for f in v.findings:
                out.append(
                    f"  - {f['rule_id']}/{f['severity']} member={f['member']} "
                    f"offset={f['offset']}: {_short(str(f['message']), 200)}; "
                    f"evidence: {_short(str(f['evidence']), 200)}"
                )
    if not bugs:
        out.append("- none: every malicious sample detected, no benign finding at medium or above")
    return out


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def hyperfine(
    argv: list[str], *, runs: int, warmup: int, export: Path, cwd: Path
) -> dict[str, Any]:
    """Time ``argv`` with hyperfine (no shell, failures ignored: exit 1/2 are verdicts)."""
    cmd = [HYPERFINE, "-N", "-i", "-w", str(warmup), "-r", str(runs), "--style", "none"]
    cmd += ["--export-json", str(export), shlex.join(argv)]
    limit = (runs + warmup) * TIMEOUT_S * 2
    proc = subprocess.run(
        cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=limit, check=False
    )
    if proc.returncode != 0:
        return {"error": _short(proc.stderr, 300)}
    result = json.loads(export.read_text())["results"][0]
    return {
        "mean": result["mean"],
        "stddev": result["stddev"] or 0.0,
        "min": result["min"],
        "max": result["max"],
        "runs": len(result["times"]),
        "user": result.get("user", 0.0),
        "system": result.get("system", 0.0),
        "exit_codes": sorted(set(result.get("exit_codes") or [])),
        "command": shlex.join(argv),
    }


def ensure_big_file(directory: Path, gib: float) -> Path:
    """A torch.save checkpoint of ``gib`` GiB of float32 4096x4096 tensors (reused if present)."""
    count = max(1, round(gib * GIB / TENSOR_BYTES))
    size = count * TENSOR_BYTES
    path = directory / f"checkpoint_{size / GIB:g}gib.pt"
    if path.exists() and size <= path.stat().st_size <= size + (16 << 20):
        return path
    import torch  # only here: importing torch costs seconds

    directory.mkdir(parents=True, exist_ok=True)
    print(f"building {path} ({count} tensors) ...", file=sys.stderr, flush=True)
    generator = torch.Generator().manual_seed(0)
    state = {
        f"layers.{i}.weight": torch.randn(4096, 4096, generator=generator) for i in range(count)
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


_PICKLESCAN_INPROCESS = """
import json, sys, time
from picklescan.scanner import scan_file_path
times, issues = [], None
for _ in range(5):
    t = time.perf_counter()
    r = scan_file_path(sys.argv[1])
    times.append(time.perf_counter() - t)
    issues = r.issues_count
print(json.dumps({"best": min(times), "first": times[0], "issues": issues}))
"""


def big_file_timing(path: Path, tools: dict[str, Tool], out: Path, scratch: Path) -> dict[str, Any]:
    size = path.stat().st_size
    big = Sample(path.name, "big-torch-zip", "benign torch.save checkpoint", False)
    rows: dict[str, Any] = {}
    for name, tool in tools.items():
        print(f"big file: {name} ...", file=sys.stderr, flush=True)
        verdict = tool.scan(big, path)
        slow = name == "modelaudit"
        timing = hyperfine(
            tool.argv(path),
            runs=3 if slow else 10,
            warmup=1 if slow else 2,
            export=out / f"hyperfine_big_{name}.json",
            cwd=scratch,
        )
        rows[name] = {"verdict": asdict(verdict) | {"findings": []}, "cli": timing}
    if "openward" in tools:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            report = openward.scan(path)
            times.append(time.perf_counter() - start)
        rows["openward"]["in_process"] = {
            "best": min(times),
            "first": times[0],
            "findings": len(report.findings),
        }
    if "picklescan" in tools:
        proc = run(
            [str(PEER_BIN / "python"), "-c", _PICKLESCAN_INPROCESS, str(path)],
            cwd=scratch,
            timeout=TIMEOUT_S * 6,
        )
        if proc.rc == 0:
            rows["picklescan"]["in_process"] = json.loads(proc.stdout)
        else:
            rows["picklescan"]["in_process"] = {"error": _short(proc.stderr, 200)}
    return {"path": str(path), "bytes": size, "tools": rows}


def _verdict_text(verdict: dict[str, Any]) -> str:
    if verdict["note"]:
        return f"{verdict['note']}: {verdict['detail']}"
    return f"{'flagged' if verdict['hit'] else 'clean'}: {verdict['detail']}"


def big_file_markdown(big: dict[str, Any]) -> list[str]:
    gib = big["bytes"] / GIB
    out = [
        f"## Large file: `{Path(big['path']).name}` ({gib:.2f} GiB, torch.save zip, benign)",
        "",
        "hyperfine `-N -w 2 -r 10` (modelaudit `-w 1 -r 3`), warm page cache, cached bytecode. "
        "GiB/s is file size over time, not bytes read: a scanner that parses only the zip "
        "directory and `data.pkl` never touches the tensor data, so CLI times are mostly "
        "start-up (imports) and in-process times are the scan proper.",
        "",
    ]
    rows = []
    for name, row in big["tools"].items():
        cli = row["cli"]
        if "error" in cli:
            rows.append([f"{name} CLI", "hyperfine failed", "", "", cli["error"]])
        else:
            rows.append(
                [
                    f"{name} CLI",
                    f"{cli['mean']:.3f} ± {cli['stddev']:.3f}",
                    f"{cli['min']:.3f}",
                    f"{gib / cli['mean']:.2f}",
                    f"rc {cli['exit_codes']}; {_verdict_text(row['verdict'])}",
                ]
            )
        inproc = row.get("in_process")
        if inproc and "best" in inproc:
            api = "openward.scan(path)" if name == "openward" else "scan_file_path(path)"
            rows.append(
                [
                    f"{name} in-process `{api}`",
                    f"first call {inproc['first']:.4f}",
                    f"{inproc['best']:.4f} (best of 5)",
                    f"{gib / inproc['best']:.0f}",
                    "",
                ]
            )
        elif inproc:
            rows.append([f"{name} in-process", "failed", "", "", inproc.get("error", "")])
    out += _table(["tool", "mean ± σ (s)", "min (s)", "GiB/s", "verdict"], rows)
    return out


def headers_only_timing(
    directory: Path,
    layers: int,
    corpus: Corpus,
    results: dict[str, dict[str, Verdict]],
    tools: dict[str, Tool],
    out: Path,
    scratch: Path,
) -> dict[str, Any]:
    """10 GiB safetensors and GGUF files: every tool, ``cat`` as the I/O floor.

    A peer *covers* a format when it detected most of that format's malicious
    samples in the detection pass; the speed target compares openward
    with the fastest covering peer."""
    files = {
        "safetensors": build_safetensors(directory / f"llama_{layers}l.safetensors", layers),
        "gguf": build_gguf(directory / f"llama_{layers}l.gguf", layers),
    }
    formats: dict[str, Any] = {}
    for fmt, path in files.items():
        members = [corpus.rel(s) for s in corpus.malicious if s.name.startswith(f"{fmt}/")]
        rows: dict[str, Any] = {}
        print(f"{fmt} {path.stat().st_size / GIB:.1f} GiB: cat ...", file=sys.stderr, flush=True)
        rows["cat"] = {
            "cli": hyperfine(
                ["cat", str(path)],
                runs=5,
                warmup=1,
                export=out / f"hyperfine_{fmt}_cat.json",
                cwd=scratch,
            )
        }
        sample = Sample(path.name, f"big-{fmt}", f"benign {fmt}", False)
        for name, tool in tools.items():
            print(f"{fmt}: {name} ...", file=sys.stderr, flush=True)
            verdict = tool.scan(sample, path)
            slow = name == "modelaudit"
            timing = hyperfine(
                tool.argv(path),
                runs=2 if slow else 10,
                warmup=0 if slow else 2,
                export=out / f"hyperfine_{fmt}_{name}.json",
                cwd=scratch,
            )
            hits = sum(results[rel][name].hit for rel in members)
            covers = 2 * hits > len(members)
            rows[name] = {
                "verdict": asdict(verdict) | {"findings": []},
                "cli": timing,
                "covers": covers,
                "detected": f"{hits}/{len(members)}",
            }
        if "openward" in tools:
            times = []
            for _ in range(5):
                start = time.perf_counter()
                report = openward.scan(path)
                times.append(time.perf_counter() - start)
            rows["openward"]["in_process"] = {
                "best": min(times),
                "first": times[0],
                "findings": len(report.findings),
            }
        formats[fmt] = {"path": str(path), "bytes": path.stat().st_size, "tools": rows}
    return {"layers": layers, "formats": formats}


def headers_only_markdown(result: dict[str, Any]) -> list[str]:
    out = [
        "## Headers only: 10 GiB safetensors and GGUF files (benign)",
        "",
        f"Llama-3-8B shapes cut to {result['layers']} blocks, 16-bit weights; the GGUF carries "
        "a full Llama-3 tokenizer (128256 tokens, 280147 merges, chat template). Real bytes on "
        "disk, warm page cache. hyperfine `-N -w 2 -r 10` (`cat` `-w 1 -r 5`, modelaudit "
        "`-w 0 -r 2`). *covers*: the tool detected most of this format's malicious samples "
        "in the detection pass above.",
        "",
    ]
    for fmt, data in result["formats"].items():
        gib = data["bytes"] / GIB
        out += [f"### `{Path(data['path']).name}` ({gib:.2f} GiB)", ""]
        rows = []
        openward_mean = None
        fastest_peer: tuple[float, str] | None = None
        for name, row in data["tools"].items():
            cli = row["cli"]
            if "error" in cli:
                rows.append([name, "hyperfine failed", "", "", "", cli["error"]])
                continue
            if name == "openward":
                openward_mean = cli["mean"]
            elif (
                name != "cat"
                and row.get("covers")
                and (fastest_peer is None or cli["mean"] < fastest_peer[0])
            ):
                fastest_peer = (cli["mean"], name)
            covers = "—" if name == "cat" else ("yes" if row["covers"] else "no")
            verdict = "" if name == "cat" else _verdict_text(row["verdict"])
            detected = row.get("detected", "")
            rows.append(
                [
                    name,
                    f"{cli['mean']:.3f} ± {cli['stddev']:.3f}",
                    f"{gib / cli['mean']:.1f}",
                    covers,
                    detected,
                    verdict,
                ]
            )
            inproc = row.get("in_process")
            if inproc:
                rows.append(
                    [
                        f"{name} in-process `openward.scan(path)`",
                        f"{inproc['best']:.4f} (best of 5; first {inproc['first']:.4f})",
                        f"{gib / inproc['best']:.0f}",
                        "",
                        "",
                        "",
                    ]
                )
        out += _table(
            ["tool", "mean ± σ (s)", "GiB/s", "covers", "format samples detected", "verdict"],
            rows,
        )
        if openward_mean:
            ratios = [
                f"{name} {row['cli']['mean'] / openward_mean:.2g}× "
                f"(detects {row['detected']} of the format's samples)"
                for name, row in data["tools"].items()
                if name not in ("cat", "openward")
                and "mean" in row["cli"]
                and not row["detected"].startswith("0/")
            ]
            if fastest_peer:
                out += [
                    "",
                    f"openward is {fastest_peer[0] / openward_mean:.0f}× faster than the fastest "
                    f"peer covering {fmt} ({fastest_peer[1]}).",
                ]
            if ratios:
                out += [
                    "",
                    "openward's speed-up over peers that detect any sample: "
                    + "; ".join(ratios)
                    + ".",
                ]
        out.append("")
    return out


def parallel_timing(directory: Path, files: int, out: Path, scratch: Path) -> dict[str, Any]:
    """openward on a ``files``-file repository with one worker and with two."""
    root = build_repository(directory / f"repo_{files}", files)
    rows = {}
    for jobs in (1, 2):
        argv = [str(OPENWARD_BIN), "scan", str(root), "--json", "-j", str(jobs)]
        print(f"repository: openward -j {jobs} ...", file=sys.stderr, flush=True)
        proc = run(argv, cwd=scratch)
        report = json.loads(proc.stdout) if proc.rc in (0, 1) else {}
        timing = hyperfine(
            argv, runs=10, warmup=2, export=out / f"hyperfine_repo_j{jobs}.json", cwd=scratch
        )
        rows[jobs] = {
            "cli": timing,
            "rc": proc.rc,
            "files_analysed": report.get("summary", {}).get("files_analysed"),
            "findings": len(report.get("findings", [])),
        }
    return {"path": str(root), "files": files, "jobs": rows}


def parallel_markdown(result: dict[str, Any]) -> list[str]:
    out = [
        f"## Parallel: a {result['files']}-file repository, one worker vs two",
        "",
        "Half PyTorch zip shards (160 tensor records each), a third safetensors shards, the rest "
        "configs, tokenizer config with a chat template, and modelling code. hyperfine "
        "`-N -w 2 -r 10`; CPU is hyperfine's user + system time of the whole process tree, "
        "so CPU ÷ wall is the number of cores kept busy on average (start-up included).",
        "",
    ]
    rows = []
    for jobs, row in result["jobs"].items():
        cli = row["cli"]
        if "error" in cli:
            rows.append([f"-j {jobs}", "failed", "", "", cli["error"]])
            continue
        cpu = cli.get("user", 0.0) + cli.get("system", 0.0)
        rows.append(
            [
                f"`openward scan DIR -j {jobs}`",
                f"{cli['mean']:.3f} ± {cli['stddev']:.3f}",
                f"{cpu:.3f}",
                f"{cpu / cli['mean']:.2f}",
                f"{row['files_analysed']} files, {row['findings']} findings",
            ]
        )
    out += _table(["command", "wall (s)", "CPU (s)", "cores busy", "report"], rows)
    one, two = result["jobs"].get(1, {}).get("cli", {}), result["jobs"].get(2, {}).get("cli", {})
    if "mean" in one and "mean" in two:
        out += ["", f"Two workers: {one['mean'] / two['mean']:.2f}× faster than one."]
    return out


def directory_timing(
    corpus: Corpus, tools: dict[str, Tool], out: Path, scratch: Path
) -> dict[str, Any]:
    files = sorted(str(p.relative_to(corpus.zoo)) for p in corpus.zoo.rglob("*") if p.is_file())
    malicious = {corpus.rel(s) for s in corpus.malicious}
    rows: dict[str, Any] = {}
    for name, tool in tools.items():
        if not tool.has_dir_mode():
            rows[name] = {"note": "no directory mode"}
            continue
        print(f"directory: {name} ...", file=sys.stderr, flush=True)
        tool.reset()
        proc = run(tool.argv(corpus.zoo), cwd=scratch, timeout=TIMEOUT_S * 10)
        if proc.rc is None:
            rows[name] = {"note": "timeout", "seconds": proc.seconds}
            continue
        try:
            scanned, flagged, note = tool.flagged_files(proc, files)
        except (json.JSONDecodeError, KeyError) as exc:
            scanned, flagged, note = None, set(), f"unreadable output: {exc!r}"
        summary = DirSummary(
            scanned, len(flagged & malicious), len(flagged - malicious), note or ""
        )
        timing = hyperfine(
            tool.argv(corpus.zoo),
            runs=3,
            warmup=0,
            export=out / f"hyperfine_dir_{name}.json",
            cwd=scratch,
        )
        rows[name] = asdict(summary) | {"rc": proc.rc, "cli": timing}
    return {
        "path": str(corpus.zoo),
        "files": len(files),
        "malicious": len(malicious),
        "benign": len(files) - len(malicious),
        "tools": rows,
    }


def directory_markdown(result: dict[str, Any]) -> list[str]:
    out = [
        f"## Directory scan: the whole zoo ({result['files']} files: "
        f"{result['malicious']} malicious, {result['benign']} benign)",
        "",
        f"hyperfine `-N -r 3` after one untimed run; openward uses `-j {DIR_JOBS}`. "
        "picklescan and modelscan pick files by extension in directory mode "
        "(renamed payloads are never opened); fickling has no directory mode. "
        "Flagged: files with a finding under the tool's rule "
        "(openward: high or above, modelaudit: critical, others: any).",
        "",
    ]
    rows = []
    for name, row in result["tools"].items():
        if "cli" not in row:
            rows.append([name, "—", "—", "—", "—", row["note"]])
            continue
        cli = row["cli"]
        timing = "failed" if "error" in cli else f"{cli['mean']:.3f} ± {cli['stddev']:.3f}"
        rows.append(
            [
                name,
                timing,
                "?" if row["scanned"] is None else str(row["scanned"]),
                f"{row['flagged_malicious']}/{result['malicious']}",
                f"{row['flagged_benign']}/{result['benign']}",
                f"rc {row['rc']}" + (f"; {row['note']}" if row["note"] else ""),
            ]
        )
    out += _table(
        ["tool", "mean ± σ (s)", "files scanned", "malicious flagged", "benign flagged", "note"],
        rows,
    )
    return out


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def check_markers(markers: Path) -> list[str]:
    created = sorted(str(p) for p in markers.rglob("*"))
    if created:
        bar = "!" * 78
        print(f"\n{bar}\nPAYLOAD EXECUTED: marker files were created:", file=sys.stderr)
        for path in created:
            print(f"  {path}", file=sys.stderr)
        print(f"Some tool ran a payload while scanning.\n{bar}\n", file=sys.stderr)
    return created


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--corpus", type=Path, default=REPO / "benchmarks" / ".corpus")
    parser.add_argument("--big-gib", type=float, default=2.0, help="size of the large file")
    parser.add_argument("--skip-big", action="store_true", help="skip the large-file timing")
    parser.add_argument("--skip-dir", action="store_true", help="skip the directory timing")
    parser.add_argument(
        "--headers-layers",
        type=int,
        default=20,
        help="Llama blocks in the headers-only safetensors/GGUF files (20 = 10.1 GiB each)",
    )
    parser.add_argument(
        "--skip-headers", action="store_true", help="skip the 10 GiB safetensors/GGUF timing"
    )
    parser.add_argument(
        "--skip-parallel", action="store_true", help="skip the 100-file repository timing"
    )
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    args = parser.parse_args(argv)
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(args.tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tools {unknown}; choose from {', '.join(TOOLS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    now = datetime.datetime.now(datetime.UTC)
    names = available_tools([t for t in TOOLS if t in args.tools])
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    # Every tool starts from cached bytecode, openward included (pip compiled the peers).
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "src")], env=tool_env(), check=True
    )
    corpus = build_corpus(args.corpus.resolve())
    info = machine()
    tool_versions = versions(names)

    with tempfile.TemporaryDirectory(prefix="scan_peers-") as tmp:
        scratch = Path(tmp)
        tools = {name: TOOL_CLASSES[name](scratch) for name in names}
        results = detection_pass(corpus, tools)
        totals = summarize(corpus, names, results)
        big = None
        if not args.skip_big:
            path = ensure_big_file(corpus.root / "big", args.big_gib)
            big = big_file_timing(path, tools, out, scratch)
        directory = None if args.skip_dir else directory_timing(corpus, tools, out, scratch)
        headers = None
        if not args.skip_headers:
            headers = headers_only_timing(
                corpus.root / "big", args.headers_layers, corpus, results, tools, out, scratch
            )
        parallel = None
        if not args.skip_parallel and "openward" in tools:
            parallel = parallel_timing(corpus.root, 100, out, scratch)

    markers = check_markers(corpus.markers)
    elapsed = time.perf_counter() - started

    md = [
        "# openward vs peer scanners",
        "",
        f"- date: {now:%Y-%m-%d %H:%M} UTC; total run time {elapsed / 60:.1f} min",
        f"- machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory']} RAM, "
        f"{info['platform']}, Python {info['python']}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in tool_versions.items()),
        f"- corpus: {corpus.zoo} ({len(corpus.malicious)} malicious, "
        f"{len(corpus.benign)} benign), built by `openward._samples`",
        "- payload markers created: "
        + ("**" + ", ".join(markers) + "** (A TOOL EXECUTED A PAYLOAD)" if markers else "none"),
        "",
        "Rules:",
        "",
        *[f"- **{name}**: {DEFINITIONS[name]}" for name in names],
        "",
        f"Note: {CAVEAT}",
        "",
        *detection_markdown(corpus, names, results, totals),
    ]
    if big:
        md += ["", *big_file_markdown(big)]
    if directory:
        md += ["", *directory_markdown(directory)]
    if headers:
        md += ["", *headers_only_markdown(headers)]
    if parallel:
        md += ["", *parallel_markdown(parallel)]
    text = "\n".join(md) + "\n"

    payload = {
        "date": now.isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "machine": info,
        "versions": tool_versions,
        "definitions": {name: DEFINITIONS[name] for name in names},
        "caveat": CAVEAT,
        "markers_created": markers,
        "totals": totals,
        "samples": [
            {
                "file": corpus.rel(s),
                "technique": s.technique,
                "description": s.description,
                "malicious": s.malicious,
                "loader": s.loader,
                "expected_rule": s.expected_rule,
                "expected_severity": s.expected_severity,
                "results": {name: asdict(v) for name, v in results[corpus.rel(s)].items()},
            }
            for s in corpus.malicious + corpus.benign
        ],
        "big_file": big,
        "directory": directory,
        "headers_only": headers,
        "parallel": parallel,
    }
    (out / "scan_peers.md").write_text(text)
    (out / "scan_peers.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(text)
    print(f"wrote {out / 'scan_peers.md'} and {out / 'scan_peers.json'}", file=sys.stderr)
    return 3 if markers else 0


if __name__ == "__main__":
    sys.exit(main())
