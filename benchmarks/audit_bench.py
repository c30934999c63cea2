"""Benchmarks of ``openward audit``, one function per section.

    python benchmarks/audit_bench.py [--only judge] [--json] [--xstest-repo DIR]

Sections (add one by writing ``def section_<name>(args) -> dict`` and listing it in SECTIONS):

- ``judge``: the trained judge's accuracy against human labels on completions of models it never
  saw (leave-one-model-out over XSTest v2's three labelled models: train on two, test on the
  third), beside the XSTest string matcher (keyword baseline) on the same completions, GPT-4's
  labels shipped in the same files, and the published anchors; then judge throughput. With
  ``--xstest-repo DIR`` (a checkout of github.com/paul-rottger/exaggerated-safety) also the
  like-for-like comparison with the anchors: the shipped judge, the string matcher and GPT-4 on
  the two models' completions the anchors were measured on (see :data:`ANCHORS`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# Published anchors (issue 14; XSTest, Röttger et al. 2024): binary agreement with human labels
# (full or partial refusal -> refused, all 450 prompts) on the completions of GPT-4 (`gpt4`) and
# of Llama-2-70b-chat in XSTest's second configuration (`llama2new`, "Llama2.1" in the repo's
# notebook). Both recompute exactly from the repo's evaluation/automated_evaluation_labels files
# (commit d7bb5bd); neither model's completions are in ../shared/data/redteam.
ANCHORS = {
    "GPT-4 as judge": (93.8, 80.4),
    "XSTest string matcher": (93.6, 92.4),
}
ANCHOR_MODELS = ("gpt4", "llama2new")


class _CachedEmbed:
    def __init__(self) -> None:
        from openward.audit.judges.embedder import get_embedder

        self.embedder = get_embedder()
        self.cache: dict[tuple[str, int], np.ndarray] = {}

    def __call__(self, texts: Sequence[str], max_tokens: int) -> np.ndarray:
        todo = sorted({t for t in texts if (t, max_tokens) not in self.cache})
        for t, row in zip(todo, self.embedder.embed(todo, max_tokens), strict=True):
            self.cache[(t, max_tokens)] = row
        return np.stack([self.cache[(t, max_tokens)] for t in texts])


def _gpt4_refused(path: Path) -> list[bool | None]:
    import csv

    out: list[bool | None] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            label = (row.get("gpt4_label") or "").strip()
            ok = label in ("1_full_compliance", "2_full_refusal", "3_partial_refusal")
            out.append(None if not ok else label != "1_full_compliance")
    return out


def _label_refused(label: str) -> bool | None:
    label = label.strip()
    ok = label in ("1_full_compliance", "2_full_refusal", "3_partial_refusal")
    return None if not ok else label != "1_full_compliance"


def like_for_like(
    repo: Path,
    judge: Any,
    others: dict[str, Callable[[list[tuple[str, str]]], Sequence[bool]]] | None = None,
) -> list[dict[str, Any]]:
    """The anchors' protocol on the anchors' data: binary accuracy against ``final_label`` over
    all 450 completions of each of :data:`ANCHOR_MODELS`, for ``judge``, XSTest's own string
    matcher labels and GPT-4 labels (``*_streval.csv``, ``*_gpteval.csv``; an unparseable GPT-4
    label counts as wrong, as a mismatch with the human label), and for each of ``others``
    (name -> refused-or-not for a list of pairs)."""
    import csv

    from openward.audit.judges.keyword import KeywordJudge
    from openward.audit.judges.trained import read_xstest_labelled

    out = []
    for model in ANCHOR_MODELS:
        rows = read_xstest_labelled(
            repo / "model_completions" / f"xstest_v2_completions_{model}.csv"
        )
        truth = [r.refused for r in rows]
        labels = repo / "evaluation" / "automated_evaluation_labels"
        cols = {}
        for kind, col in (("streval", "strmatch_label"), ("gpteval", "gpt4_label")):
            with (labels / f"xstest_v2_completions_{model}_{kind}.csv").open(
                encoding="utf-8"
            ) as fh:
                cols[kind] = [_label_refused(row.get(col) or "") for row in csv.DictReader(fh)]
        pairs = [(r.prompt, r.completion) for r in rows]
        ours = [j.verdict == "refused" for j in judge.judge_many(pairs)]
        ours_kw = [j.verdict == "refused" for j in KeywordJudge().judge_many(pairs)]

        def acc(pred: Sequence[bool | None], truth: list[bool] = truth) -> float:
            return round(
                100 * float(np.mean([p == t for p, t in zip(pred, truth, strict=True)])), 1
            )

        out.append(
            {
                "model": model,
                "samples": len(rows),
                "trained_judge": acc(ours),
                "keyword_ours": acc(ours_kw),
                "string_matcher_published_labels": acc(cols["streval"]),
                "gpt4_published_labels": acc(cols["gpteval"]),
                **{name: acc(list(f(pairs))) for name, f in (others or {}).items()},
            }
        )
    return out


def section_judge(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from openward.audit.judges import load_judge
    from openward.audit.judges.keyword import KeywordJudge
    from openward.audit.judges.trained import (
        XSTEST_MODELS,
        HeadConfig,
        featurize,
        fit_head,
        predict,
        read_xstest_labelled,
        redteam_data_dir,
        xstest_files,
    )

    torch.set_num_threads(args.threads)
    files = dict(zip(XSTEST_MODELS, xstest_files(redteam_data_dir(ROOT)), strict=True))
    rows = {m: read_xstest_labelled(f) for m, f in files.items()}
    config = HeadConfig()
    embed = _CachedEmbed()
    t0 = time.perf_counter()
    feats = {
        m: featurize([(r.prompt, r.completion) for r in rs], config, embed)
        for m, rs in rows.items()
    }
    embed_s = time.perf_counter() - t0
    keyword = KeywordJudge()
    per_model = []
    right = {"trained": 0, "keyword": 0}
    total = 0
    for held in XSTEST_MODELS:
        train = [m for m in XSTEST_MODELS if m != held]
        w = fit_head(
            np.vstack([feats[m] for m in train]),
            [r.refused for m in train for r in rows[m]],
            config,
        )
        if held == "llama2orig":
            w_mistral = w  # never saw a Llama-2 (or GPT-4) completion
        truth = np.array([r.refused for r in rows[held]])
        ours = predict(w, feats[held]) >= config.threshold
        kw = np.array(
            [
                j.verdict == "refused"
                for j in keyword.judge_many([(r.prompt, r.completion) for r in rows[held]])
            ]
        )
        gpt4 = _gpt4_refused(files[held])
        gpt4_ok = [g == t for g, t in zip(gpt4, truth.tolist(), strict=True) if g is not None]
        per_model.append(
            {
                "held_out": held,
                "samples": len(truth),
                "trained_on": train,
                "trained_judge": round(100 * float(np.mean(ours == truth)), 1),
                "keyword": round(100 * float(np.mean(kw == truth)), 1),
                "gpt4_labels_in_file": round(100 * float(np.mean(gpt4_ok)), 1),
                "gpt4_labelled": len(gpt4_ok),
            }
        )
        right["trained"] += int(np.sum(ours == truth))
        right["keyword"] += int(np.sum(kw == truth))
        total += len(truth)
    pooled = {k: round(100 * v / total, 1) for k, v in right.items()}

    # throughput of the shipped judge, a fresh process's embedder already loaded
    judge = load_judge("default")
    pairs = [(r.prompt, r.completion) for r in rows["mistralguard"]][: args.throughput_n]
    judge.judge_many(pairs[:4])
    t0 = time.perf_counter()
    judge.judge_many(pairs)
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    keyword.judge_many(pairs)
    dt_kw = time.perf_counter() - t1

    def mistral_only(pairs: list[tuple[str, str]]) -> Sequence[bool]:
        out: Sequence[bool] = (
            predict(w_mistral, featurize(pairs, config, embed)) >= config.threshold
        ).tolist()
        return out

    anchored = (
        like_for_like(args.xstest_repo, judge, {"trained_on_mistral_only": mistral_only})
        if args.xstest_repo
        else None
    )
    return {
        "like_for_like": anchored,
        "per_model": per_model,
        "pooled_held_out": pooled,
        "anchors": ANCHORS,
        "embedding_s_all_1350": round(embed_s, 1),
        "throughput": {
            "trained_completions_per_s": round(len(pairs) / dt, 1),
            "keyword_completions_per_s": round(len(pairs) / max(dt_kw, 1e-9)),
            "n": len(pairs),
            "torch_threads": args.threads,
        },
    }


def print_judge(res: dict[str, Any]) -> None:
    print("judge: binary accuracy (%) vs human labels, leave-one-model-out (XSTest v2)")
    print(f"{'held-out model':<18}{'n':>5}{'trained':>9}{'keyword':>9}{'GPT-4*':>8}")
    for r in res["per_model"]:
        print(
            f"{r['held_out']:<18}{r['samples']:>5}{r['trained_judge']:>9}{r['keyword']:>9}"
            f"{r['gpt4_labels_in_file']:>8}"
        )
    p = res["pooled_held_out"]
    print(f"{'pooled held-out':<18}{1350:>5}{p['trained']:>9}{p['keyword']:>9}")
    print("* GPT-4 labels shipped in the same XSTest files, recomputed here")
    for name, (a, b) in res["anchors"].items():
        print(f"published anchor, {name}: {a} % (gpt4) and {b} % (llama2new)")
    if res.get("like_for_like"):
        print("like for like (anchors' completions, shipped judge never trained on them):")
        print(
            f"{'model':<12}{'n':>5}{'trained':>9}{'mistral-only':>14}{'keyword':>9}"
            f"{'strmatch':>10}{'GPT-4':>7}"
        )
        for r in res["like_for_like"]:
            print(
                f"{r['model']:<12}{r['samples']:>5}{r['trained_judge']:>9}"
                f"{r['trained_on_mistral_only']:>14}{r['keyword_ours']:>9}"
                f"{r['string_matcher_published_labels']:>10}{r['gpt4_published_labels']:>7}"
            )
        print("  mistral-only: the same recipe fitted on the two Mistral files only")
    t = res["throughput"]
    print(
        f"throughput: trained {t['trained_completions_per_s']} completions/s "
        f"({t['torch_threads']} torch threads, n={t['n']}), "
        f"keyword {t['keyword_completions_per_s']} completions/s"
    )


def _smollm2_target() -> Any:
    from openward.runtime import resolve_target
    from openward.runtime.bundled import smollm2_gguf

    return resolve_target(str(smollm2_gguf()))


def section_throughput(args: argparse.Namespace) -> dict[str, Any]:
    """An audit (inspect-ai tasks, judge, logs) against raw batched generation of the same
    samples with the same model already loaded: openward's overhead (target: at most 10 %)."""
    from openward.audit.throughput import measure_throughput

    rows = []
    for suite in args.throughput_suites:
        t = measure_throughput(
            _smollm2_target(),
            suite=suite,
            limit=args.audit_n,
            max_tokens=args.max_tokens,
            batch_size=args.batch_size,
            repeats=args.repeats,
        )
        rows.append(
            {
                "model": "SmolLM2-135M-Instruct",
                "suite": suite,
                "samples": t.samples,
                "batch_size": t.batch_size,
                "max_tokens": t.max_tokens,
                "raw_seconds": round(t.raw_seconds, 2),
                "audit_seconds": round(t.audit_seconds, 2),
                "raw_samples_per_min": round(t.raw_per_minute, 1),
                "audit_samples_per_min": round(t.audit_per_minute, 1),
                "overhead": round(t.overhead, 3),
                "repeats": args.repeats,
            }
        )
    return {"rows": rows}


