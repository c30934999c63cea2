"""``openward lineage --mode representation``: do two models represent the same sentences
the same way? (REEF, Zhang et al., ICLR 2025.)

Both models are loaded through openward's runtime (:func:`openward.runtime.resolve_target`:
the scan gate, GGUF converted once into the cache, ``trust_remote_code`` never) and run on
the fixed sentences of :mod:`openward.lineage.prompts` as plain text. From each model the
hidden state of every sentence's last token is taken after the layers at relative depths
1/8, 2/8, ..., 8/8 (layer ``round(depth x layers)``; the last is the final hidden state),
so a 30-layer model is matched to a 24-layer one depth for depth. At each depth the two
models' states over the sentences are compared with linear CKA, debiased (the unbiased
HSIC estimator of Song et al. 2012, as in Nguyen et al. 2021): plain CKA over a few dozen
sentences is biased upward by the hidden size. CKA does not change under an orthogonal
transform or an isotropic scaling of either model's states, so a permuted or rotated
derivative keeps its score.

The score is the mean CKA over the depths. Unrelated trained models are far from 0 (they
encode the same sentences), so the decision is calibrated on real unrelated pairs
(:data:`NULL_MEAN`, :data:`NULL_SD`; figures in docs/lineage.md): the p-value is the
normal tail of the score's Fisher z against that null, and ``derived`` needs
p <= :data:`DERIVED_P` and a score of at least :data:`MIN_SCORE`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from openward.lineage.modes import ModeResult, normal_tail, require_ml
from openward.lineage.prompts import SENTENCES, prompt_set_record

__all__ = [
    "DEPTHS",
    "DERIVED_P",
    "MIN_SCORE",
    "NULL_MEAN",
    "NULL_SD",
    "Representations",
    "compare_representations",
    "debiased_cka",
    "load_representations",
    "representations_of",
]

F64 = npt.NDArray[np.float64]

DEPTHS: Final[tuple[float, ...]] = tuple(k / 8 for k in range(1, 9))
BATCH: Final = 16

NULL_MEAN: Final = 0.2
"""The null's mean score (Fisher z): six unrelated pairs measured 0.015 to 0.369 (mean z
0.16): three model families and same-architecture models trained from scratch
(docs/lineage.md has each figure). Rounded up."""
NULL_SD: Final = 0.2
"""The null's spread (Fisher z): 1.5 times the 0.13 measured, for having only six pairs."""
DERIVED_P: Final = 1e-3
MIN_SCORE: Final = 0.6
"""With the null above, p <= 1e-3 already needs a score of 0.67; the floor guards a
change of the null."""
IDENTICAL_RTOL: Final = 1e-4


@dataclass(frozen=True)
class Representations:
    """A model's last-token hidden states on the prompt set at :data:`DEPTHS`."""

    model: str
    layers_total: int
    layer_index: tuple[int, ...]
    states: F64
    """Shape (depths, prompts, hidden)."""

    @property
    def hidden(self) -> int:
        return int(self.states.shape[2])


def load_representations(
    target: str, *, prompts: Sequence[str] = SENTENCES, cache_dir: Path | None = None
) -> Representations:
    """Resolve ``target`` through the runtime (scan gate, GGUF cache) and run it on ``prompts``.

    Raises:
        OpenwardError: torch/transformers missing, or the target is refused or fails to load
            (one line).
    """
    require_ml("--mode representation")
    from openward.runtime.targets import resolve_target

    resolved = resolve_target(target, cache_dir=cache_dir)
    if resolved.load_path is None:  # pragma: no cover (local targets always have one)
        raise ValueError(target)
    return representations_of(resolved.load_path, name=target, prompts=prompts)


def representations_of(
    load_path: Path, *, name: str | None = None, prompts: Sequence[str] = SENTENCES
) -> Representations:
    """The hidden states of the (already resolved) safetensors folder ``load_path``."""
    from openward.runtime.compute import run_on_compute_thread

    return run_on_compute_thread(_forward, Path(load_path), name or str(load_path), list(prompts))


