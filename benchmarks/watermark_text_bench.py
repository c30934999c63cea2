"""Benchmark of openward's text watermarks (issue 17): detection, attacks, false positives,
quality and speed, with the real SmolLM2-135M-Instruct (and optionally Qwen2.5-Coder-0.5B).

    python benchmarks/watermark_text_bench.py [--model smollm2|qwen] [--prompts 8]
        [--new-tokens 300] [--scorer gemma3|none] [--emoji-prompts 4] [--json out.json]

Sections:

- speed: wall time of the same batched generation with and without each watermark
  (unwatermarked runs before and after the watermarked ones, averaged);
- detection: p-value at 200 generated tokens, and the tokens needed for p < 1e-5;
- attacks: 10 % and 30 % random token substitution, deletion and insertion (random
  vocabulary tokens), applied to the generated ids and decoded to text, then the tokens
  needed for p < 1e-5 (prefixes grown 10 tokens at a time); the emoji attack simulated as
  Kirchenbauer et al. 2023 describe it: the generator emits an emoji after every token
  (forced here, as if the user had asked for it), the emojis are stripped, the rest tested;
- false positives: p-values of the 350 human-written Lee corpus news articles (gensim's test
  data) and of their 200-token windows, under 5 keys per scheme, at the 1 %, 5 %, 10 % levels;
- perplexity: of each scheme's replies, measured by another model family (Gemma-3-270M).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.watermark.human_text import lee_corpus  # noqa: E402

from openward.runtime.generate import chat_prompts  # noqa: E402
from openward.watermark.text import detect_text, new_key, tokenizer_identity  # noqa: E402
from openward.watermark.text.keys import WatermarkKey  # noqa: E402

SCHEMES = ("kgw", "kgw-selfhash", "synthid")
TARGET_P = 1e-5
PROMPTS = [
    "Write a long story about a lighthouse keeper who finds a strange map.",
    "Explain in detail how bread is made, from wheat fields to the bakery.",
    "Describe a day in the life of a medieval blacksmith.",
    "Write an essay on why cities should plant more trees.",
    "Tell me about the history of the bicycle and how it changed society.",
    "Write a letter from a sailor to his family during a long voyage.",
    "Explain how volcanoes form and why some of them erupt violently.",
    "Describe the perfect holiday in the mountains, step by step.",
    "Write a story about two friends who open a bookshop together.",
    "Explain how a city decides where to build a new railway line.",
    "Describe how honeybees communicate and organise their hive.",
    "Write a speech for the opening of a new public library.",
]
EMOJI = " 🙂"


def load(model_name: str) -> tuple[Any, Any, Path]:
    from openward.runtime.bundled import qwen_coder_gguf, smollm2_gguf
    from openward.runtime.generate import load_local
    from openward.runtime.targets import resolve_target

    gguf = smollm2_gguf() if model_name == "smollm2" else qwen_coder_gguf()
    target = resolve_target(str(gguf))
    assert target.load_path is not None
    model, tok = load_local(target.load_path)
    return model, tok, target.load_path


def make_keys(load_path: Path) -> dict[str, WatermarkKey]:
    ident = tokenizer_identity((load_path / "tokenizer.json").read_text(), load_path.name)
    return {s: new_key(s, ident, secret=bytes([17 + i]) * 32) for i, s in enumerate(SCHEMES)}


def generate(model: Any, tok: Any, prompts: list[str], key: Any, n: int, batch: int, **kw: Any):
    from openward.watermark.text.generate import generate_ids

    rows: list[list[int]] = []
    for i in range(0, len(prompts), batch):
        rows += generate_ids(
            model, tok, prompts[i : i + batch], key, max_new_tokens=n, min_new_tokens=n,
            seed=1000 + i, top_p=None, **kw,
        )  # fmt: skip
    return rows


def tokens_needed(key: WatermarkKey, tok: Any, ids: list[int], step: int = 10) -> int | None:
    """Fewest generated tokens (in steps of ``step``) whose text reaches p < TARGET_P."""
    for end in range(step, len(ids) + 1, step):
        r = detect_text(key, tok.decode(ids[:end], skip_special_tokens=True), paragraphs=False)
        if r.p_value is not None and r.p_value < TARGET_P:
            return end
    return None


def attack(ids: list[int], kind: str, rate: float, vocab: int, rng: random.Random) -> list[int]:
    out = list(ids)
    hits = sorted(rng.sample(range(len(out)), round(rate * len(out))), reverse=True)
    for i in hits:
        if kind == "substitution":
            out[i] = rng.randrange(vocab)
        elif kind == "deletion":
            del out[i]
        else:
            out.insert(i, rng.randrange(vocab))
    return out


def summarize_needed(values: list[int | None], cap: int) -> dict[str, Any]:
    reached = [v for v in values if v is not None]
    return {
        "reached": f"{len(reached)}/{len(values)}",
        "median_tokens": statistics.median([v if v is not None else cap + 1 for v in values]),
        "values": values,
    }


def section_speed_and_texts(args: argparse.Namespace, model: Any, tok: Any, keys: dict) -> dict:
    prompts = chat_prompts(tok, PROMPTS[: args.prompts])
    out: dict[str, Any] = {"ids": {}, "seconds": {}}
    order = ["none", *SCHEMES, "none2"]
    for name in order:
        key = None if name.startswith("none") else keys[name]
        t0 = time.perf_counter()
        rows = generate(model, tok, prompts, key, args.new_tokens, args.batch)
        out["seconds"][name] = time.perf_counter() - t0
        out["ids"].setdefault(name.rstrip("2"), rows)
        print(f"  generated {name}: {out['seconds'][name]:.1f} s", flush=True)
    base = (out["seconds"]["none"] + out["seconds"]["none2"]) / 2
    tokens = args.prompts * args.new_tokens
    out["speed"] = {
        "unwatermarked_tokens_per_s": round(tokens / base, 2),
        "unwatermarked_runs_s": [
            round(out["seconds"]["none"], 2),
            round(out["seconds"]["none2"], 2),
        ],
        **{
            s: {
                "tokens_per_s": round(tokens / out["seconds"][s], 2),
                "overhead_percent": round(100 * (out["seconds"][s] / base - 1), 1),
            }
            for s in SCHEMES
        },
    }
    return out


def section_detection(keys: dict, tok: Any, ids: dict, n: int) -> dict:
    res: dict[str, Any] = {}
    for s in SCHEMES:
        p200 = []
        for row in ids[s]:
            r = detect_text(keys[s], tok.decode(row[:200], skip_special_tokens=True))
            p200.append(r.p_value)
        plain = [
            detect_text(keys[s], tok.decode(row[:200], skip_special_tokens=True)).p_value
            for row in ids["none"]
        ]
        needed = [tokens_needed(keys[s], tok, row) for row in ids[s]]
        res[s] = {
            "p_at_200_median": statistics.median(p200),
            "p_at_200_max": max(p200),
            "detected_at_200_p_lt_1e-5": f"{sum(p < TARGET_P for p in p200)}/{len(p200)}",
            "unwatermarked_p_at_200_min": min(p for p in plain if p is not None),
            "tokens_for_p_lt_1e-5": summarize_needed(needed, n),
        }
        print(f"  {s}: {res[s]['detected_at_200_p_lt_1e-5']} at 200 tokens", flush=True)
    return res


def section_attacks(keys: dict, tok: Any, ids: dict, n: int) -> dict:
    res: dict[str, Any] = {}
    vocab = len(tok)
    for s in SCHEMES:
        res[s] = {}
        for kind in ("substitution", "deletion", "insertion"):
            for rate in (0.1, 0.3):
                rng = random.Random(f"{s}{kind}{rate}")
                needed = [
                    tokens_needed(keys[s], tok, attack(row, kind, rate, vocab, rng))
                    for row in ids[s]
                ]
                res[s][f"{kind}_{int(rate * 100)}%"] = summarize_needed(needed, n)
        print(f"  {s}: {json.dumps({k: v['median_tokens'] for k, v in res[s].items()})}")
    return res


class EmojiForcer:
    """Forces the emoji's tokens after every free token (the emoji attack, simulated)."""

    def __init__(self, emoji_ids: list[int], prompt_len: int) -> None:
        self.emoji = emoji_ids
        self.prompt_len = prompt_len

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        phase = (input_ids.shape[1] - self.prompt_len) % (len(self.emoji) + 1)
        if phase == 0:
            return scores
        forced = torch.full_like(scores, -float("inf"))
        forced[:, self.emoji[phase - 1]] = 0.0
        return forced