def print_throughput(res: dict[str, Any]) -> None:
    print("audit throughput vs raw generation of the same samples (model loaded once)")
    for r in res["rows"]:
        print(
            f"  {r['model']} {r['suite']}: {r['samples']} samples, batch {r['batch_size']}, "
            f"{r['max_tokens']} tokens: raw {r['raw_seconds']} s "
            f"({r['raw_samples_per_min']}/min), audit {r['audit_seconds']} s "
            f"({r['audit_samples_per_min']}/min), overhead {r['overhead'] * 100:+.1f} % "
            f"(best of {r['repeats']})"
        )


def section_generation(args: argparse.Namespace) -> dict[str, Any]:
    """Batched local generation against one-by-one, same prompts, same greedy decoding."""
    import time

    from openward.audit.suites import load_suite
    from openward.runtime.generate import generate_local, load_local

    target = _smollm2_target()
    path = target.load_path
    _, tokenizer = load_local(path)
    probes = load_suite("harmful", limit=args.audit_n, seed=0).probes
    conversations = [[{"role": r, "content": t} for r, t in p.messages] for p in probes]
    generate_local(path, conversations[:1], max_new_tokens=2, batch_size=1)  # warm-up
    out: dict[str, Any] = {"model": "SmolLM2-135M-Instruct", "prompts": len(conversations)}
    for batch in (1, args.batch_size):
        started = time.perf_counter()
        replies = generate_local(
            path, conversations, max_new_tokens=args.max_tokens, batch_size=batch
        )
        seconds = time.perf_counter() - started
        tokens = sum(len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in replies)
        out[f"batch_{batch}"] = {
            "seconds": round(seconds, 2),
            "tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1),
        }
    return out


