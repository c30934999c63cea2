"""``openward lineage --endpoint URL --model NAME BASE...`` (and ``--mode outputs``): lineage
from what a model says, for when its weights are not available.

In the spirit of Model Provenance Testing (Nikolić, Baluta and Saxena, NeurIPS 2025): a
derivative stays closer to its base's outputs than models of other families do, and
"closer" is judged against reference models, not against zero.

- Every model answers the same fixed chat prompts (:data:`openward.lineage.prompts.
  INSTRUCTIONS`, the first ``prompts`` of them) greedily, ``max_tokens`` tokens: the
  candidate through its OpenAI-compatible endpoint (:func:`openward.runtime.resolve_target`
  checks it with retries first; inspect-ai's ``openai-api`` provider sends the requests and
  retries them), the bases and references locally through the runtime (scan gate, GGUF
  cache, the one generation path :func:`openward.runtime.generate.generate_local`). Local
  replies are cached per model digest, prompt set and settings.
- Each local model M then reads the candidate's reply to every prompt (teacher-forced, after
  the prompt rendered with M's chat template) and the **gap** is how much less likely,
  per character, M finds the candidate's reply than its own greedy reply (nats per
  character). A derivative's replies are nearly what its base would say: a small gap. The
  gap, not the raw likelihood, is compared, so a reference that is simply a better language
  model gains nothing.
- For each reference r, a one-sided sign test over the prompts: on how many does the base
  have the smaller gap, on how many r (ties and empty replies dropped); p_r is the binomial
  tail. The p-value is the largest Holm-Bonferroni-adjusted p_r (the base must beat *every*
  reference), and ``derived`` needs p <= :data:`DERIVED_P`. The score is the share of
  prompts on which the base beats every reference.
- References default to the bundled chat models of two families (SmolLM2-135M-Instruct,
  Qwen2.5-Coder-0.5B-Instruct), those installed; ``--reference`` names others. A reference
  whose weights openward's weight mode finds identical to or derived from the base is left
  out (it would make the base's own family its null).
- Evidence also carries the plain greedy agreement (common word prefix of two replies over
  the shorter one's first :data:`WORDS` words) with the base and each reference.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from openward.errors import OpenwardError, TargetError
from openward.lineage.modes import ModeResult, binomial_tail, holm_max, require_ml
from openward.lineage.prompts import PROMPTS_SHA256, instructions, prompt_set_record

if TYPE_CHECKING:
    from openward.lineage.fingerprint import Fingerprint
    from openward.runtime.targets import Target

__all__ = [
    "DERIVED_P",
    "MAX_TOKENS",
    "PROMPTS",
    "WORDS",
    "Judged",
    "LocalModel",
    "Replies",
    "agreement",
    "compare_outputs",
    "default_references",
    "endpoint_replies",
    "judge",
    "local_model",
    "related_to",
]

PROMPTS: Final = 32
MAX_TOKENS: Final = 16
WORDS: Final = 10
DERIVED_P: Final = 1e-3
REQUEST_RETRIES: Final = 4
REQUEST_TIMEOUT_S: Final = 120
CONCURRENT_REQUESTS: Final = 1
CACHE_VERSION: Final = 1
SCORE_BATCH: Final = 8
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Replies:
    """A model's greedy replies to the first ``len(texts)`` prompts."""

    model: str
    texts: tuple[str, ...]
    max_tokens: int


@dataclass(frozen=True)
class LocalModel:
    """A local base or reference: its folder, its own greedy replies and their likelihood."""

    name: str
    load_path: Path
    replies: Replies
    own_rates: tuple[float, ...]
    """Per prompt: log-likelihood per character of its own reply (nats)."""


@dataclass(frozen=True)
class Judged:
    """A local model's reading of the candidate's replies."""

    model: LocalModel
    gaps: tuple[float, ...]
    """Per prompt: own reply's rate minus the candidate reply's (NaN: nothing to read)."""


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())[:WORDS]


def agreement(a: str, b: str) -> float:
    """How far two replies start the same: common word prefix over the shorter one's words."""
    wa, wb = _words(a), _words(b)
    if not wa and not wb:
        return 1.0
    shorter = min(len(wa), len(wb))
    if shorter == 0:
        return 0.0
    same = 0
    for x, y in zip(wa, wb, strict=False):
        if x != y:
            break
        same += 1
    return same / shorter


def _check_settings(prompts: int, max_tokens: int) -> None:
    if not 8 <= prompts <= len(instructions()):
        raise OpenwardError(f"--prompts must be between 8 and {len(instructions())}")
    if not 1 <= max_tokens <= 256:
        raise OpenwardError("--max-tokens must be between 1 and 256")


