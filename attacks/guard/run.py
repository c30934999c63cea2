"""Run ``openward guard check -`` over the corpus and report catch and false-positive rates.

    PYTHONPATH=$PWD/src /work/main/.venv/bin/python attacks/guard/run.py [--policy P]
        [--json OUT.json] [--misses N]

The guard is driven exactly as a user would: the request bodies go to ``openward guard check
-`` as JSONL on stdin, one result line comes back per request (the contract: ``{"action":
"allow"|"flag"|"redact"|"block", "detections": [{"detector", "kind", "score"}]}``). An attack
is *caught* when the action is not ``allow``; a benign request is a *false positive* when the
action is not ``allow`` (``block`` false positives are counted apart: they break the user).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load(name: str) -> list[dict[str, Any]]:
    with (HERE / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def check(items: list[dict[str, Any]], policy: str | None) -> tuple[list[dict[str, Any]], float]:
    cmd = [sys.executable, "-m", "openward", "guard", "check", "-"]
    if policy:
        cmd += ["--policy", policy]
    stdin = "".join(json.dumps(it["request"], ensure_ascii=False) + "\n" for it in items)
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, input=stdin, capture_output=True, text=True, env=os.environ.copy(), check=False
    )
    elapsed = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if len(lines) != len(items):
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(
            f"guard check returned {len(lines)} lines for {len(items)} requests "
            f"(exit {proc.returncode})"
        )
    return [json.loads(ln) for ln in lines], elapsed


def caught(result: dict[str, Any]) -> bool:
    return bool(result.get("action", "allow") != "allow")


def short(item: dict[str, Any], n: int = 110) -> str:
    msgs = item["request"].get("messages") or [{"content": item["request"].get("prompt", "")}]
    # the last user/tool text is what the attack or the benign ask lives in
    for m in reversed(msgs):
        c = m.get("content")
        if isinstance(c, list):
            c = " ".join(p.get("text", "") for p in c if isinstance(p, dict))
        if isinstance(c, str) and c.strip():
            flat = " ".join(c.split())
            return flat[:n] + ("..." if len(flat) > n else "")
    return ""


def dets(result: dict[str, Any]) -> str:
    return ", ".join(
        f"{d.get('detector')}/{d.get('kind')}:{d.get('score')}"
        for d in result.get("detections", [])
    )


def table(
    agg: dict[str, list[int]], total: list[int] | None, head: tuple[str, str, str]
) -> list[str]:
    out = [f"| {head[0]} | n | {head[1]} | {head[2]} |", "|---|---:|---:|---:|"]
    rows = [(k, v[0], v[1], v[2]) for k, v in sorted(agg.items())]
    if total is not None:
        rows.append(("**all**", total[0], total[1], total[2]))
    for name, n, a, b in rows:
        out.append(f"| {name} | {n} | {a}/{n} ({a / n:.0%}) | {b}/{n} ({b / n:.0%}) |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy")
    ap.add_argument("--json", help="write every result here")
    ap.add_argument("--misses", type=int, default=1000, help="list at most this many")
    args = ap.parse_args()

    attacks = load("attacks.jsonl")
    benign = load("benign.jsonl")
    ares, at = check(attacks, args.policy)
    bres, bt = check(benign, args.policy)

    print(
        f"# guard check over the corpus ({len(attacks)} attacks {at:.1f} s, "
        f"{len(benign)} benign {bt:.1f} s)\n"
    )

    by_fam: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    by_tech: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    hint_hit = 0
    for it, r in zip(attacks, ares, strict=True):
        for key, agg in ((it["family"], by_fam), (it["technique"], by_tech)):
            agg[key][0] += 1
            agg[key][1] += caught(r)
            agg[key][2] += r.get("action") == "block"
    for r in ares:
        hint_hit += bool(r.get("detections"))
    tot = [
        len(attacks),
        sum(caught(r) for r in ares),
        sum(r.get("action") == "block" for r in ares),
    ]
    print("## Attacks by family (caught = flag/redact/block)\n")
    print("\n".join(table(by_fam, tot, ("family", "caught", "blocked"))))
    print("\n## Attacks by technique\n")
    print("\n".join(table(by_tech, None, ("technique", "caught", "blocked"))))

    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for it, r in zip(benign, bres, strict=True):
        by_kind[it["kind"]][0] += 1
        by_kind[it["kind"]][1] += caught(r)
        by_kind[it["kind"]][2] += r.get("action") == "block"
    btot = [
        len(benign),
        sum(caught(r) for r in bres),
        sum(r.get("action") == "block" for r in bres),
    ]
    print("\n## Benign by kind (false positive = anything but allow)\n")
    print("\n".join(table(by_kind, btot, ("kind", "flagged+", "blocked"))))

    print("\n## Misses (attacks allowed)\n")
    shown = 0
    for it, r in zip(attacks, ares, strict=True):
        if not caught(r) and shown < args.misses:
            shown += 1
            print(f"- {it['id']} [{it['detector_hint']}] {short(it)!r}  -> {dets(r) or '-'}")
    print("\n## False positives (benign not allowed)\n")
    for it, r in zip(benign, bres, strict=True):
        if caught(r):
            print(f"- {it['id']} {r.get('action')} {short(it)!r}  -> {dets(r)}")

    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "attacks": [{"id": it["id"], **r} for it, r in zip(attacks, ares, strict=True)],
                    "benign": [{"id": it["id"], **r} for it, r in zip(benign, bres, strict=True)],
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
