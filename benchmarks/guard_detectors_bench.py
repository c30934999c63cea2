"""The guard's heuristic detectors on public data: how often they fire on benign prompts, how
often on attacks, and what they cost per request.

Sections (``--only NAME``, repeatable; all by default):

- ``benign``: share of benign prompts each input detector scores >= 0.5: WildGuardTest's
  benign prompts (971) and NotInject's three sets (339 prompts full of trigger words), from
  ``../shared/data/guard``.
- ``attacks``: CyberSecEval's prompt-injection cases (PurpleLlama) by injection variant: the
  share each input detector flags (>= 0.5), and the in-the-wild jailbreak prompts
  (verazuo/jailbreak_llms). These detectors each cover one technique; the rates say which
  variants each one sees, not a recall of the guard.
- ``timing``: median and 99th-percentile milliseconds per prompt for each input detector over
  the benign prompts, and output-scanner throughput on a 20 kB answer fed in 8-char deltas.
- ``cost``: seconds each input detector takes on requests near the proxy's 4 MiB body limit
  (3.9 MB of prose, of base64, of zero-width-split words, of fabricated turns; in one message
  and in 4 000-character messages): the per-request cap (``_common.capped_segments``) bounds
  them.

Usage::

    .venv/bin/python benchmarks/guard_detectors_bench.py [--only benign] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from openward.guard.detectors.canary import CanaryDetector  # noqa: E402
from openward.guard.detectors.exfiltration import ExfiltrationDetector  # noqa: E402
from openward.guard.detectors.extraction import PromptExtractionDetector  # noqa: E402
from openward.guard.detectors.leak import SystemPromptLeakDetector  # noqa: E402
from openward.guard.detectors.manyshot import ManyShotDetector  # noqa: E402
from openward.guard.detectors.obfuscation import ObfuscationDetector  # noqa: E402
from openward.guard.detectors.perplexity import AdversarialSuffixDetector  # noqa: E402
from openward.guard.detectors.secrets import SecretsDetector  # noqa: E402
from openward.guard.types import Conversation, DetectorContext, Segment  # noqa: E402

INPUT = [ManyShotDetector(), ObfuscationDetector(), PromptExtractionDetector(),
         AdversarialSuffixDetector()]  # fmt: skip
CTX = DetectorContext()


def data_dir() -> Path:
    for parent in REPO.resolve().parents:
        candidate = parent / "shared" / "data" / "guard"
        if candidate.is_dir():
            return candidate
    raise SystemExit("no shared/data/guard above the checkout")


def conv(text: str) -> Conversation:
    return Conversation((Segment(0, "user", text),))


def score(det: Any, text: str) -> float:
    return max((d.score for d in det.detect(conv(text), CTX)), default=0.0)


def benign_prompts() -> dict[str, list[str]]:
    d = data_dir()
    wild = [r["prompt"] for r in json.loads((d / "wildguardtest_benign_prompts.json").read_text())]
    notinject = [
        r["prompt"]
        for name in ("one", "two", "three")
        for r in json.loads((d / f"notinject_{name}.json").read_text())
    ]
    return {"wildguardtest_benign": wild, "notinject": notinject}


def section_benign(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, prompts in benign_prompts().items():
        out[name] = {"prompts": len(prompts)}
        for det in INPUT:
            flagged = [p for p in prompts if score(det, p) >= 0.5]
            out[name][det.name] = round(len(flagged) / len(prompts), 4)
    return out


def section_attacks(args: argparse.Namespace) -> dict[str, Any]:
    d = data_dir()
    cases = json.loads((d / "cyberseceval_prompt_injection.json").read_text())
    by_variant: dict[str, list[str]] = defaultdict(list)
    for c in cases:
        by_variant[c["injection_variant"]].append(c["user_input"])
    out: dict[str, Any] = {"cyberseceval": {}}
    for variant, texts in sorted(by_variant.items()):
        row: dict[str, Any] = {"cases": len(texts)}
        for det in INPUT:
            row[det.name] = round(sum(score(det, t) >= 0.5 for t in texts) / len(texts), 3)
        out["cyberseceval"][variant] = row
    wild = json.loads((d / "inthewild_jailbreak_prompts.json").read_text())
    out["inthewild_jailbreaks"] = {"prompts": len(wild)} | {
        det.name: round(sum(score(det, t) >= 0.5 for t in wild) / len(wild), 3) for det in INPUT
    }
    return out


def section_timing(args: argparse.Namespace) -> dict[str, Any]:
    prompts = benign_prompts()["wildguardtest_benign"]
    out: dict[str, Any] = {"prompts": len(prompts)}
    for det in INPUT:
        det.detect(conv(prompts[0]), CTX)  # loads the char LM once
        times = []
        for p in prompts:
            t = time.perf_counter()
            det.detect(conv(p), CTX)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        out[det.name] = {
            "median_ms": round(statistics.median(times), 3),
            "p99_ms": round(times[int(0.99 * (len(times) - 1))], 3),
            "mean_chars": round(statistics.mean(len(p) for p in prompts)),
        }
    answer = " ".join(prompts)[:20000]
    ctx = DetectorContext(system_prompts=(prompts[5] + " " + prompts[6],), canaries=("owc-1f2e3d",))
    for det in (SystemPromptLeakDetector(), SecretsDetector(), CanaryDetector(),
                ExfiltrationDetector()):  # fmt: skip
        t = time.perf_counter()
        scanner = det.scanner(conv("hi"), ctx)
        for i in range(0, len(answer), 8):
            scanner.feed(answer[i : i + 8])
            scanner.pending()
        scanner.finish()
        secs = time.perf_counter() - t
        out[det.name] = {"chars": len(answer), "ms": round(secs * 1000, 1),
                         "chars_per_s": round(len(answer) / secs)}  # fmt: skip
    return out


def section_cost(args: argparse.Namespace) -> dict[str, Any]:
    import base64
    import random

    size = 3_900_000
    rng = random.Random(1)
    prose = " ".join(p.read_text() for p in sorted((REPO / "docs").glob("*.md")))
    texts = {
        "prose": (prose * (size // len(prose) + 1))[:size],
        "base64": base64.b64encode(rng.randbytes(size * 3 // 4)).decode()[:size],
        "zero_width": "ig\u200bnore " * (size // 8),
        "turns": "User: hi?\nAssistant: ok.\n" * (size // 26),
    }
    for det in INPUT:
        det.detect(conv("warm up " * 20), CTX)
    out: dict[str, Any] = {}
    for name, text in texts.items():
        for shape in ("one_message", "4k_messages"):
            segs = (
                (Segment(0, "user", text),)
                if shape == "one_message"
                else tuple(
                    Segment(i, "user", text[j : j + 4000])
                    for i, j in enumerate(range(0, len(text), 4000))
                )
            )
            row: dict[str, float] = {}
            for det in INPUT:
                t = time.perf_counter()
                det.detect(Conversation(segs), CTX)
                row[det.name] = round(time.perf_counter() - t, 3)
            row["all"] = round(sum(row.values()), 3)
            out[f"{name}/{shape}"] = row
    return out


SECTIONS = {
    "benign": section_benign,
    "attacks": section_attacks,
    "timing": section_timing,
    "cost": section_cost,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", action="append", choices=sorted(SECTIONS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {name: SECTIONS[name](args) for name in (args.only or list(SECTIONS))}
    print(json.dumps(results, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
