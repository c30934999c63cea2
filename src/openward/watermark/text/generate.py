"""Watermarked generation with transformers (needs ``openward[watermark-generate]``).

::

    from openward.watermark.text import load_key
    from openward.watermark.text.generate import load_model, generate_texts

    key = load_key("smollm2.wmkey")
    model, tokenizer = load_model("path/to/SmolLM2.gguf", key)   # refuses another tokenizer
    texts = generate_texts(model, tokenizer, ["Tell me about rivers."], key, max_new_tokens=200)

:func:`watermark_processor` is the ``transformers.LogitsProcessor`` for a key
(for ``model.generate(logits_processor=LogitsProcessorList([...]))``:
:class:`KGWLogitsProcessor` or :class:`SynthIDLogitsProcessor`); the
vLLM callables are :class:`openward.watermark.text.kgw.KGWVLLMProcessor` and
:class:`openward.watermark.text.synthid.SynthIDVLLMProcessor`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from openward.watermark.text.keys import KeyError_, WatermarkKey, tokenizer_identity
from openward.watermark.text.kgw import KGWBias
from openward.watermark.text.synthid import SYNTHID_CANDIDATES, SynthIDTournament

__all__ = [
    "KGWLogitsProcessor",
    "SynthIDLogitsProcessor",
    "check_tokenizer",
    "generate_ids",
    "generate_texts",
    "load_model",
    "model_tokenizer_json",
    "synthid_processor",
    "watermark_processor",
]


class KGWLogitsProcessor(LogitsProcessor):
    """transformers' form of the KGW watermark (LeftHash or SelfHash, from the key)."""

    def __init__(self, key: WatermarkKey) -> None:
        self._bias = KGWBias(key)
        self.params = self._bias.params

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        return self._bias(input_ids, scores)  # type: ignore[return-value]


class SynthIDLogitsProcessor(LogitsProcessor):
    """SynthID-Text for transformers' ``generate``, its tournament on the top candidates.

    Keeps transformers' ``SynthIDTextWatermarkLogitsProcessor`` state (each row's last
    n-1 generated tokens, zeros at first, and the hashes of its recent contexts) and its
    g-values, but reweights only the ``candidates`` most likely tokens
    (:class:`openward.watermark.text.synthid.SynthIDTournament`). ``candidates=None``
    gives transformers' processor's scores exactly. Keeps state: one per ``generate``.
    """

    def __init__(self, key: WatermarkKey, candidates: int | None = SYNTHID_CANDIDATES) -> None:
        self.tournament = SynthIDTournament(key, candidates)
        self._context: torch.Tensor | None = None
        self._history: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._context is None or self._history is None:
            self._context, self._history = self.tournament.initial_state(
                scores.shape[0], scores.device
            )
        else:
            self._context = torch.cat((self._context, input_ids[:, -1:]), dim=1)[:, 1:]
        out, self._history = self.tournament.step(self._context, self._history, scores)
        return out  # type: ignore[return-value]


def synthid_processor(key: WatermarkKey, device: str | torch.device = "cpu") -> Any:
    """transformers' ``SynthIDTextWatermarkLogitsProcessor`` for a SynthID key: the
    reference :class:`SynthIDLogitsProcessor` is tested against (it is about as costly
    as a small model's step on a CPU).

    Built from ``SynthIDTextWatermarkingConfig`` with the key's layer keys and seed;
    its table is then set to the one stored in the key (transformers draws it with a
    torch generator on the model's device, and GPU generators draw other bits than the
    CPU one the key was made with). The processor keeps state: one per ``generate``.
    """
    from transformers import SynthIDTextWatermarkingConfig

    p = key.params
    config = SynthIDTextWatermarkingConfig(
        ngram_len=int(p["ngram_len"]),
        keys=[int(k) for k in p["keys"]],
        context_history_size=int(p["context_history_size"]),
        sampling_table_seed=int(p["sampling_table_seed"]),
        sampling_table_size=int(p["sampling_table_size"]),
    )
    config.validate()  # type: ignore[no-untyped-call]
    proc: Any = config.construct_processor(vocab_size=0, device=torch.device(device))
    proc.sampling_table = torch.as_tensor(
        key.synthid_table().astype("int64"), device=torch.device(device)
    )
    return proc


