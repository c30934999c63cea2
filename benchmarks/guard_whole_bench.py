"""The whole guard (default policy, every input detector) on the held-out test split, by kind.

    python benchmarks/guard_whole_bench.py [--data ../shared/data] [--scale 0.25] [--json OUT]

The classifier's test split (``openward.guard.training.data``: shared sets split by source and
near-duplicate cluster, generated documents, tool output, few-shot prompts, planted attacks,
held-out phrasing families) plus the realistic kinds of ``training.realistic`` (instruction-laden
documents, few-shot formats, attacks planted inside them; never trained on by the shipped
weights). Each text is sent the way it arrives: documents, tool output and indirect attacks as
a ``tool`` message after a user turn, the rest as the user's message. Reports, per kind, the
share the guard does not allow (attacks: caught; benign: false positives) and which detectors
acted. ``guard_bench.py --only detection`` scores the classifier alone; this is what a user of
the default policy gets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import sysconfig
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from openward.guard.engine import Engine, parse_body  # noqa: E402
from openward.guard.policy import Policy  # noqa: E402
from openward.guard.training import data as D  # noqa: E402

UNTRUSTED = ("document", "tool", "indirect", "bipia", "realistic_host")


def body(kind: str, text: str) -> dict[str, Any]:
    """The request a text arrives in: untrusted material as a tool result, the rest as a user
    message (``injection_cse_direct`` is direct although its name holds "direct")."""
    if any(u in kind for u in UNTRUSTED) and "direct" not in kind.replace("indirect", ""):
        call = {"id": "c", "type": "function", "function": {"name": "read", "arguments": "{}"}}
        return {
            "model": "m",
            "messages": [
                {"role": "user", "content": "Please help with the result below."},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c", "content": text},
            ],
        }
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--scale", type=float, default=0.25, help="generated test counts (as training)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if not (args.data / "guard").is_dir():
        raise SystemExit(f"no {args.data / 'guard'}: pass --data")
    t0 = time.time()
    mats = D.collect_material(Path(sysconfig.get_paths()["purelib"]))
    shared = D.load_shared(args.data / "guard", args.data / "redteam")
    test = [e for e in shared if e.split == "test"]
    test += D.generate(
        "test",
        mats,
        shared,
        D.load_bipia_instructions(args.data / "guard"),
        D.load_bipia_emails(args.data / "guard"),
        dataclasses.replace(D.Counts(), **D.REALISTIC).scaled(args.scale),
        seed=0,
    )
    print(f"test split: {len(test)} texts ({time.time() - t0:.0f} s to build)", flush=True)
    engine = Engine(Policy())
    agg: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    acted: dict[str, Counter[str]] = defaultdict(Counter)
    t0 = time.time()
    for i, ex in enumerate(test):
        req = parse_body("chat", body(ex.kind, ex.text), engine.policy.untrusted)
        dec = engine.decide(req, engine.inspect_request(req, engine.context("bench")))
        hit = dec.action != "allow"
        agg[ex.kind][0] += hit
        agg[ex.kind][1] += 1
        if hit:
            acted[ex.kind.split(":")[0]].update({f.name for f in dec.findings})
        if (i + 1) % 1000 == 0:
            print(f"  {i + 1}/{len(test)}", file=sys.stderr, flush=True)
    print(f"{len(test)} requests in {time.time() - t0:.0f} s\n")
    print("| kind | not allowed | n | rate |\n|---|---:|---:|---:|")
    tot = [0, 0]
    for kind in sorted(agg):
        h, n = agg[kind]
        print(f"| {kind} | {h} | {n} | {100 * h / n:.1f} % |")
        if kind.startswith("attack"):
            tot[0] += h
            tot[1] += n
    print(f"| **attacks, all** | {tot[0]} | {tot[1]} | {100 * tot[0] / max(tot[1], 1):.1f} % |")
    for side, c in acted.items():
        print(
            f"\n{side}: requests each detector acted on: "
            + ", ".join(f"{k} {v}" for k, v in c.most_common())
        )
    if args.json:
        args.json.write_text(
            json.dumps({"kinds": agg, "acted": acted, "attacks": tot}, indent=1), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
