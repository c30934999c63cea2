"""The refusal-direction edit: found on a real abliteration (Qwen, Arditi et al.'s method with
the direction from AdvBench vs harmless prompts), found when a fine-tune follows it, not
reported for a real fine-tune or a quantization."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from openward.cli.main import app
from openward.lineage import _derive as derive
from openward.lineage.safety import detect_safety_edit
from openward.lineage.weights import LineageError, open_weights

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "redteam"


def _texts() -> list[str]:
    with open(SHARED / "xstest_v2_completions_mistralinstruct_labeled.csv", newline="") as f:
        return [row["completion"] for row in csv.DictReader(f)][:64]


@pytest.fixture(scope="module")
def smol_variants(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("safety")
    rng = np.random.default_rng(7)
    direction = rng.standard_normal(576).astype(np.float32)
    edited = derive.abliterate_numpy(smollm2_dir, root / "edited", direction)
    return {
        "finetuned": derive.finetune(
            smollm2_dir, root / "finetuned", _texts(), steps=3, max_length=32
        ),
        "edited": edited,
        "edited-finetuned": derive.finetune(
            edited, root / "edited-ft", _texts(), steps=3, max_length=32
        ),
        "int4": derive.quantize_roundtrip(smollm2_dir, root / "int4", bits=4),
    }


def test_a_real_abliteration_is_found(qwen_dir: Path, qwen_abliterated_dir: Path) -> None:
    edit = detect_safety_edit(open_weights(qwen_abliterated_dir), open_weights(qwen_dir))
    assert edit.detected
    assert edit.direction_consistency > 0.95
    assert len(edit.layers) >= 20  # Qwen2.5-0.5B has 24
    assert edit.evidence["embedding_alignment"] > 0.95


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("edited", True),
        ("edited-finetuned", True),
        ("finetuned", False),
        ("int4", False),
    ],
)
def test_edits_found_and_ordinary_changes_not(
    name: str, expected: bool, smollm2_dir: Path, smol_variants: dict[str, Path]
) -> None:
    edit = detect_safety_edit(open_weights(smol_variants[name]), open_weights(smollm2_dir))
    assert edit.detected is expected, edit.to_json()
    if not expected:
        assert edit.evidence["aligned_energy"] < 0.2


def test_other_architectures_are_refused_in_one_line(smollm2_dir: Path, qwen_dir: Path) -> None:
    with pytest.raises(LineageError, match="same architecture"):
        detect_safety_edit(open_weights(qwen_dir), open_weights(smollm2_dir))


def test_lineage_cli_reports_the_edit(smollm2_dir: Path, smol_variants: dict[str, Path]) -> None:
    r = CliRunner().invoke(
        app, ["lineage", str(smol_variants["edited-finetuned"]), str(smollm2_dir), "--json"]
    )
    assert r.exit_code == 0, r.output
    [res] = json.loads(r.stdout)["results"]
    assert res["verdict"] == "derived"
    assert res["safety_edit"]["detected"] is True
    assert {"detected", "direction_consistency", "layers", "evidence"} <= res["safety_edit"].keys()
    assert "safety-edited" in res["derivation"]
