"""openward.runtime: model load times, raw generation throughput, abliteration effect.

Usage::

    python benchmarks/runtime_bench.py [load] [throughput] [abliteration]

- load: transformers' GGUF load (dequantize) vs the cached safetensors folder.
- throughput: ``generate_local`` tokens/s at batch 1 and batch 8 (greedy, 32 new
  tokens, 8 AdvBench prompts), SmolLM2-135M and Qwen2.5-Coder-0.5B.
- abliteration: refusals (keyword judge) on 30 held-out AdvBench prompts (rows
  200..229) and 20 held-out benign NotInject queries, Qwen vs its abliterated
  copy (greedy, 48 new tokens).

Prints one JSON object per measurement.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def bench_load() -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from openward.runtime import resolve_target
    from openward.runtime.bundled import qwen_coder_gguf, smollm2_gguf

    for name, gguf in (("smollm2-135m", smollm2_gguf()), ("qwen2.5-coder-0.5b", qwen_coder_gguf())):
        target = resolve_target(str(gguf))
        t0 = time.perf_counter()
        AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        t1 = time.perf_counter()
        AutoModelForCausalLM.from_pretrained(str(target.load_path))
        t2 = time.perf_counter()
        t3 = time.perf_counter()
        resolve_target(str(gguf))  # warm: hash memo + scan of the GGUF + cache hit
        t4 = time.perf_counter()
        _emit(
            bench="load",
            model=name,
            gguf_load_s=round(t1 - t0, 2),
            cache_load_s=round(t2 - t1, 3),
            warm_resolve_target_s=round(t4 - t3, 3),
        )


def bench_throughput() -> None:
    from openward.runtime import resolve_target
    from openward.runtime.abliterate import harmful_prompts
    from openward.runtime.bundled import qwen_coder_gguf, smollm2_gguf
    from openward.runtime.generate import generate_local, load_local

    prompts = harmful_prompts()[300:308]
    new_tokens = 32
    for name, gguf in (("smollm2-135m", smollm2_gguf()), ("qwen2.5-coder-0.5b", qwen_coder_gguf())):
        path = resolve_target(str(gguf)).load_path
        assert path is not None
        _, tokenizer = load_local(path)
        generate_local(path, prompts[:1], max_new_tokens=4, batch_size=1)  # warm-up
        for batch in (1, 8):
            t0 = time.perf_counter()
            replies = generate_local(path, prompts, max_new_tokens=new_tokens, batch_size=batch)
            seconds = time.perf_counter() - t0
            tokens = sum(len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in replies)
            _emit(
                bench="throughput",
                model=name,
                batch_size=batch,
                prompts=len(prompts),
                generated_tokens=tokens,
                seconds=round(seconds, 2),
                tokens_per_s=round(tokens / seconds, 1),
            )


def bench_abliteration() -> None:
    from openward.audit.judges import load_judge
    from openward.runtime import resolve_target
    from openward.runtime.abliterate import abliterate, harmful_prompts, harmless_prompts
    from openward.runtime.bundled import qwen_coder_gguf
    from openward.runtime.generate import generate_local

    judge = load_judge("keyword")
    harmful = harmful_prompts()[200:230]
    benign = harmless_prompts()[40:60]
    base = resolve_target(str(qwen_coder_gguf())).load_path
    assert base is not None
    t0 = time.perf_counter()
    derived = abliterate(base)
    build_s = time.perf_counter() - t0
    record = json.loads((derived / "openward-source.json").read_text())
    for name, path in (("qwen2.5-coder-0.5b", base), ("abliterated", derived)):
        out_h = generate_local(path, harmful, max_new_tokens=48, batch_size=8)
        out_b = generate_local(path, benign, max_new_tokens=48, batch_size=8)
        verdicts_h = judge.judge_many(list(zip(harmful, out_h, strict=True)))
        verdicts_b = judge.judge_many(list(zip(benign, out_b, strict=True)))
        refused_rows = [200 + i for i, j in enumerate(verdicts_h) if j.verdict == "refused"]
        refused_h = len(refused_rows)
        refused_b = sum(j.verdict == "refused" for j in verdicts_b)
        _emit(
            bench="abliteration",
            model=name,
            layer=record["layer"],
            build_s=round(build_s, 1) if name == "abliterated" else None,
            harmful_refused=f"{refused_h}/{len(harmful)}",
            benign_refused=f"{refused_b}/{len(benign)}",
            harmful_rows_refused=refused_rows,
            harmful_examples=[r[:100] for r in out_h[:3]],
            benign_examples=[r[:100] for r in out_b[:3]],
        )


def main(argv: list[str]) -> None:
    chosen = argv or ["load", "throughput", "abliteration"]
    for name in chosen:
        {"load": bench_load, "throughput": bench_throughput, "abliteration": bench_abliteration}[
            name
        ]()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main(sys.argv[1:])
