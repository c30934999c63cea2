"""Harmful requests on the input side, wrapped or plain (``harmful-request``).

The injection/jailbreak classifier reads *how* a prompt talks to the model; it has no idea
*what* is asked. Persuasive framing (Zeng et al. 2024), past-tense reformulation
(Andriushchenko & Flammarion 2024), fiction and role-play wrappers, hypotheticals and
research pretexts around a harmful ask read like ordinary prose to it. This detector asks the
other question: does the request ask for something harmful, and is the ask wrapped in framing?

Model: the classifier's static token embeddings (``guard_clf.safetensors``, MiniLM-distilled,
frozen, shared: not shipped twice), a small 1-D convolution (widths 1-3, 64 filters each,
ReLU), max-pooled over each window of :data:`WINDOW` tokens, and a linear layer to two
independent sigmoids: ``harm`` (the request asks for harmful content or help) and ``framed``
(it is wrapped in persuasion, past tense, fiction, role-play, a hypothetical or a pretext).
Trained by ``scripts/train_guard_harm.py`` (``make train-guard-harm``) on hand-written intents
and wrappers (``scripts/guard_data/harm_requests.py``) applied to harmful and benign asks alike,
plus AdvBench, HarmBench, StrongREJECT and XSTest; weights ``weights/guard_harm.safetensors``
(the head only, 0.2 MB) and ``guard_harm.json`` (data hashes, thresholds, validation figures).

Findings (policy name ``harmful-request``):

- kind ``jailbreak``: a harmful ask wrapped in framing (``harm`` over its threshold, and
  ``framed`` over its threshold or a framing cue among the wrapper families' phrases:
  hypothetically, imagine, role-play, story, in the past, for my thesis, as a licensed ...).
  Default action: block.
- kind ``plain``: a harmful ask with no framing. Default action: flag (a plain harmful ask is
  the model's own refusal to handle; the output side's ``harmful-compliance`` checks it).
- kind ``multi-turn``: the user turns of a conversation read together (Crescendo-style
  escalation, Russinovich et al. 2024) cross the multi-turn threshold (0.8, lower than one
  message's: no single turn names the target) while no single turn crosses the harm threshold.
  Default action: block.

Only user messages are read (``user`` role, documents pasted into them included: the head was
trained with documents as benign); a tool result or a ``document`` message that mentions a
weapon is content, not a request. Numpy only; about 1-2 ms per 2 000 characters (the
per-token products with the convolution are precomputed at load, 58 MB, as the classifier
does).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from openward.guard.classifier import conv_relu, token_windows
from openward.guard.detectors._common import TextCache, capped_segments
from openward.guard.types import Conversation, Detection, DetectorContext

__all__ = ["HarmModel", "HarmScore", "HarmfulRequestDetector"]

NAME: Final = "harmful-request"
WEIGHTS_DIR: Final = Path(__file__).resolve().parent.parent / "weights"
HEAD_FILE: Final = WEIGHTS_DIR / "guard_harm.safetensors"
META_FILE: Final = WEIGHTS_DIR / "guard_harm.json"
EMB_FILE: Final = WEIGHTS_DIR / "guard_clf.safetensors"
TOKENIZER_FILE: Final = WEIGHTS_DIR / "guard_clf_tokenizer.json"
LABELS: Final = ("harm", "framed")
WINDOW: Final = 128
STRIDE: Final = 96
MAX_TURN_CHARS: Final = 4000  # a user turn's share of the multi-turn text (its head and tail)
SCORED_ROLES: Final = frozenset({"user"})

F32 = npt.NDArray[np.float32]

# Framing cues (the wrapper families of the training data, as phrases). The ``framed`` head
# learns its training templates' wording and misses new ones; once an ask is judged harmful,
# any of these also makes it a wrapped one.
_FRAMING = re.compile(
    r"\b(?:hypothetical(?:ly)?|imagine|suppose|pretend|role-?play|in character|thought experiment|"
    r"alternate (?:universe|world|reality)|parallel universe|fictional|fiction|story|novel|"
    r"screenplay|"
    r"script|scene|chapter|poem|dialogue|monologue|character|game|dream|layer|"
    r"in the past|historically|back in|in the (?:old|early) days|in the \d{2,4}s|"
    r"centur(?:y|ies) ago|"
    r"(?:for|in) (?:my|a|our) (?:thesis|research|study|class|course|paper|essay|project|lecture|"
    r"workshop|training|documentary|book|article)|academic purposes|educational purposes|"
    r"as an? (?:licensed|certified|professional|expert|researcher|professor|doctor|nurse|"
    r"police|officer|teacher|journalist|chemist|scientist)|i'?m begging|please,? i|"
    r"my (?:late )?(?:grand(?:ma|pa|mother|father)|dad|mom|mother|father)|"
    r"experts? (?:agree|say)|studies show|research shows|everyone (?:else|already)|"
    r"you are now|from now on|act as|stay in|what if|let'?s say|for (?:the sake of )?argument|"
    r"respected|renowned|endorsed|signed off|approved|authori[sz]ed|i'?m an? |as part of)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class HarmScore:
    harm: float
    framed: float
    start: int  # character span of the best harm window
    end: int


def _sigmoid(x: float) -> float:
    return float(0.5 * (1.0 + np.tanh(0.5 * x)))


class HarmModel:
    """The numpy forward pass. Thread-safe after construction."""

    def __init__(
        self, emb: F32, head: dict[str, npt.NDArray[Any]], meta: dict[str, Any], tokenizer: str
    ) -> None:
        from tokenizers import Tokenizer

        self.meta = meta
        self.emb = emb
        self.widths: tuple[int, ...] = tuple(int(w) for w in meta["model"]["widths"])
        self.filters = int(meta["model"]["filters"])
        d = emb.shape[1]
        blocks: list[F32] = []
        for w in self.widths:
            k = head[f"conv{w}.weight"].astype(np.float32)  # (F, d, w), torch layout
            assert k.shape == (self.filters, d, w), k.shape
            blocks.extend(k[:, :, j].T for j in range(w))
        self.conv_w: F32 = np.ascontiguousarray(np.concatenate(blocks, axis=1))
        self.conv_b = [head[f"conv{w}.bias"].astype(np.float32) for w in self.widths]
        # every token's product with the conv weights, once at load: a text then costs a
        # gather and shifted adds, no matrix product (a multi-threaded BLAS call per request
        # cost 20-30 ms on a loaded machine against ~1 ms for this). Rounded to float16 (the
        # values the head was checked with) and held as float32 (116 MB instead of 58): numpy
        # converts gathered halves one at a time, half of a 400-character ask's cost.
        self._proj: npt.NDArray[np.float32] = (
            (emb @ self.conv_w).astype(np.float16).astype(np.float32)
        )
        self.fc_w: F32 = head["fc.weight"].astype(np.float32)
        self.fc_b: F32 = head["fc.bias"].astype(np.float32)
        self.thresholds = {k: float(v) for k, v in meta["thresholds"].items()}
        tok = Tokenizer.from_str(tokenizer)
        tok.no_truncation()
        tok.no_padding()
        self._tok = tok
        # the same ask is read by harmful-request on the way in and by harmful-compliance's
        # prefilter after the answer, and a conversation repeats its turns: read each once
        self._cache: TextCache[HarmScore] = TextCache()

    @classmethod
    def load(
        cls,
        head: Path = HEAD_FILE,
        meta: Path = META_FILE,
        emb: Path = EMB_FILE,
        tokenizer: Path = TOKENIZER_FILE,
    ) -> HarmModel:
        from safetensors import safe_open
        from safetensors.numpy import load_file

        with safe_open(str(emb), "np") as fh:
            q = fh.get_tensor("embedding.q").astype(np.float32)
            scale = fh.get_tensor("embedding.scale").astype(np.float32)
        table = np.ascontiguousarray(q * scale[:, None])
        return cls(
            table, dict(load_file(str(head))), json.loads(meta.read_text()), tokenizer.read_text()
        )

    @classmethod
    def default(cls) -> HarmModel:
        return _default()

    def _logits(self, ids: npt.NDArray[np.int64]) -> tuple[F32, list[tuple[int, int]]]:
        n = max(len(ids) + 2, max(self.widths))
        y = np.zeros((n, self.conv_w.shape[1]), dtype=np.float32)
        y[1 : len(ids) + 1] = self._proj[ids]
        f = self.filters
        outs = conv_relu(y, self.widths, f, self.conv_b)
        wins = token_windows(len(ids), WINDOW, STRIDE)
        pooled = np.empty((len(wins), len(self.widths) * f), dtype=np.float32)
        for k, (s, e) in enumerate(wins):
            pooled[k] = np.concatenate(
                [
                    o[s : max(s + 1, e + 3 - w)].max(axis=0)
                    for w, o in zip(self.widths, outs, strict=True)
                ]
            )
        return pooled @ self.fc_w.T + self.fc_b, wins

    def score(self, text: str) -> HarmScore:
        """The best window's ``harm`` probability (with that window's ``framed``) and its span."""
        return self._cache.get(text, self._score)

    def _score(self, text: str) -> HarmScore:
        enc = self._tok.encode(text, add_special_tokens=False)
        ids = np.asarray(enc.ids, dtype=np.int64)
        if len(ids) == 0:
            return HarmScore(0.0, 0.0, 0, 0)
        offs = enc.offsets
        logits, wins = self._logits(ids)
        k = int(np.argmax(logits[:, 0]))
        framed = float(logits[:, 1].max())
        s, e = wins[k]
        return HarmScore(
            _sigmoid(float(logits[k, 0])), _sigmoid(framed), int(offs[s][0]), int(offs[e - 1][1])
        )


_LOCK = threading.Lock()


@cache
def _default() -> HarmModel:
    with _LOCK:
        return HarmModel.load()


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + "\n" + text[-half:]


class HarmfulRequestDetector:
    """``harmful-request`` (see the module docstring). Thresholds: ``ctx.thresholds`` for the
    harm probability (the policy's ``threshold``), else the shipped one; options ``framed`` and
    ``multi_turn`` (``detectors.harmful-request.options``) set the framing and the multi-turn
    thresholds."""

    name = NAME

    def __init__(self, model: HarmModel | None = None) -> None:
        self._model = model

    @property
    def model(self) -> HarmModel:
        if self._model is None:
            self._model = HarmModel.default()
        return self._model

    def detect(self, conv: Conversation, ctx: DetectorContext) -> list[Detection]:
        m = self.model
        t_harm = float(ctx.thresholds.get(NAME, m.thresholds["harm"]))
        opts = ctx.options.get(NAME, {})
        t_framed = float(opts.get("framed", m.thresholds["framed"]))
        out: list[Detection] = []
        best: tuple[float, int] = (0.0, -1)
        turns: dict[int, list[str]] = {}
        for idx, seg, cap in capped_segments(conv):
            if seg.role not in SCORED_ROLES or not cap.text.strip():
                continue
            turns.setdefault(seg.message, []).append(cap.text)
            r = m.score(cap.text)
            best = max(best, (r.harm, idx))
            if r.harm < t_harm:
                continue
            cue = _FRAMING.search(cap.text) is not None
            kind = "jailbreak" if r.framed >= t_framed or cue else "plain"
            ev: dict[str, Any] = {"framed": round(r.framed, 4), "framing_cue": cue}
            if cap.truncated:
                ev["truncated"] = True
            out.append(
                Detection(
                    NAME, kind, r.harm, idx, cap.to_original(r.start), cap.to_original(r.end), ev
                )
            )
        if out or len(turns) < 2:
            return out
        # Crescendo: no single turn crosses the line; the user's side of the conversation may.
        joined = "\n".join(
            _clip(" ".join(parts), MAX_TURN_CHARS) for _, parts in sorted(turns.items())
        )
        r = m.score(joined)
        t_multi = float(opts.get("multi_turn", m.thresholds.get("multi_turn", t_harm)))
        if r.harm >= min(t_harm, t_multi):
            last = max(i for i, seg in enumerate(conv.segments) if seg.role in SCORED_ROLES)
            ev = {"turns": len(turns), "framed": round(r.framed, 4), "best_turn": round(best[0], 4)}
            out.append(
                Detection(NAME, "multi-turn", r.harm, last, 0, len(conv.segments[last].text), ev)
            )
        return out
