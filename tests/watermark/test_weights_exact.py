"""At the shipped mark strength, copies quantized by an absmax quantizer are traced by
their exactly stored block maxima (the exact statistic), even averaged first.

The other robustness tests mark the tiny model 16 times stronger (test_weights_robust.py
says why); these use the shipped RELATIVE_STEP: GGUF Q4_0 and Q8_0 keep each block's largest
value exactly, so wherever a mark sits on one the difference is the mark itself (or its
third, after averaging three copies), while every other element carries the rounding
error. Without the exact statistic the tiny model's mark after Q4_0 is far below a name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openward.watermark import _attacks, weights
from openward.watermark.weights import RELATIVE_STEP, grant_key, mark_folder, score, trace
from tests.watermark._weights_models import MODEL, SECRET, tiny_llama

GRANTS = ("alice", "bob", "carol", "dave", "erin")
KEYS = {g: grant_key(SECRET, MODEL, g) for g in GRANTS}


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    assert RELATIVE_STEP == 2.0**-12  # the shipped strength, not the tests' stronger one
    root = tmp_path_factory.mktemp("wm-exact")
    out = {"orig": tiny_llama(root / "orig")}
    for grant in ("alice", "bob", "carol"):
        mark_folder(out["orig"], root / grant, KEYS[grant])
        out[grant] = root / grant
    return out


@pytest.mark.parametrize(
    ("recipients", "quantize"),
    [
        (("alice",), lambda t: _attacks.gguf_roundtrip(t, "Q4_0")),
        (("alice",), lambda t: _attacks.gguf_roundtrip(t, "Q8_0")),
        (("alice", "bob", "carol"), lambda t: _attacks.gguf_roundtrip(t, "Q4_0")),
    ],
    ids=["q4_0", "q8_0", "average-of-3-then-q4_0"],
)
def test_quantized_copies_are_traced_at_the_shipped_step(
    copies: dict[str, Path], tmp_path: Path, recipients: tuple[str, ...], quantize: object
) -> None:
    loaded = [_attacks.load(copies[g])[0] for g in recipients]
    mixed = _attacks.average(loaded) if len(loaded) > 1 else loaded[0]
    suspect = _attacks.save(copies["orig"], tmp_path / "leak", quantize(mixed))  # type: ignore[operator]
    named = {m.grant for m in trace(copies["orig"], suspect, KEYS)}
    assert named and named <= set(recipients), named  # a colluder, and nobody innocent
    if len(recipients) == 1:
        assert named == {"alice"}


def test_without_the_exact_statistic_the_mark_is_too_weak(
    copies: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same Q4_0 copy, scored with the exact statistic's window closed: nobody named
    (what this model gave before the statistic existed)."""
    tensors = _attacks.gguf_roundtrip(_attacks.load(copies["alice"])[0], "Q4_0")
    suspect = _attacks.save(copies["orig"], tmp_path / "leak", tensors)
    with_exact = {m.grant: m.z for m in score(copies["orig"], suspect, KEYS)}
    monkeypatch.setattr(weights, "_EXACT", 0.0)
    without = {m.grant: m.z for m in score(copies["orig"], suspect, KEYS)}
    assert with_exact["alice"] > 5.6 > without["alice"]
    assert max(np.abs([without[g] for g in GRANTS if g != "alice"])) < 4