def section_emoji(args: argparse.Namespace, model: Any, tok: Any, keys: dict) -> dict:
    from openward.watermark.text.generate import generate_ids

    emoji_ids = tok(EMOJI, add_special_tokens=False)["input_ids"]
    prompts = chat_prompts(tok, PROMPTS[: args.emoji_prompts])
    free = args.emoji_tokens
    steps = free * (len(emoji_ids) + 1)
    res: dict[str, Any] = {"emoji_tokens": len(emoji_ids), "free_tokens": free}
    for s in SCHEMES:
        texts = []
        for i in range(0, len(prompts), args.batch):
            batch = prompts[i : i + args.batch]
            enc = tok(batch, return_tensors="pt", padding=True, add_special_tokens=False)
            forcer = EmojiForcer(emoji_ids, enc["input_ids"].shape[1])
            rows = generate_ids(
                model, tok, batch, keys[s], max_new_tokens=steps, min_new_tokens=steps,
                seed=2000 + i, extra_processors=[forcer],
            )  # fmt: skip
            texts += [tok.decode(r, skip_special_tokens=True) for r in rows]
        stripped = [t.replace(EMOJI.strip(), "").replace("  ", " ") for t in texts]
        with_emoji = [detect_text(keys[s], t, paragraphs=False) for t in texts]
        results = [detect_text(keys[s], t, paragraphs=False) for t in stripped]
        res[s] = {
            "p_values_after_stripping": [r.p_value for r in results],
            "z_after_stripping": [r.z for r in results],
            "detected_after_stripping": f"{sum(bool(r.watermarked) for r in results)}"
            f"/{len(results)}",
            "p_values_with_emojis_kept": [r.p_value for r in with_emoji],
        }
        print(f"  {s}: emoji attack detected {res[s]['detected_after_stripping']}", flush=True)
    return res


