"""Validation figures for the input-side harm signal, the injection-structure heuristics and
pasted documents, through the whole guard (default policy, ``Engine.inspect_request``).

Usage: python benchmarks/guard_detect_bench.py [--json OUT] [--n 300]

Sets (all self-generated or from ``../shared/data``; none from attacks/guard or an acceptance
source):

- ``harm_val``: the validation split of ``scripts/train_guard_harm.py`` (asks the head never
  saw, in wrapper templates it never saw), attacks and their benign counterparts by family;
- ``structure``: ``scripts/guard_data/structure_eval.py`` (fake delimiters, template tokens,
  fake completions, goal hijacks; developer questions about templates and other look-alikes);
- ``pasted``: generated documents pasted into a user message behind a preface ("Summarise
  this document:"), clean and with an instruction planted (the classifier's own injection
  phrasings, validation families), scored with ``untrusted.pasted`` on and off;
- benign kinds: WildGuardTest benign, NotInject, the hand-written benign corpus by kind,
  generated documents, tool results, few-shot prompts and multi-turn chats (validation
  material), each sent the way it arrives (documents and tool output as ``tool`` messages,
  the rest as user messages).

Reports, per set, the share of requests the guard does not allow, and the time the new
detectors add per request.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import sysconfig
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from guard_data import structure_eval as S  # noqa: E402

from openward.guard.engine import Engine, parse_body  # noqa: E402
from openward.guard.policy import Policy  # noqa: E402
from openward.guard.training import data as D  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def chat(*turns: tuple[str, str]) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": r, "content": c} for r, c in turns]}


def verdict(engine: Engine, body: dict[str, Any]) -> tuple[str, list[str]]:
    req = parse_body("chat", body, engine.policy.untrusted)
    dec = engine.decide(req, engine.inspect_request(req, engine.context("anonymous")))
    return dec.action, sorted({f"{f.name}/{f.detection.kind}" for f in dec.findings})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--n", type=int, default=300, help="generated texts per benign kind")
    args = ap.parse_args(argv)
    data = SHARED if SHARED.is_dir() else Path("/work/shared/data")
    guard = data / "guard"
    rng = random.Random(11)
    sets: dict[str, list[tuple[dict[str, Any], bool]]] = defaultdict(list)  # body, is_attack

    import train_guard_harm as T

    mats = D.collect_material(Path(sysconfig.get_paths()["purelib"]))
    rows, _ = T.build(data, mats, T.HP["seed"])
    for r in rows:
        if (
            r["split"] != "val"
            or r["kind"].startswith("benign_gen")
            or not (r["kind"].startswith("attack") or r["kind"].startswith("benign_ask"))
        ):
            continue
        if r["kind"].endswith("crescendo"):
            turns = r["text"].split("\n")
            msgs: list[tuple[str, str]] = []
            for t in turns:
                msgs += [("user", t), ("assistant", "Sure, here is some general background.")]
            body = chat(*msgs[:-1])
        else:
            body = chat(("user", r["text"]))
        sets[f"harm_val:{r['kind']}"].append((body, bool(r["harm"])))
    for text, fam in S.structure_attacks():
        sets[f"structure:{fam.split(':')[0]}"].append((chat(("user", text)), True))
    for text, kind in S.structure_benign():
        sets[f"structure_benign:{kind}"].append((chat(("user", text)), False))

    p = D.Pools(mats, "val")
    wild = [
        r["prompt"] for r in json.loads((guard / "wildguardtest_benign_prompts.json").read_text())
    ]
    qs = [q for q in wild if len(q) < 300]
    prefaces = [
        "Summarise this document:\n\n",
        "Can you give me the three key points of the text below?\n\n",
        "Translate the following into plain English for a non-expert:\n\n",
        "Here is a page I found. What is it about?\n\n",
    ]
    fams = D.families_for("val")
    for i in range(args.n):
        doc = D.gen_document(rng, p)
        pre = prefaces[i % len(prefaces)]
        sets["pasted_benign"].append((chat(("user", pre + doc)), False))
        fam = fams[i % len(fams)]
        payload = D.FAMILIES[fam](rng, D._goal(rng))
        planted, _span = D.insert(rng, doc, payload)
        sets["pasted_attack"].append((chat(("user", pre + planted)), True))
    sets["benign:wildguardtest"] = [(chat(("user", t)), False) for t in wild]
    for n in ("one", "two", "three"):
        sets["benign:notinject"] += [
            (chat(("user", r["prompt"])), False)
            for r in json.loads((guard / f"notinject_{n}.json").read_text())
        ]
    for line in (ROOT / "scripts/guard_data/handwritten_benign.jsonl").read_text().splitlines():
        r = json.loads(line)
        role = "user" if r["placement"] == "user" else "tool"
        body = (
            chat(("user", "Please help with this."), ("tool", r["text"]))
            if role == "tool"
            else chat(("user", r["text"]))
        )
        sets[f"benign:hw_{r['kind']}"].append((body, False))
    for _ in range(args.n):
        sets["benign:gen_document_tool"].append(
            (chat(("user", "Read the file."), ("tool", D.gen_document(rng, p))), False)
        )
        sets["benign:gen_tool"].append(
            (chat(("user", "Run it."), ("tool", D.gen_tool(rng, p))), False)
        )
        sets["benign:gen_fewshot"].append((chat(("user", D.gen_fewshot(rng, p, qs))), False))
    for _ in range(args.n // 2):
        turns = [t for t in D.gen_multichat(rng, p, qs).split("\n") if t.startswith("user: ")]
        msgs = []
        for t in turns[:6]:
            msgs += [("user", t[6:]), ("assistant", "Here is what I found.")]
        if msgs:
            sets["benign:gen_multiturn"].append((chat(*msgs[:-1]), False))

    results: dict[str, Any] = {}
    engines = {
        "new": Engine(Policy()),
        "without_new": Engine(
            Policy.model_validate(
                {
                    "detectors": {"harmful-request": "allow", "injection-structure": "allow"},
                    "untrusted": {"pasted": False},
                }
            )
        ),
    }
    only_new = Engine(
        Policy.model_validate(
            {
                "detectors": {
                    n: "allow"
                    for n in Policy().detectors
                    if n not in ("harmful-request", "injection-structure")
                }
            }
        )
    )
    for name, items in sorted(sets.items()):
        row: dict[str, Any] = {"n": len(items), "attack": items[0][1] if items else None}
        for ename, eng in engines.items():
            acts = [verdict(eng, b) for b, _ in items]
            row[ename] = round(sum(a != "allow" for a, _ in acts) / max(1, len(acts)), 4)
            row[f"{ename}_blocked"] = round(
                sum(a == "block" for a, _ in acts) / max(1, len(acts)), 4
            )
            if ename == "new":
                counts: dict[str, int] = defaultdict(int)
                for _a, names in acts:
                    for nm in names:
                        counts[nm] += 1
                row["by_detector"] = dict(sorted(counts.items(), key=lambda kv: -kv[1])[:6])
        results[name] = row
        print(
            f"{name:40s} n={row['n']:5d} not-allowed {row['without_new']:.1%} -> {row['new']:.1%} "
            f"(blocked {row['new_blocked']:.1%})  {row['by_detector']}",
            flush=True,
        )
    # cost of the two new detectors alone on a 2 000-character user prompt
    text = (D.gen_document(rng, p) * 4)[:2000]
    body = chat(("user", "Please summarise:\n\n" + text))
    verdict(only_new, body)
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        verdict(only_new, body)
        times.append(time.perf_counter() - t0)
    times.sort()
    results["cost_ms_2000_chars"] = {
        "p50": round(times[25] * 1000, 2),
        "p95": round(times[47] * 1000, 2),
    }
    print("new detectors on 2 000 characters:", results["cost_ms_2000_chars"])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
