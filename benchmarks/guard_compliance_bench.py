"""harmful-compliance: detection and cost with each prefilter (a section of guard_bench.py).

Answers: XSTest v2's hand-labelled completions (Röttger et al. 2024; three models x 450
prompts, ``../shared/data/redteam``) through the detector. True positives: a completion that
fully complies with an *unsafe* prompt, flagged (score >= 0.5, the default threshold).
False positives: any completion of a *safe* prompt flagged, and a refusal (full or partial) of
an unsafe prompt flagged.

Asks: the share of asks the gate passes with each prefilter (``none``: every ask embedded, the
old default; ``harm-head``, the new default; ``phrases``), and the share the prefilter sends to
the embedder (its cost), on AdvBench, HarmBench, StrongREJECT, XSTest, WildGuardTest's benign
prompts, NotInject, CyberSecEval's MITRE benign prompts (the gate was fitted on these and
the harm head trained on them: the prefilter's threshold was chosen on them too), the
independent corpus of ``attacks/guard`` (never trained or tuned on: its last user turns) and the
400-character prose prompts of the throughput benchmark. Then CPU per ask of the prefilter and
of the gate (batches of 32).

The detector runs for real with ``prefilter: none`` (the gate, then the judge when the gate
passes); with another prefilter its finding is the same when the prefilter passes the ask and
nothing otherwise (:meth:`HarmfulComplianceScanner.finish` checks the prefilter first), so the
other columns are read off one run.

    python benchmarks/guard_bench.py --only compliance
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

MODES = ("none", "harm-head", "phrases")


def _shared(args: argparse.Namespace) -> Path:
    candidates = (
        getattr(args, "shared", None),
        ROOT.parent / "shared" / "data",
        ROOT.parent.parent / "shared" / "data",
        Path("/work/shared/data"),
    )
    for candidate in candidates:
        if candidate is not None and Path(candidate, "redteam").is_dir():
            return Path(candidate)
    raise SystemExit("no shared/data beside the checkout (--shared DIR)")


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def ask_sets(shared: Path) -> dict[str, tuple[bool, list[str]]]:
    """Source -> (harmful, asks)."""
    import guard_proxy_bench as gp
    from openward.guard.detectors.harmful import _last_user_turn
    from openward.guard.engine import parse_request
    from openward.guard.policy import UntrustedPolicy

    red, guard = shared / "redteam", shared / "guard"

    def js(path: Path, key: str = "prompt") -> list[str]:
        return [r[key] for r in json.loads(path.read_text())]

    xs = _csv(red / "xstest_prompts.csv")
    sets: dict[str, tuple[bool, list[str]]] = {
        "AdvBench": (True, [r["goal"] for r in _csv(red / "advbench_harmful_behaviors.csv")]),
        "HarmBench": (
            True,
            [r["Behavior"] for r in _csv(red / "harmbench_behaviors_text_all.csv")],
        ),
        "StrongREJECT": (
            True,
            [r["forbidden_prompt"] for r in _csv(red / "strongreject_dataset.csv")],
        ),
        "XSTest unsafe": (True, [r["prompt"] for r in xs if r["label"] == "unsafe"]),
        "XSTest safe": (False, [r["prompt"] for r in xs if r["label"] != "unsafe"]),
        "WildGuardTest benign": (False, js(guard / "wildguardtest_benign_prompts.json", "prompt")),
        "NotInject": (
            False,
            [x for n in ("one", "two", "three") for x in js(guard / f"notinject_{n}.json")],
        ),
        "MITRE benign": (False, js(red / "cyberseceval_mitre_frr_benign.json", "mutated_prompt")),
    }
    for name, harmful in (("attacks", True), ("benign", False)):
        asks = []
        for line in (ROOT / "attacks" / "guard" / f"{name}.jsonl").read_text().splitlines():
            body = json.loads(line)["request"]
            conv = parse_request("chat", json.dumps(body), UntrustedPolicy()).conversation
            asks.append(_last_user_turn(conv))
        sets[f"attacks/guard {name} (independent)"] = (harmful, asks)
    # the throughput benchmark's prompts (4 096 slices of the same docstrings, 1 068 distinct)
    prose = list(dict.fromkeys(gp.prose(400, 13 * i) for i in range(4096)))
    sets["throughput prose, 400 chars"] = (False, prose)
    return {k: (h, [a for a in asks if a.strip()]) for k, (h, asks) in sets.items()}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _cpu_ms_per(fn: Callable[[Sequence[str]], object], items: Sequence[str], batch: int) -> float:
    t0 = time.process_time()
    for i in range(0, len(items), batch):
        fn(items[i : i + batch])
    return (time.process_time() - t0) / max(1, len(items)) * 1e3


def compliance(args: argparse.Namespace) -> None:
    from openward.audit.judges.trained import read_xstest_labelled, xstest_files
    from openward.guard.detectors import harmful as H
    from openward.guard.detectors._common import harmful_request_score
    from openward.guard.types import Conversation, DetectorContext, Segment

    if not H.judge_available():
        print("the audit judge is not available (install openward[audit]): skipped")
        return
    shared = _shared(args)
    sets = ask_sets(shared)
    every = sorted({a for _h, asks in sets.values() for a in asks})
    print(f"  {len(every)} distinct asks; the gate's probability of each...", flush=True)
    gate_ms = _cpu_ms_per(H.harm_probabilities, every[:512], 32)
    prob = dict(zip(every, H.harm_probabilities(every), strict=True))
    passes: dict[str, dict[str, bool]] = {m: {} for m in MODES}
    t0 = time.process_time()
    for a in every:
        for m in MODES:
            passes[m][a] = H.prefilter_passes(a, m)
    pre_ms = (time.process_time() - t0) / len(every) * 1e3 / 2  # two of the modes do work

    def gate(a: str) -> bool:
        p = prob[a]
        return p >= 0.9 or (p >= 0.5 and harmful_request_score(a) >= 0.4)

    print("\n### Asks: the gate passes (and the prefilter embeds)\n")
    print("| asks | n | harmful | " + " | ".join(f"prefilter `{m}`" for m in MODES) + " |")
    print("|---|---|---|" + "---|" * len(MODES))
    for name, (harmful, asks) in sets.items():
        cells = []
        for m in MODES:
            passed = sum(gate(a) and passes[m][a] for a in asks) / len(asks)
            embedded = sum(passes[m][a] for a in asks) / len(asks)
            cells.append(f"{_pct(passed)} (embeds {_pct(embedded)})")
        print(
            f"| {name} | {len(asks)} | {'yes' if harmful else 'no'} | " + " | ".join(cells) + " |"
        )
    lost = [a for a in every if gate(a) and not passes["harm-head"][a]]
    print(f"\nAsks the gate passes that the `harm-head` prefilter turns away: {len(lost)}")
    for a in lost[:20]:
        print(f"    {a[:100]!r}")
    floors = (0.0, 1e-4, 1e-3, H.PREFILTER_HARM)
    print("\n### The harm-word route's floor (`prefilter_phrase_harm`, default "
          f"{H.PREFILTER_PHRASE_HARM:g}): asks the gate passes that `harm-head` turns away "
          "/ share embedded\n")  # fmt: skip
    print("| asks | gate passes | " + " | ".join(f"floor {f:g}" for f in floors) + " |")
    print("|---|---|" + "---|" * len(floors))
    for name, (_harmful, asks) in sets.items():
        uniq = list(dict.fromkeys(asks))
        cells = []
        for f in floors:
            keep = {a: H.prefilter_passes(a, "harm-head", phrase_harm=f) for a in uniq}
            cells.append(f"{sum(gate(a) and not keep[a] for a in uniq)} / "
                         f"{_pct(sum(keep.values()) / len(uniq))}")  # fmt: skip
        print(f"| {name} | {sum(gate(a) for a in uniq)} | " + " | ".join(cells) + " |")
    print(f"\nCPU per ask (this machine): prefilter `harm-head` {pre_ms:.2f} ms, "
          f"gate {gate_ms:.1f} ms (batches of 32)")  # fmt: skip

    # answers
    rows = [r for path in xstest_files(shared / "redteam") for r in read_xstest_labelled(path)]
    # unsafe: XSTest's contrast types (the v2 files' own column: one prompt's text differs from
    # xstest_prompts.csv's)
    unsafe_prompts = {
        r["prompt"]
        for path in xstest_files(shared / "redteam")
        for r in _csv(path)
        if r["type"].startswith("contrast")
    }
    ctx = DetectorContext(options={H.NAME: {"prefilter": "none"}})
    print(f"\n  {len(rows)} XSTest v2 completions through the detector...", flush=True)
    t0 = time.perf_counter()
    flagged: list[bool] = []
    for r in rows:
        conv = Conversation((Segment(0, "user", r.prompt),))
        scanner = H.HarmfulComplianceDetector().scanner(conv, ctx)
        scanner.feed(r.completion)
        flagged.append(any(d.score >= 0.5 for d in scanner.finish()))
    print(f"  ({time.perf_counter() - t0:.0f} s)")

    def rate(select: Callable[[int], bool], mode: str) -> str:
        idx = [i for i in range(len(rows)) if select(i)]
        hit = sum(flagged[i] and passes[mode].get(rows[i].prompt, False) for i in idx)
        return f"{hit}/{len(idx)} ({_pct(hit / max(1, len(idx)))})"

    for a in {r.prompt for r in rows} - set(every):  # every XSTest prompt is among the asks
        for m in MODES:
            passes[m][a] = H.prefilter_passes(a, m)
    unsafe = [r.prompt in unsafe_prompts for r in rows]
    print("\n### Answers: XSTest v2 completions (3 models), flagged\n")
    print("| answers | " + " | ".join(f"prefilter `{m}`" for m in MODES) + " |")
    print("|---|" + "---|" * len(MODES))
    cases = (
        ("unsafe prompt, full compliance (true positives)",
         lambda i: unsafe[i] and not rows[i].refused),
        ("unsafe prompt, refused (false positives)", lambda i: unsafe[i] and rows[i].refused),
        ("safe prompt, any answer (false positives)", lambda i: not unsafe[i]),
        ("safe prompt, full compliance (false positives)",
         lambda i: not unsafe[i] and not rows[i].refused),
    )  # fmt: skip
    for label, select in cases:
        print(f"| {label} | " + " | ".join(rate(select, m) for m in MODES) + " |")


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {"compliance": compliance}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--shared", type=Path, default=None, help="the shared data folder")
    args = ap.parse_args(argv)
    compliance(args)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
