"""Batched generation with transformers: the one path every local model generates through.

:func:`generate_batch` generates one left-padded batch; :func:`generate_local` is raw
generation over a list of conversations (sorted by length, ``batch_size`` at a time), the
baseline the audit benchmark compares against and what the abliteration measures refusals
with; the audit's inspect-ai provider (:mod:`openward.runtime.provider`) schedules requests
into :func:`generate_batch`. The loader is the one every in-process use of a local model
goes through: safetensors only, ``trust_remote_code=False``, float32 on CPU.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openward.errors import TargetError
from openward.runtime.compute import compute_bound

__all__ = [
    "Generated",
    "Messages",
    "Sampling",
    "chat_prompts",
    "generate_batch",
    "generate_local",
    "load_local",
    "render_chat",
]

Messages = str | Sequence[Mapping[str, str]]
"""One conversation: a list of ``{"role", "content"}`` messages, or a bare user prompt."""


@functools.lru_cache(maxsize=2)
@compute_bound
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


def render_chat(tokenizer: Any, messages: Messages) -> str:
    """One conversation as the prompt text the model continues.

    The tokenizer's chat template renders it, ready for the reply; a tokenizer without a
    template (a base model) gets ``role: content`` lines, as inspect-ai's ``hf`` provider
    does.
    """
    chat = [{"role": "user", "content": messages}] if isinstance(messages, str) else messages
    if getattr(tokenizer, "chat_template", None) is None:
        return "".join(f"{m['role']}: {m['content']}\n" for m in chat)
    return str(
        tokenizer.apply_chat_template(
            [dict(m) for m in chat], add_generation_prompt=True, tokenize=False
        )
    )


def chat_prompts(tokenizer: Any, messages_list: Sequence[Messages]) -> list[str]:
    """Each conversation rendered by :func:`render_chat`."""
    return [render_chat(tokenizer, messages) for messages in messages_list]


@dataclass(frozen=True)
class Sampling:
    """How to decode: greedy when ``temperature`` is 0, else sampled with it."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    """Stop strings: generation ends at the first, and the reply is cut before it."""

    def generate_kwargs(self, tokenizer: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens}
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature)
            if self.top_p is not None:
                kwargs["top_p"] = self.top_p
            if self.top_k is not None:
                kwargs["top_k"] = self.top_k
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if self.stop:
            kwargs.update(stop_strings=list(self.stop), tokenizer=tokenizer)
        return kwargs


@dataclass(frozen=True)
class Generated:
    """One reply of a batch."""

    text: str
    input_tokens: int
    """The prompt's own tokens (padding not counted)."""
    output_tokens: int
    """Tokens generated for this reply, up to and including its end-of-sequence token."""
    stopped: bool
    """True when the model ended the reply (EOS or a stop string), False at max_new_tokens."""


_GENERATE_LOCK = threading.Lock()
"""One generation at a time in the process: two at once on the same cores only slow both."""


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return ids


@compute_bound
def generate_batch(
    model: Any, tokenizer: Any, prompts: Sequence[str], sampling: Sampling
) -> list[Generated]:
    """Generate one left-padded batch of rendered ``prompts`` (see :func:`render_chat`).

    This is the one generation path for local models: the raw baseline
    (:func:`generate_local`) and the audit's inspect-ai provider
    (:mod:`openward.runtime.provider`) both call it, so their only difference is scheduling.
    Runs on openward's compute thread (:mod:`openward.runtime.compute`), one batch at a
    time in the process.
    """
    import torch

    with _GENERATE_LOCK:
        enc = tokenizer(
            list(prompts), return_tensors="pt", padding=True, add_special_tokens=False
        ).to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **enc, pad_token_id=tokenizer.pad_token_id, **sampling.generate_kwargs(tokenizer)
            )
        new = out[:, enc["input_ids"].shape[1] :].cpu()
        input_tokens = enc["attention_mask"].sum(dim=1).tolist()
    eos = _eos_ids(model, tokenizer)
    results = []
    for row, n_in in zip(new.tolist(), input_tokens, strict=True):
        end = next((i + 1 for i, token in enumerate(row) if token in eos), None)
        tokens = row if end is None else row[:end]
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        stopped = end is not None
        for stop in sampling.stop:
            cut = text.find(stop)
            if cut >= 0:
                text, stopped = text[:cut], True
        results.append(Generated(text.strip(), int(n_in), len(tokens), stopped))
    return results


@compute_bound
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
    sampling = Sampling(max_new_tokens=max_new_tokens, temperature=temperature)
    torch.manual_seed(seed)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        generated = generate_batch(model, tokenizer, [prompts[i] for i in chunk], sampling)
        for i, reply in zip(chunk, generated, strict=True):
            replies[i] = reply.text
    return replies