def section_false_positives(keys: dict, window: int = 200, n_keys: int = 5) -> dict:
    """p-values of human text under ``n_keys`` independent keys per scheme (the null's
    randomness is the key's), per document and per 200-token window."""
    from openward.watermark.text.detect import detect_tokens

    docs = lee_corpus()
    res: dict[str, Any] = {"documents": len(docs), "keys_per_scheme": n_keys}
    for s in SCHEMES:
        doc_p: list[float] = []
        win_p: list[float] = []
        for k in range(n_keys):
            key = new_key(s, keys[s].tokenizer, secret=bytes([101 + k]) * 32)
            tok = key.tokenizer.tokenizer()
            for d in docs:
                ids = tok.encode(d, add_special_tokens=False).ids
                r = detect_tokens(key, ids)
                if r.p_value is not None:
                    doc_p.append(r.p_value)
                for a in range(0, len(ids) - window + 1, window):
                    w = detect_tokens(key, ids[a : a + window])
                    if w.p_value is not None:
                        win_p.append(w.p_value)
        docs_arr, win_arr = np.array(doc_p), np.array(win_p)
        res[s] = {
            "documents_scored": len(doc_p),
            "windows_200": len(win_p),
            **{
                f"fpr_at_{lvl}": {
                    "documents": round(float(np.mean(docs_arr < lvl)), 4),
                    "windows_200": round(float(np.mean(win_arr < lvl)), 4),
                }
                for lvl in (0.01, 0.05, 0.1)
            },
            "min_p": float(min(doc_p + win_p)),
            "below_1e-5": int(sum(p < TARGET_P for p in doc_p + win_p)),
        }
        print(f"  {s}: fpr@0.05 {res[s]['fpr_at_0.05']}", flush=True)
    return res