def watermark_processor(key: WatermarkKey, device: str | torch.device = "cpu") -> LogitsProcessor:
    """The logits processor for ``key`` (a fresh one per ``generate`` call for SynthID)."""
    if key.scheme == "synthid":
        return SynthIDLogitsProcessor(key)
    return KGWLogitsProcessor(key)


def model_tokenizer_json(load_path: Path) -> str:
    """The ``tokenizer.json`` of a loadable model folder."""
    path = load_path / "tokenizer.json"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        raise KeyError_(
            f"{load_path}: no tokenizer.json (openward watermarks models with a fast tokenizer)"
        ) from None


def check_tokenizer(key: WatermarkKey, load_path: Path, display: str) -> None:
    """Refuse a key made for another tokenizer than the model's."""
    ident = tokenizer_identity(model_tokenizer_json(load_path), display)
    if ident.vocab_sha256 != key.tokenizer.vocab_sha256:
        raise KeyError_(
            f"the key is for the tokenizer of {key.tokenizer.name or 'another model'} "
            f"(vocabulary {key.tokenizer.vocab_sha256[:12]}), not {display}'s "
            f"({ident.vocab_sha256[:12]}): make a key for this model with "
            "`openward watermark keygen`"
        )


def load_model(model: str, key: WatermarkKey | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) for a local folder or GGUF file (scanned first, GGUF converted once
    into openward's cache), after checking ``key`` is for its tokenizer."""
    from openward.runtime.generate import load_local
    from openward.runtime.targets import resolve_target

    target = resolve_target(model)
    assert target.load_path is not None  # local targets have one
    if key is not None:
        check_tokenizer(key, target.load_path, model)
    return load_local(target.load_path)


def generate_ids(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    key: WatermarkKey | None,
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float | None = None,
    seed: int | None = None,
    extra_processors: Sequence[Any] = (),
    min_new_tokens: int | None = None,
) -> list[list[int]]:
    """New token ids for each rendered prompt (one left-padded batch), cut before EOS.

    ``key`` None generates without a watermark (the baseline); sampling is multinomial at
    ``temperature`` (0: greedy). ``extra_processors`` run after the watermark.
    """
    from openward.runtime.generate import _eos_ids

    if seed is not None:
        torch.manual_seed(seed)
    processors: list[Any] = []
    if key is not None:
        processors.append(watermark_processor(key, model.device))
    processors.extend(extra_processors)
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False).to(
        model.device
    )
    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens}
    if min_new_tokens is not None:
        kwargs["min_new_tokens"] = min_new_tokens
    if temperature > 0:
        kwargs.update(do_sample=True, temperature=temperature, top_k=0)
        kwargs["top_p"] = top_p if top_p is not None else 1.0
    else:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        out = model.generate(
            **enc,
            pad_token_id=tokenizer.pad_token_id,
            logits_processor=LogitsProcessorList(processors),
            **kwargs,
        )
    eos = _eos_ids(model, tokenizer)
    rows = []
    for row in out[:, enc["input_ids"].shape[1] :].tolist():
        end = next((i for i, t in enumerate(row) if t in eos), len(row))
        rows.append(row[:end])
    return rows


def generate_texts(
    model: Any,
    tokenizer: Any,
    messages: Sequence[str],
    key: WatermarkKey | None,
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float | None = None,
    seed: int | None = None,
) -> list[str]:
    """Replies to user messages (chat template applied), watermarked with ``key``."""
    from openward.runtime.generate import chat_prompts

    rows = generate_ids(
        model,
        tokenizer,
        chat_prompts(tokenizer, list(messages)),
        key,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
    )
    return [tokenizer.decode(r, skip_special_tokens=True) for r in rows]


def keygen_from_model(model: str, scheme: str, *, publisher: str = "") -> WatermarkKey:
    """A new key for the tokenizer of ``model`` (a folder or GGUF file, resolved as for
    generation: scanned first, GGUF converted once)."""
    from openward.runtime.targets import resolve_target
    from openward.watermark.text.keys import new_key

    target = resolve_target(model)
    assert target.load_path is not None
    ident = tokenizer_identity(model_tokenizer_json(target.load_path), _name(model))
    return new_key(scheme, ident, publisher=publisher)


def _name(model: str) -> str:
    path = Path(model)
    return path.name or model