def _forward(load_path: Path, name: str, prompts: list[str]) -> Representations:
    import torch

    from openward.errors import TargetError
    from openward.runtime.generate import load_local

    model, tokenizer = load_local(load_path)
    trunk = model.base_model  # the decoder without its vocabulary head
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    chunks: list[F64] = []
    layers_total = 0
    index: list[int] = []
    with torch.inference_mode():
        for start in range(0, len(prompts), BATCH):
            ids = [list(tokenizer(p)["input_ids"]) for p in prompts[start : start + BATCH]]
            width = max(len(i) for i in ids)
            # right padding: causal attention keeps every real token's state exact
            input_ids = torch.tensor([i + [pad] * (width - len(i)) for i in ids])
            mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
            try:
                out = trunk(
                    input_ids=input_ids.to(model.device),
                    attention_mask=mask.to(model.device),
                    output_hidden_states=True,
                    return_dict=True,
                )
            except Exception as exc:  # transformers raises many kinds for a model it cannot run
                lines = str(exc).strip().splitlines()
                raise TargetError(
                    name, f"the model failed to run: {lines[0] if lines else type(exc).__name__}"
                ) from None
            hidden_states = out.hidden_states
            layers_total = len(hidden_states) - 1
            index = [min(layers_total, max(1, round(d * layers_total))) for d in DEPTHS]
            last = torch.tensor([len(i) - 1 for i in ids])
            rows = torch.arange(len(ids))
            picked = torch.stack([hidden_states[k][rows, last.to(model.device)] for k in index])
            chunks.append(picked.detach().to("cpu", torch.float64).numpy())
    states = np.concatenate(chunks, axis=1)
    if not np.isfinite(states).all():
        raise TargetError(name, "the model's hidden states are not finite (NaN or inf)")
    return Representations(name, layers_total, tuple(index), states)


def _unbiased_hsic(k: F64, l: F64) -> float:  # noqa: E741 (the usual name of the second Gram)
    n = int(k.shape[0])
    k = k.copy()
    l = l.copy()  # noqa: E741
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones = np.ones(n)
    k1, l1 = k @ ones, l @ ones
    value = (
        float(np.sum(k * l))
        + float(ones @ k1) * float(ones @ l1) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * float(k1 @ l1)
    )
    return value / (n * (n - 3))


def debiased_cka(x: F64, y: F64) -> float:
    """Linear CKA of ``x`` (n, p) and ``y`` (n, q) with the unbiased HSIC estimator."""
    if x.shape[0] != y.shape[0] or x.shape[0] < 4:
        raise ValueError("debiased CKA needs the same n >= 4 samples on both sides")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    kx, ky = x @ x.T, y @ y.T
    denom = _unbiased_hsic(kx, kx) * _unbiased_hsic(ky, ky)
    if denom <= 0.0:
        return 0.0
    return _unbiased_hsic(kx, ky) / math.sqrt(denom)


def _fisher_z(score: float) -> float:
    return math.atanh(min(max(score, -0.999), 0.999))


def compare_representations(
    candidate: Representations, base: Representations, base_name: str | None = None
) -> ModeResult:
    """``identical``, ``derived`` or ``unrelated`` from the two models' hidden states."""
    name = base_name or base.model
    n = min(candidate.states.shape[1], base.states.shape[1])
    record = prompt_set_record(n)
    if candidate.states.shape == base.states.shape and np.allclose(
        candidate.states,
        base.states,
        rtol=IDENTICAL_RTOL,
        atol=IDENTICAL_RTOL * float(np.abs(base.states).max(initial=1.0)),
    ):
        layers = [
            {"depth": d, "layer": i, "base_layer": j, "cka": 1.0}
            for d, i, j in zip(DEPTHS, candidate.layer_index, base.layer_index, strict=True)
        ]
        return ModeResult(
            name,
            "representation",
            "identical",
            1.0,
            0.0,
            layers=layers,
            evidence={"prompts": record},
            notes=["every hidden state sampled is equal: the same function on these prompts"],
        )
    layers = []
    for d, i, j, a, b in zip(
        DEPTHS, candidate.layer_index, base.layer_index, candidate.states, base.states, strict=True
    ):
        layers.append(
            {"depth": d, "layer": i, "base_layer": j, "cka": round(debiased_cka(a[:n], b[:n]), 4)}
        )
    score = float(np.mean([layer["cka"] for layer in layers]))
    p_value = normal_tail((_fisher_z(score) - NULL_MEAN) / NULL_SD)
    derived = p_value <= DERIVED_P and score >= MIN_SCORE
    return ModeResult(
        name,
        "representation",
        "derived" if derived else "unrelated",
        score,
        p_value,
        layers=layers,
        evidence={
            "prompts": record,
            "candidate_layers": candidate.layers_total,
            "base_layers": base.layers_total,
            "null": {"mean_z": NULL_MEAN, "sd_z": NULL_SD},
        },
    )
