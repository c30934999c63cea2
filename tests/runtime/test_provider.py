"""The openward-local inspect provider: concurrent requests batched, each answer its own."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from inspect_ai.model import GenerateConfig, Model, get_model

from openward.runtime import compute, provider
from openward.runtime.generate import generate_local

CAPITALS = {
    "France": "paris",
    "Japan": "tokyo",
    "Italy": "rome",
    "Germany": "berlin",
    "Spain": "madrid",
}


def local_model(folder: Path, **args: Any) -> Model:
    return get_model(
        f"{provider.PROVIDER}/smollm2",
        config=GenerateConfig(max_connections=16),
        model_path=str(folder),
        memoize=False,
        **args,
    )


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(
    smollm2_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real = provider.generate_batch

    def counting(model: Any, tokenizer: Any, prompts: Any, sampling: Any) -> Any:
        sizes.append(len(prompts))
        return real(model, tokenizer, prompts, sampling)

    monkeypatch.setattr(provider, "generate_batch", counting)
    model = local_model(smollm2_dir, batch_size=4)
    questions = [f"What is the capital of {country}? Answer in one word." for country in CAPITALS]
    config = GenerateConfig(max_tokens=10, temperature=0.0)

    async def ask_all() -> list[Any]:
        return await asyncio.gather(*(model.generate(q, config=config) for q in questions))

    outputs = asyncio.run(ask_all())
    for (_, capital), output in zip(CAPITALS.items(), outputs, strict=True):
        assert capital in output.completion.lower()
        assert output.usage is not None and 0 < output.usage.output_tokens <= 10
    # five requests, batches of at most four: two batches, none of them one-by-one generation
    assert sorted(sizes) == [1, 4]
    # the same answers as raw generation of the same conversations, one at a time
    raw = generate_local(
        smollm2_dir,
        [[{"role": "user", "content": q}] for q in questions[:2]],
        max_new_tokens=10,
        batch_size=1,
    )
    assert [o.completion.strip() for o in outputs[:2]] == raw


def test_requests_with_other_decoding_settings_are_not_batched_together(
    smollm2_dir: Path,
) -> None:
    model = local_model(smollm2_dir, batch_size=8)
    question = "Write a long story about a dragon."

    async def ask() -> list[Any]:
        return await asyncio.gather(
            model.generate(question, config=GenerateConfig(max_tokens=3, temperature=0.0)),
            model.generate(question, config=GenerateConfig(max_tokens=12, temperature=0.0)),
        )

    short, longer = asyncio.run(ask())
    assert short.usage is not None and short.usage.output_tokens == 3
    assert short.choices[0].stop_reason == "max_tokens"
    assert longer.usage is not None and longer.usage.output_tokens == 12
    assert longer.completion.startswith(short.completion)


def test_tool_calls_and_missing_weights_are_refused(smollm2_dir: Path, tmp_path: Path) -> None:
    from inspect_ai.tool import ToolInfo, ToolParams

    model = local_model(smollm2_dir)
    tool = ToolInfo(name="search", description="search the web", parameters=ToolParams())
    with pytest.raises(ValueError, match="tool calls are not supported"):
        asyncio.run(
            model.generate("hi", tools=[tool], config=GenerateConfig(max_retries=0, max_tokens=2))
        )
    with pytest.raises(ValueError, match="model_path is required"):
        get_model(f"{provider.PROVIDER}/x", memoize=False)


def test_tensor_work_runs_on_one_thread(smollm2_dir: Path) -> None:
    """Generation called from the main thread, another thread or inspect's event loop runs
    its forward passes on the one compute thread (two OpenMP teams slow both)."""
    import threading

    from openward.runtime.generate import load_local

    model, _ = load_local(smollm2_dir)
    threads: set[int] = set()
    handle = model.register_forward_pre_hook(lambda *_: threads.add(threading.get_ident()))
    try:
        generate_local(smollm2_dir, ["What is 2 + 2?"], max_new_tokens=2, batch_size=1)
        worker = threading.Thread(
            target=generate_local,
            args=(smollm2_dir, ["What is 3 + 3?"]),
            kwargs={"max_new_tokens": 2, "batch_size": 1},
        )
        worker.start()
        worker.join()
        inspect_model = local_model(smollm2_dir)
        asyncio.run(inspect_model.generate("Hi", config=GenerateConfig(max_tokens=2)))
    finally:
        handle.remove()
    assert len(threads) == 1
    assert threading.get_ident() not in threads and worker.ident not in threads
    assert compute.run_on_compute_thread(threading.get_ident) in threads
