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
