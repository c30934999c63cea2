"""Attacks on the weight mark's detector (issue 17 review): weights kept in a subfolder
are traced as they are marked, and no innocent grant is named — not on an unmarked copy,
a noisy one, another grant's copy or a copy of other weights with the same shapes — with
p-values no smaller than their bound claims."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from openward.watermark import weights as W

SECRET = b"attack-secret-0123456789abcdef01"


def _st(tensors: dict[str, np.ndarray]) -> bytes:
    from openward._samples import _safetensors_bytes

    return _safetensors_bytes(
        {k: ("F32", list(v.shape), v.astype("<f4").tobytes()) for k, v in tensors.items()}
    )


def _tensors(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {"model.embed_tokens.weight": rng.normal(0, 0.02, (512, 256))}
    for layer in range(2):
        out[f"model.layers.{layer}.self_attn.q_proj.weight"] = rng.normal(0, 0.02, (256, 256))
        out[f"model.layers.{layer}.mlp.up_proj.weight"] = rng.normal(0, 0.02, (512, 256))
    return out


def _write(folder: Path, tensors: dict[str, np.ndarray], rel: str = "model.safetensors") -> Path:
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_bytes(_st(tensors))
    return folder


def _keys(n: int) -> dict[str, bytes]:
    return {str(i): W.grant_key(SECRET, "acme/attack", str(i)) for i in range(n)}


def test_weights_in_a_subfolder_are_marked_and_traced(tmp_path: Path) -> None:
    original = _write(tmp_path / "original", _tensors(0), "weights/model.safetensors")
    keys = _keys(3)
    W.mark_folder(original, tmp_path / "copy", keys["1"])
    marked = tmp_path / "copy" / "weights" / "model.safetensors"
    assert marked.read_bytes() != (original / "weights" / "model.safetensors").read_bytes()
    assert [m.grant for m in W.trace(original, tmp_path / "copy", keys)] == ["1"]


def test_a_copy_is_nearest_the_version_it_was_cut_from(tmp_path: Path) -> None:
    v1 = _tensors(1)
    rng = np.random.default_rng(2)
    v2 = {k: v + rng.normal(0, 0.005, v.shape) if ".layers." in k else v for k, v in v1.items()}
    _write(tmp_path / "v1", v1)
    _write(tmp_path / "v2", v2)
    keys = _keys(2)
    W.mark_folder(tmp_path / "v1", tmp_path / "copy", keys["0"])
    near, far = (W.distance(tmp_path / v, tmp_path / "copy") for v in ("v1", "v2"))
    assert near < far / 100
    assert W.distance(tmp_path / "v1", tmp_path / "v1") == 0.0
    assert [m.grant for m in W.trace(tmp_path / "v1", tmp_path / "copy", keys)] == ["0"]


@pytest.mark.parametrize("suspect", ["unmarked", "noisy", "other-grant", "other-weights"])
def test_no_innocent_grant_is_named(tmp_path: Path, suspect: str) -> None:
    """50 grants' statistics on a copy none of them made: none reaches 1e-6, and the
    largest z stays where the maximum of 50 (sub-)Gaussian scores lies."""
    tensors = _tensors(3)
    original = _write(tmp_path / "original", tensors)
    keys = _keys(51)
    guilty = keys.pop("50")
    rng = np.random.default_rng(4)
    if suspect == "unmarked":
        copy = original
    elif suspect == "noisy":
        noisy = {k: v + rng.normal(0, 0.002, v.shape) for k, v in tensors.items()}
        copy = _write(tmp_path / "copy", noisy)
    elif suspect == "other-grant":
        W.mark_folder(original, tmp_path / "copy", guilty)
        copy = tmp_path / "copy"
    else:
        # other weights with the same names and shapes, correlated enough to pass for a
        # copy (a sibling trained from the same start)
        sibling = {k: 0.8 * v + rng.normal(0, 0.012, v.shape) for k, v in tensors.items()}
        copy = _write(tmp_path / "copy", sibling)
    scores = W.score(original, copy, keys)
    assert all(m.p_value > 1e-6 for m in scores), scores[0]
    top = scores[0]
    assert top.z < 4.5, top  # P(max of 50 standard normals > 4.5) < 2e-4
    assert top.p_value >= min(1.0, 2 * math.exp(-top.z * top.z / 2)) - 1e-12