def section_perplexity(tok: Any, ids: dict, prompts: list[str], scorer: str) -> dict:
    import torch

    from openward.runtime.bundled import gemma3_gguf
    from openward.runtime.generate import load_local
    from openward.runtime.targets import resolve_target

    target = resolve_target(str(gemma3_gguf()))
    assert target.load_path is not None
    judge, jtok = load_local(target.load_path)
    res: dict[str, Any] = {"scorer": "Gemma-3-270M (base)"}
    for name in ("none", *SCHEMES):
        nll, count = 0.0, 0
        per = []
        for prompt, row in zip(prompts, ids[name], strict=False):
            reply = tok.decode(row, skip_special_tokens=True)
            ctx = jtok(f"Question: {prompt}\nAnswer:", add_special_tokens=True)["input_ids"]
            ans = jtok(" " + reply, add_special_tokens=False)["input_ids"]
            inp = torch.tensor([ctx + ans])
            with torch.inference_mode():
                logits = judge(inp).logits[0, :-1].float()
            target_ids = inp[0, 1:]
            lp = torch.log_softmax(logits, -1).gather(1, target_ids[:, None])[:, 0]
            tail = lp[len(ctx) - 1 :]
            nll -= float(tail.sum())
            count += tail.numel()
            per.append(float(torch.exp(-tail.mean())))
        res[name] = {
            "ppl": round(float(np.exp(nll / count)), 2),
            "median_ppl": statistics.median(per),
        }
        print(f"  perplexity {name}: {res[name]['ppl']}", flush=True)
    base = res["none"]["ppl"]
    for s in SCHEMES:
        res[s]["increase_percent"] = round(100 * (res[s]["ppl"] / base - 1), 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("smollm2", "qwen"), default="smollm2")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=300)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--emoji-prompts", type=int, default=4)
    ap.add_argument("--emoji-tokens", type=int, default=200)
    ap.add_argument("--scorer", choices=("gemma3", "none"), default="gemma3")
    ap.add_argument(
        "--skip", nargs="*", default=[], help="sections to skip: attacks, emoji, fpr, ppl"
    )
    ap.add_argument("--json", type=Path, help="write the report here (after every section)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    t0 = time.time()
    model, tok, load_path = load(args.model)
    keys = make_keys(load_path)
    report: dict[str, Any] = {
        "model": args.model,
        "prompts": args.prompts,
        "new_tokens": args.new_tokens,
        "batch": args.batch,
        "sampling": "multinomial, temperature 1.0, no top-k/top-p",
        "params": {s: {k: v for k, v in keys[s].params.items() if k not in ("keys", "table")}
                   for s in SCHEMES},
    }  # fmt: skip

    def save() -> str:
        report["wall_s"] = round(time.time() - t0, 1)
        text = json.dumps(report, indent=1, default=float)
        if args.json:
            args.json.write_text(text + "\n")
        return text

    print("speed and generations", flush=True)
    gen = section_speed_and_texts(args, model, tok, keys)
    report["speed"] = gen["speed"]
    report["texts"] = {k: [tok.decode(r, skip_special_tokens=True) for r in v]
                       for k, v in gen["ids"].items()}  # fmt: skip
    save()
    print("detection", flush=True)
    report["detection"] = section_detection(keys, tok, gen["ids"], args.new_tokens)
    save()
    if "attacks" not in args.skip:
        print("attacks", flush=True)
        report["attacks"] = section_attacks(keys, tok, gen["ids"], args.new_tokens)
        save()
    if "fpr" not in args.skip:
        print("false positives on human text", flush=True)
        report["false_positives"] = section_false_positives(keys)
        save()
    if args.scorer != "none" and "ppl" not in args.skip:
        print("perplexity", flush=True)
        report["perplexity"] = section_perplexity(
            tok, gen["ids"], PROMPTS[: args.prompts], args.scorer
        )
        save()
    if "emoji" not in args.skip:
        print("emoji attack", flush=True)
        report["emoji"] = section_emoji(args, model, tok, keys)
    print(save())


if __name__ == "__main__":
    main()
