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
def small_base(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2 cut to its first 8 layers: a real trained model that is cheap to edit."""
    return derive.truncate(smollm2_dir, tmp_path_factory.mktemp("safety-base") / "base", 8)


@pytest.fixture(scope="module")
def smol_variants(small_base: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("safety")
    rng = np.random.default_rng(7)
    direction = rng.standard_normal(576).astype(np.float32)
    edited = derive.abliterate_numpy(small_base, root / "edited", direction)
    own = {layer: rng.standard_normal(576).astype(np.float32) for layer in range(8)}
    return {
        "finetuned": derive.finetune(
            small_base, root / "finetuned", _texts(), steps=3, max_length=32
        ),
        "lora-merged": derive.lora_merged(
            small_base, root / "lora", _texts(), steps=10, max_length=32
        ),
        "edited": edited,
        "edited-finetuned": derive.finetune(
            edited, root / "edited-ft", _texts(), steps=3, max_length=32
        ),
        "edited-int4": derive.quantize_roundtrip(edited, root / "edited-int4", bits=4),
        "edited-permuted": derive.permute(edited, root / "edited-permuted"),
        "per-layer-directions": derive.abliterate_layers(
            small_base, root / "per-layer", own, embed=own[4]
        ),
        "some-layers": derive.abliterate_layers(
            small_base, root / "some-layers", {layer: direction for layer in (4, 5, 6)}
        ),
        "int4": derive.quantize_roundtrip(small_base, root / "int4", bits=4),
        "channel-pruned": derive.prune_channel(small_base, root / "channel-pruned"),
    }


def test_a_real_abliteration_is_found_and_confirmed(
    qwen_dir: Path, qwen_abliterated_dir: Path
) -> None:
    """The weights show the edit; --confirm shows the behaviour it removed (the audit's
    harmful suite, paired)."""
    r = CliRunner().invoke(
        app,
        [
            "lineage",
            str(qwen_abliterated_dir),
            str(qwen_dir),
            "--json",
            "--confirm",
            "--confirm-limit",
            "16",
        ],
    )
    assert r.exit_code == 0, r.output
    [res] = json.loads(r.stdout)["results"]
    assert res["verdict"] == "derived"
    edit = res["safety_edit"]
    assert edit["detected"] is True
    assert edit["evidence"]["found_by"] == "null-direction"
    assert edit["direction_consistency"] > 0.95
    assert len(edit["layers"]) >= 20  # Qwen2.5-0.5B has 24
    assert edit["evidence"]["embedding_alignment"] > 0.95
    confirmation = edit["confirmation"]
    assert confirmation["verdict"] == "safety-regressed", confirmation
    assert confirmation["samples"] == 16
    assert confirmation["success_rate"] > confirmation["base_success_rate"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("edited", True),
        ("edited-finetuned", True),
        ("edited-int4", True),  # how abliterated models are distributed
        ("edited-permuted", True),  # the same function, hidden units re-ordered
        ("per-layer-directions", True),
        ("some-layers", True),
        ("finetuned", False),
        ("lora-merged", False),  # low rank too, but it adds, it removes nothing
        ("int4", False),
        ("channel-pruned", False),  # a null direction along one axis: pruning, not an edit
    ],
)
def test_edits_found_and_ordinary_changes_not(
    name: str, expected: bool, small_base: Path, smol_variants: dict[str, Path]
) -> None:
    edit = detect_safety_edit(open_weights(smol_variants[name]), open_weights(small_base))
    assert edit.detected is expected, edit.to_json()
    if name == "some-layers":
        assert edit.layers == [4, 5, 6]
    if name == "per-layer-directions":
        assert edit.direction_consistency < 0.6  # found although no direction is shared
    if not expected:
        assert edit.evidence["null_layers"] == []
    if name == "channel-pruned":
        assert edit.evidence["dead_channels"] == 1


def test_other_architectures_are_refused_in_one_line(smollm2_dir: Path, qwen_dir: Path) -> None:
    with pytest.raises(LineageError, match="same architecture"):
        detect_safety_edit(open_weights(qwen_dir), open_weights(smollm2_dir))


def test_lineage_cli_reports_the_edit(small_base: Path, smol_variants: dict[str, Path]) -> None:
    r = CliRunner().invoke(
        app, ["lineage", str(smol_variants["edited-finetuned"]), str(small_base), "--json"]
    )
    assert r.exit_code == 0, r.output
    [res] = json.loads(r.stdout)["results"]
    assert res["verdict"] == "derived"
    assert res["safety_edit"]["detected"] is True
    assert {"detected", "direction_consistency", "layers", "evidence"} <= res["safety_edit"].keys()
    assert "safety-edited" in res["derivation"]
