"""Raw batched generation with transformers, outside inspect-ai.

The audit benchmark compares inspect-ai's throughput against this (the "raw
generation" baseline), and the abliteration measures refusals with it. The
loader here is the one every in-process use of a local model goes through:
safetensors only, ``trust_remote_code=False``, float32 on CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from openward.errors import TargetError

__all__ = ["Messages", "generate_local", "load_local"]

Messages = str | Sequence[Mapping[str, str]]
"""One conversation: a list of ``{"role", "content"}`` messages, or a bare user prompt."""


@functools.lru_cache(maxsize=2)
def load_local(load_path: Path) -> tuple[Any, Any]:
    """(model, tokenizer) for a safetensors folder, in eval mode; the last two stay loaded.

    The tokenizer pads on the left (for batched generation) with EOS when it has no pad token.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.float32 if not torch.cuda.is_available() else "auto"
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(load_path), dtype=dtype, trust_remote_code=False, use_safetensors=True
        )
        tokenizer = AutoTokenizer.from_pretrained(str(load_path), trust_remote_code=False)
    except Exception as exc:  # transformers raises many kinds for a model it cannot load
        lines = str(exc).strip().splitlines()
        raise TargetError(
            str(load_path), f"the model failed to load: {lines[0] if lines else type(exc).__name__}"
        ) from None
    if torch.cuda.is_available():
        model.to("cuda")  # type: ignore[arg-type]
    model.eval()  # type: ignore[no-untyped-call]  # safe: torch inference mode, not eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model, tokenizer


def chat_prompts(tokenizer: Any, messages_list: Sequence[Messages]) -> list[str]:
    """Each conversation rendered by the tokenizer's chat template, ready for the reply."""
    prompts = []
    for messages in messages_list:
        chat = [{"role": "user", "content": messages}] if isinstance(messages, str) else messages
        prompts.append(
            tokenizer.apply_chat_template(
                [dict(m) for m in chat], add_generation_prompt=True, tokenize=False
            )
        )
    return prompts


def generate_local(
    load_path: Path,
    messages_list: Sequence[Messages],
    *,
    max_new_tokens: int,
    batch_size: int,
    temperature: float = 0.0,
    seed: int = 0,
) -> list[str]:
    """The model's reply to each conversation, in order (greedy unless ``temperature`` > 0).

    Conversations are rendered with the tokenizer's chat template, sorted by
    length so a batch pads little, left-padded and generated ``batch_size`` at
    a time.
    """
    import torch

    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    model, tokenizer = load_local(Path(load_path))
    prompts = chat_prompts(tokenizer, messages_list)
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    replies: list[str] = [""] * len(prompts)
    sampling: dict[str, Any] = (
        {"do_sample": True, "temperature": temperature}
        if temperature > 0
        else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    )
    torch.manual_seed(seed)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        enc = tokenizer(
            [prompts[i] for i in chunk],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        ).to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                **sampling,
            )
        new = out[:, enc["input_ids"].shape[1] :]
        for i, text in zip(
            chunk, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True
        ):
            replies[i] = text.strip()
    return replies