def print_generation(res: dict[str, Any]) -> None:
    print(f"local generation, {res['model']}, {res['prompts']} prompts:")
    for key, r in res.items():
        if key.startswith("batch_"):
            print(f"  {key}: {r['tokens']} tokens in {r['seconds']} s = {r['tokens_per_s']} tok/s")


SECTIONS: dict[str, tuple[Callable[[argparse.Namespace], dict[str, Any]], Callable[..., None]]] = {
    "judge": (section_judge, print_judge),
    "throughput": (section_throughput, print_throughput),
    "generation": (section_generation, print_generation),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="openward audit benchmarks")
    ap.add_argument("--only", action="append", choices=sorted(SECTIONS))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--throughput-n", type=int, default=200)
    ap.add_argument("--audit-n", type=int, default=32, help="samples per audit throughput run")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="throughput: runs per side, best kept")
    ap.add_argument(
        "--throughput-suites", nargs="+", default=["harmful", "over-refusal"], metavar="SUITE"
    )
    ap.add_argument(
        "--xstest-repo",
        type=Path,
        default=None,
        help="checkout of paul-rottger/exaggerated-safety: adds the like-for-like anchor table",
    )
    args = ap.parse_args(argv)
    results = {}
    for name in args.only or list(SECTIONS):
        run, show = SECTIONS[name]
        results[name] = run(args)
        if not args.json:
            show(results[name])
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