def endpoint_replies(
    target: Target, *, prompts: int = PROMPTS, max_tokens: int = MAX_TOKENS
) -> Replies:
    """The endpoint's greedy replies (inspect-ai's openai-api provider, retried requests).

    Raises:
        TargetError: the endpoint fails (after inspect's retries), in one line.
    """
    _check_settings(prompts, max_tokens)
    from inspect_ai.model import GenerateConfig

    from openward.runtime.targets import inspect_model

    model = inspect_model(target, batch_size=CONCURRENT_REQUESTS)
    config = GenerateConfig(
        temperature=0.0,
        max_tokens=max_tokens,
        seed=0,
        max_retries=REQUEST_RETRIES,
        timeout=REQUEST_TIMEOUT_S,
    )

    async def ask_all() -> list[str]:
        outs = await asyncio.gather(
            *(model.generate(text, config=config) for text in instructions()[:prompts])
        )
        return [o.completion for o in outs]

    try:
        texts = asyncio.run(ask_all())
    except Exception as exc:  # inspect and openai raise many kinds; the user needs one line
        lines = str(exc).strip().splitlines()
        raise TargetError(
            target.display,
            f"the endpoint failed to answer: {lines[0] if lines else type(exc).__name__}",
        ) from None
    return Replies(target.display, tuple(texts), max_tokens)


def _folder_digest(folder: Path) -> str:
    from openward.runtime.cache import file_sha256

    digest = hashlib.sha256()
    for item in sorted(folder.iterdir()):
        if item.is_file() and not item.name.startswith("."):
            digest.update(f"{item.name}\0{file_sha256(item)}\0".encode())
    return digest.hexdigest()


def local_model(target: str, *, prompts: int = PROMPTS, max_tokens: int = MAX_TOKENS) -> LocalModel:
    """A local model resolved through the runtime, with its own greedy replies and their
    likelihood (cached in openward's cache per model digest, prompt set and settings).

    Raises:
        OpenwardError: torch/transformers missing, or the model is refused or fails to load.
    """
    _check_settings(prompts, max_tokens)
    require_ml("lineage's output mode")
    from openward.runtime.cache import cache_root
    from openward.runtime.generate import generate_local
    from openward.runtime.targets import resolve_target

    load_path = resolve_target(target).load_path
    if load_path is None:  # pragma: no cover (local targets always have one)
        raise TargetError(target, "no loadable folder")
    key = hashlib.sha256(
        json.dumps(
            [CACHE_VERSION, _folder_digest(load_path), PROMPTS_SHA256, prompts, max_tokens]
        ).encode()
    ).hexdigest()
    cached = cache_root() / "lineage-replies" / f"{key}.json"
    try:
        record = json.loads(cached.read_text(encoding="utf-8"))
        texts, rates = record["texts"], record["rates"]
        if len(texts) == len(rates) == prompts:
            return LocalModel(
                target,
                load_path,
                Replies(target, tuple(str(t) for t in texts), max_tokens),
                tuple(float(r) for r in rates),
            )
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no usable cached replies: generate them below
    texts = generate_local(
        load_path, instructions()[:prompts], max_new_tokens=max_tokens, batch_size=8
    )
    rates = likelihood_rates(load_path, texts)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"texts": texts, "rates": rates}), encoding="utf-8")
        os.replace(tmp, cached)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return LocalModel(target, load_path, Replies(target, tuple(texts), max_tokens), tuple(rates))


def likelihood_rates(load_path: Path, replies: Sequence[str]) -> list[float]:
    """Per prompt, the log-likelihood per character (nats) the model at ``load_path`` gives
    ``replies[i]`` as its reply to prompt i (NaN for an empty reply)."""
    from openward.runtime.compute import run_on_compute_thread

    return run_on_compute_thread(_rates, Path(load_path), list(replies))


def _rates(load_path: Path, replies: list[str]) -> list[float]:
    import torch

    from openward.runtime.generate import load_local, render_chat

    model, tokenizer = load_local(load_path)
    trunk, head = model.base_model, model.get_output_embeddings()
    softcap = getattr(model.config, "final_logit_softcapping", None)  # Gemma-2 style heads
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows: list[tuple[int, list[int], list[int]]] = []
    out = [math.nan] * len(replies)
    for i, (prompt, reply) in enumerate(zip(instructions(), replies, strict=False)):
        reply_ids = list(tokenizer(reply, add_special_tokens=False)["input_ids"])
        if reply.strip() and reply_ids:
            prompt_ids = tokenizer(render_chat(tokenizer, prompt), add_special_tokens=False)
            rows.append((i, list(prompt_ids["input_ids"]), reply_ids))
    with torch.inference_mode():
        for start in range(0, len(rows), SCORE_BATCH):
            batch = rows[start : start + SCORE_BATCH]
            seqs = [p + r for _, p, r in batch]
            width = max(len(x) for x in seqs)
            # right padding: causal attention keeps every real position exact
            ids = torch.tensor([x + [pad] * (width - len(x)) for x in seqs], device=model.device)
            mask = torch.tensor(
                [[1] * len(x) + [0] * (width - len(x)) for x in seqs], device=model.device
            )
            hidden = trunk(input_ids=ids, attention_mask=mask, return_dict=True).last_hidden_state
            for k, (i, prompt_ids, reply_ids) in enumerate(batch):
                # the positions that predict the reply's tokens: only they need the head
                at = hidden[k, len(prompt_ids) - 1 : len(prompt_ids) + len(reply_ids) - 1]
                logits = head(at).float()
                if softcap:
                    logits = torch.tanh(logits / softcap) * softcap
                logp = torch.log_softmax(logits, dim=-1)
                picked = logp[torch.arange(len(reply_ids)), torch.tensor(reply_ids)]
                out[i] = float(picked.sum()) / len(replies[i])
    return out


