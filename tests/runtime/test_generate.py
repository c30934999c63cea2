"""Raw batched generation: chat template, left padding, order kept, greedy."""

from __future__ import annotations

from pathlib import Path

from openward.runtime.generate import Messages, generate_local


def test_batched_generation_answers_each_prompt_in_order(smollm2_dir: Path) -> None:
    prompts: list[Messages] = [
        "What is the capital of France?",
        [{"role": "user", "content": "What is the capital of Japan? Answer in one word."}],
        "What is 2 + 2?",
    ]
    replies = generate_local(smollm2_dir, prompts, max_new_tokens=12, batch_size=2)
    assert len(replies) == 3
    assert "paris" in replies[0].lower()
    assert "tokyo" in replies[1].lower()
    assert "4" in replies[2]
    # greedy: the same call gives the same text
    again = generate_local(smollm2_dir, prompts[:1], max_new_tokens=12, batch_size=1)
    assert again[0] == replies[0]


def test_local_target_answers_through_inspect_model(smollm2_dir: Path) -> None:
    import asyncio

    from inspect_ai.model import GenerateConfig

    from openward.runtime import inspect_model, resolve_target
    from openward.runtime.bundled import smollm2_gguf

    target = resolve_target(str(smollm2_gguf()))
    assert target.kind == "local"
    assert target.load_path == smollm2_dir
    model = inspect_model(target, batch_size=2)
    output = asyncio.run(
        model.generate(
            "What is the capital of France?",
            config=GenerateConfig(max_tokens=12, temperature=0.0),
        )
    )
    assert "paris" in output.completion.lower()
