"""Per-step cost of the text watermarks' logits processors against the model's own step.

    python benchmarks/watermark_text_step_bench.py [--prompts 2] [--steps 60] [--threads 1]
        [--no-reference] [--json out.json]

One process, interleaved: at every decoding step of SmolLM2-135M-Instruct (batch 1, KV
cache) the model's step is timed, then each processor on a copy of the same logits (each
keeping its own state across steps, as in ``generate``). The next token is sampled from the
SynthID (top candidates) processor's output, so contexts are those of watermarked text.
Wall time and the thread's CPU time (1 thread), medians over the steps after a warm-up.
Also reported: the probability mass outside the top ``SYNTHID_CANDIDATES`` tokens (SynthID
leaves it unwatermarked), per step, and the total variation distance between the next-token
distributions of openward's SynthID processor and transformers' (same logits, same
contexts), next to that between transformers' and none.

The whole-generation comparison in ``watermark_text_bench.py`` runs each scheme in turn and
is at the mercy of a shared machine's changing load; this interleaved form is not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from openward.runtime.generate import chat_prompts  # noqa: E402
from watermark_text_bench import PROMPTS, load, make_keys  # noqa: E402


def processors(keys: dict[str, Any], reference: bool) -> dict[str, Any]:
    from openward.watermark.text.generate import (
        KGWLogitsProcessor,
        SynthIDLogitsProcessor,
        synthid_processor,
    )

    procs: dict[str, Any] = {
        "kgw": KGWLogitsProcessor(keys["kgw"]),
        "kgw-selfhash": KGWLogitsProcessor(keys["kgw-selfhash"]),
        "synthid": SynthIDLogitsProcessor(keys["synthid"]),
        "synthid-4096": SynthIDLogitsProcessor(keys["synthid"], candidates=4096),
    }
    if reference:
        procs["synthid-transformers"] = synthid_processor(keys["synthid"])
    return procs


def run_prompt(
    model: Any, tok: Any, prompt: str, keys: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    import torch

    from openward.watermark.text.synthid import SYNTHID_CANDIDATES

    procs = processors(keys, args.reference)
    times: dict[str, list[float]] = {"model": [], **{name: [] for name in procs}}
    cpu: dict[str, list[float]] = {"model": [], **{name: [] for name in procs}}
    tail: list[float] = []
    tv: dict[str, list[float]] = {"to_transformers": [], "transformers_to_unwatermarked": []}
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    gen = torch.Generator().manual_seed(args.seed)
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True)
        past, logits = out.past_key_values, out.logits[:, -1, :].float()
        for step in range(args.steps + args.warmup):
            keep = step >= args.warmup
            results = {}
            for name, proc in procs.items():
                scores = logits.clone()
                c0, t0 = time.thread_time(), time.perf_counter()
                results[name] = proc(ids, scores)
                if keep:
                    times[name].append(time.perf_counter() - t0)
                    cpu[name].append(time.thread_time() - c0)
            chosen = results["synthid"]
            probs = logits.softmax(-1)
            if "synthid-transformers" in results and keep:
                # both saw the same logits and contexts: how far is the top-candidate
                # tournament from the whole-vocabulary one, and the watermark from none?
                reference = results["synthid-transformers"].softmax(-1)
                tv["to_transformers"].append(
                    0.5 * float((chosen.softmax(-1) - reference).abs().sum())
                )
                tv["transformers_to_unwatermarked"].append(
                    0.5 * float((reference - probs).abs().sum())
                )
            tail.append(1.0 - float(probs.topk(SYNTHID_CANDIDATES).values.sum()))
            nxt = torch.multinomial(chosen.softmax(-1), 1, generator=gen)
            ids = torch.cat([ids, nxt], dim=1)
            c0, t0 = time.thread_time(), time.perf_counter()
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            if keep:
                times["model"].append(time.perf_counter() - t0)
                cpu["model"].append(time.thread_time() - c0)
            past, logits = out.past_key_values, out.logits[:, -1, :].float()
    return {"times": times, "cpu": cpu, "tail": tail[args.warmup :], "tv": tv}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--no-reference", dest="reference", action="store_false",
                    help="skip transformers' own SynthID processor (~ a model step)")  # fmt: skip
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import os

    import torch

    torch.set_num_threads(args.threads)
    model, tok, load_path = load("smollm2")
    keys = make_keys(load_path)
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    tail: list[float] = []
    tv: dict[str, list[float]] = {}
    for prompt in chat_prompts(tok, PROMPTS[: args.prompts]):
        res = run_prompt(model, tok, prompt, keys, args)
        for name, values in res["times"].items():
            times.setdefault(name, []).extend(values)
        for name, values in res["cpu"].items():
            cpu.setdefault(name, []).extend(values)
        tail += res["tail"]
        for name, values in res["tv"].items():
            tv.setdefault(name, []).extend(values)
    model_ms = statistics.median(times["model"]) * 1e3
    report: dict[str, Any] = {
        "model": "SmolLM2-135M-Instruct",
        "threads": args.threads,
        "steps": len(times["model"]),
        "load_average": os.getloadavg(),
        "model_step_ms": round(model_ms, 2),
        "processors": {
            name: {
                "ms": round(statistics.median(v) * 1e3, 3),
                "overhead_percent": round(100 * statistics.median(v) * 1e3 / model_ms, 2),
            }
            for name, v in times.items()
            if name != "model"
        },
        "tail_mass_outside_top_candidates": {
            "mean": statistics.fmean(tail),
            "median": statistics.median(tail),
            "p90": sorted(tail)[int(0.9 * (len(tail) - 1))],
            "max": max(tail),
        },
    }
    if tv.get("to_transformers"):
        report["total_variation_synthid"] = {
            name: {"median": statistics.median(v), "mean": statistics.fmean(v), "max": max(v)}
            for name, v in tv.items()
        }
    # the thread's CPU time (1 thread: torch computes on the calling thread) leaves out the
    # time spent waiting for a core, which dominates wall time on a shared machine
    model_cpu = statistics.median(cpu["model"]) * 1e3
    report["cpu_time"] = {
        "model_step_ms": round(model_cpu, 2),
        **{
            name: {
                "ms": round(statistics.median(v) * 1e3, 3),
                "overhead_percent": round(100 * statistics.median(v) * 1e3 / model_cpu, 2),
            }
            for name, v in cpu.items()
            if name != "model"
        },
    }
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