def judge(model: LocalModel, candidate: Replies) -> Judged:
    """How much less likely ``model`` finds each of the candidate's replies than its own."""
    rates = likelihood_rates(model.load_path, candidate.texts)
    return Judged(model, tuple(own - r for own, r in zip(model.own_rates, rates, strict=False)))


def default_references() -> list[str]:
    """The bundled chat models (one per family) that are installed, as local paths."""
    from openward.runtime import bundled

    found = []
    # Gemma-3-270M is a base model without a chat template: the runtime renders prompts for
    # it as "user: ..." lines without its BOS token and it answers noise, a reference that
    # costs time and tests nothing; name it with --reference to use it anyway
    for locate in (bundled.smollm2_gguf, bundled.qwen_coder_gguf):
        try:
            found.append(str(locate()))
        except bundled.BundledModelMissing:
            continue
    return found


def related_to(
    base: LocalModel, reference: LocalModel, fingerprints: dict[Path, Fingerprint] | None = None
) -> bool:
    """Whether the weight mode finds ``reference`` identical to or derived from ``base``
    (their converted safetensors folders are fingerprinted; ``fingerprints`` keeps them for
    the next call)."""
    from openward.lineage.compare import compare
    from openward.lineage.fingerprint import compute_fingerprint

    known = fingerprints if fingerprints is not None else {}
    for model in (base, reference):
        if model.load_path not in known:
            known[model.load_path] = compute_fingerprint(str(model.load_path))
    result = compare(known[reference.load_path], known[base.load_path])
    return result.verdict in ("identical", "derived")


def compare_outputs(candidate: Replies, base: Judged, references: Sequence[Judged]) -> ModeResult:
    """``derived`` when, prompt by prompt, the base reads the candidate's replies as its own
    more often than every reference does (sign tests, Holm-Bonferroni), else ``unrelated``."""
    if not references:
        raise OpenwardError(
            "the output mode needs at least one reference model of another family than the "
            "base (--reference MODEL)"
        )
    n = min(len(candidate.texts), len(base.gaps), *(len(r.gaps) for r in references))
    rows = []
    p_values = []
    beats_all = 0
    valid = [i for i in range(n) if not math.isnan(base.gaps[i])]
    for i in valid:
        if all(not math.isnan(r.gaps[i]) and base.gaps[i] < r.gaps[i] for r in references):
            beats_all += 1
    for ref in references:
        pairs = [(base.gaps[i], ref.gaps[i]) for i in valid if not math.isnan(ref.gaps[i])]
        wins = sum(b < r for b, r in pairs)
        losses = sum(b > r for b, r in pairs)
        p = binomial_tail(wins, wins + losses) if wins + losses else 1.0
        p_values.append(p)
        rows.append(
            {
                "reference": ref.model.name,
                "gap": _mean(ref.gaps[:n]),
                "agreement": _agreement(candidate, ref.model.replies, n),
                "wins": wins,
                "losses": losses,
                "p_value": float(f"{p:.3g}"),
            }
        )
    p_value = holm_max(p_values)
    same = sum(candidate.texts[i].strip() == base.model.replies.texts[i].strip() for i in range(n))
    return ModeResult(
        base.model.name,
        "outputs",
        "derived" if p_value <= DERIVED_P else "unrelated",
        beats_all / max(1, len(valid)),
        p_value,
        evidence={
            "prompts": prompt_set_record(n),
            "max_tokens": base.model.replies.max_tokens,
            "gap": _mean(base.gaps[:n]),
            "agreement": _agreement(candidate, base.model.replies, n),
            "replies_equal": same,
            "references": rows,
        },
    )


def _mean(values: Sequence[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return round(sum(finite) / len(finite), 4) if finite else None


def _agreement(a: Replies, b: Replies, n: int) -> float:
    return round(sum(agreement(a.texts[i], b.texts[i]) for i in range(n)) / n, 4)
