"""Hard negatives (issue 15): one architecture and tokenizer, two random initialisations,
each trained briefly on the same text. Their units share word profiles in every layer (a
second engineer's attack made such a pair come out ``derived`` with p = 0), yet they share
no weights: ``unrelated``. A fine-tune of one of them is ``derived`` from it and unrelated to
the other.

The models are SmolLM2's architecture narrowed to 128 wide and 6 layers (its real tokenizer
and vocabulary), trained on the XSTest completions in ../shared/data/redteam; they are built
once and cached under ~/.cache/openward/lineage-tests (training is deterministic: torch seeds).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from openward.lineage import _derive as derive
from openward.lineage.compare import compare
from openward.lineage.fingerprint import Fingerprint, compute_fingerprint

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "redteam"
WIDTH = 128
STEPS = 100
CHANGES = {
    "hidden_size": WIDTH,
    "intermediate_size": 2 * WIDTH,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": WIDTH // 4,
}


def _texts() -> list[str]:
    with open(SHARED / "xstest_v2_completions_mistralinstruct_labeled.csv", newline="") as f:
        return [row["completion"] for row in csv.DictReader(f)][:400]


def _cached(key: dict[str, object], build) -> Path:  # type: ignore[no-untyped-def]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    root = Path.home() / ".cache" / "openward" / "lineage-tests"
    final = root / f"{key['name']}-{digest}"
    if (final / "model.safetensors").exists():
        return final
    work = root / f".{final.name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    build(work)
    work.rename(final)
    return final


@pytest.fixture(scope="module")
def trained(smollm2_dir: Path) -> dict[str, Fingerprint]:
    import torch

    texts = _texts()
    out: dict[str, Path] = {}
    for seed in (1, 2):
        key = {"name": f"scratch-s{seed}", "steps": STEPS, "changes": CHANGES,
               "torch": torch.__version__, "base": smollm2_dir.name}  # fmt: skip
        out[f"s{seed}"] = _cached(
            key,
            lambda work, seed=seed: derive.train_from_scratch(
                smollm2_dir, work, texts, seed=seed, steps=STEPS, config_changes=CHANGES
            ),
        )
    out["s1-finetuned"] = _cached(
        {"name": "s1-finetuned", "of": out["s1"].name, "torch": torch.__version__},
        lambda work: derive.finetune(out["s1"], work, texts[200:], steps=20, lr=1e-4),
    )
    return {name: compute_fingerprint(path) for name, path in out.items()}


def test_two_random_starts_trained_alike_are_unrelated(trained: dict[str, Fingerprint]) -> None:
    for a, b in (("s1", "s2"), ("s2", "s1"), ("s1-finetuned", "s2")):
        result = compare(trained[a], trained[b])
        assert result.verdict == "unrelated", (a, b, result.to_json())
        assert result.p_value > 1e-3
        null = result.internal_null
        assert null is not None and null["wrong_pairing_compared"] > 0
        # what fooled the old test: most layer units do find a partner, in any pairing
        assert null["right_pairing_matched"] > 0.5 * null["wrong_pairing_compared"]


def test_a_fine_tune_of_one_is_derived_from_it(trained: dict[str, Fingerprint]) -> None:
    result = compare(trained["s1-finetuned"], trained["s1"])
    assert result.verdict == "derived", result.to_json()
    assert result.p_value < 1e-6
    assert "fine-tuned" in result.derivation
