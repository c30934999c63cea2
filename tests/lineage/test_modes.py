"""lineage's representation mode and its output mode (a real OpenAI-compatible server), on
real models: SmolLM2-135M, a derivative of it, and models of other families (Gemma-3-270M,
Qwen2.5-Coder-0.5B), through the CLI as a user runs it.

The derivative is SmolLM2 with Gaussian noise of 5 % of each matrix's spread added to every
matrix (a change of the size a short fine-tune makes, built in a second with numpy); the
real fine-tunes, LoRA merges and the hard negatives are measured in
``benchmarks/lineage_bench.py --only modes`` (docs/lineage.md has the figures). Converted
models and the local models' replies are cached in openward's cache, outside the repository.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openward.cli.main import app
from openward.lineage import _derive as derive
from openward.lineage.representation import compare_representations, representations_of

runner = CliRunner()

WEIGHT_MODE_KEYS = {"base", "verdict", "score", "p_value", "derivation", "layers"}


@pytest.fixture(scope="module")
def derivative(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return derive.perturb(smollm2_dir, tmp_path_factory.mktemp("modes") / "noisy", 0.05, seed=5)


@pytest.fixture(scope="module")
def gemma_dir() -> Path:
    from openward.runtime.bundled import gemma3_gguf
    from openward.runtime.targets import resolve_target

    load_path = resolve_target(str(gemma3_gguf())).load_path
    assert load_path is not None
    return load_path


def _json(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def test_representation_mode_finds_the_derivative_and_not_another_family(
    derivative: Path, smollm2_dir: Path, gemma_dir: Path
) -> None:
    doc = _json(
        [
            "lineage",
            str(derivative),
            str(smollm2_dir),
            str(gemma_dir),
            "--mode",
            "representation",
            "--json",
        ]
    )
    assert doc["mode"] == "representation"
    results = {r["base"]: r for r in doc["results"]}  # type: ignore[attr-defined]
    same, other = results[str(smollm2_dir)], results[str(gemma_dir)]
    assert same.keys() >= WEIGHT_MODE_KEYS
    assert same["mode"] == "representation"
    assert same["verdict"] == "derived"
    assert same["p_value"] <= 1e-3
    assert other["verdict"] == "unrelated"
    assert other["p_value"] > 0.01
    assert same["score"] > other["score"] + 0.3
    # the profile: 8 matched depths, a 30-layer model against an 18-layer one
    assert [layer["depth"] for layer in other["layers"]] == [k / 8 for k in range(1, 9)]
    assert [layer["layer"] for layer in other["layers"]][-1] == 30
    assert [layer["base_layer"] for layer in other["layers"]][-1] == 18


def test_the_same_states_are_identical_and_permuted_ones_derived(smollm2_dir: Path) -> None:
    base = representations_of(smollm2_dir)
    again = type(base)(base.model, base.layers_total, base.layer_index, base.states.copy())
    assert compare_representations(again, base).verdict == "identical"
    permuted_states = base.states[:, :, ::-1].copy()  # the same function, units re-ordered
    moved = type(base)(base.model, base.layers_total, base.layer_index, permuted_states)
    result = compare_representations(moved, base)
    assert result.verdict == "derived"
    assert result.score > 0.999


def test_endpoint_mode_against_a_real_server(
    openai_endpoint: tuple[str, str], derivative: Path, qwen_dir: Path
) -> None:
    """The served SmolLM2 against a local derivative of it and against Qwen; the references
    are SmolLM2 and Qwen, each left out (by its weights) where it is the base's own family."""
    from openward.runtime.bundled import qwen_coder_gguf, smollm2_gguf

    base_url, model_name = openai_endpoint
    doc = _json(
        [
            "lineage",
            "--endpoint",
            base_url,
            "--model",
            model_name,
            str(derivative),
            str(qwen_dir),
            "--reference",
            str(smollm2_gguf()),
            "--reference",
            str(qwen_coder_gguf()),
            "--prompts",
            "16",
            "--max-tokens",
            "12",
            "--json",
        ]
    )
    assert doc["mode"] == "outputs"
    assert doc["candidate"] == f"{model_name} @ {base_url}"
    results = {r["base"]: r for r in doc["results"]}  # type: ignore[attr-defined]
    same, other = results[str(derivative)], results[str(qwen_dir)]
    assert same.keys() >= WEIGHT_MODE_KEYS
    assert same["verdict"] == "derived", same
    assert same["p_value"] <= 1e-3
    assert other["verdict"] == "unrelated", other
    # SmolLM2 is no reference for its own derivative; Qwen is none for Qwen
    assert [r["reference"] for r in same["evidence"]["references"]] == [str(qwen_coder_gguf())]
    assert [r["reference"] for r in other["evidence"]["references"]] == [str(smollm2_gguf())]
    assert any("left out" in note for note in same["notes"])


def test_an_endpoint_that_is_down_is_one_line(
    monkeypatch: pytest.MonkeyPatch, smollm2_dir: Path
) -> None:
    from openward.runtime.server import free_port

    monkeypatch.setattr("openward.runtime.targets.PREFLIGHT_FIRST_DELAY_S", 0.05)
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = runner.invoke(app, ["lineage", "--endpoint", url, "--model", "m", str(smollm2_dir)])
    assert result.exit_code == 2
    assert "unreachable after 4 tries" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_model_that_will_not_load_is_one_line(smollm2_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in smollm2_dir.iterdir():
        if item.suffix != ".safetensors":
            shutil.copy2(item, broken / item.name)
    with (smollm2_dir / "model.safetensors").open("rb") as fh:
        (broken / "model.safetensors").write_bytes(fh.read(4096))
    result = runner.invoke(
        app, ["lineage", str(broken), str(smollm2_dir), "--mode", "representation"]
    )
    assert result.exit_code == 2
    assert "truncated" in result.stderr
    assert result.stderr.count("\n") == 1


def test_without_torch_the_modes_say_which_extra(
    monkeypatch: pytest.MonkeyPatch, smollm2_dir: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what find_spec reports when not installed
    for mode in ("representation", "outputs"):
        result = runner.invoke(app, ["lineage", str(smollm2_dir), str(smollm2_dir), "--mode", mode])
        assert result.exit_code == 2
        assert "pip install 'openward[audit]'" in result.stderr
        assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "vibes"], "expected weights, representation or outputs"),
        (["--mode", "representation", "--endpoint", "http://127.0.0.1:9/v1"], "use --mode out"),
        (["--mode", "representation", "--reference", "x"], "go with --mode outputs"),
        (["--mode", "outputs", "--model", "m"], "give --endpoint URL too"),
    ],
)
def test_option_mistakes_are_one_line(args: list[str], message: str, smollm2_dir: Path) -> None:
    result = runner.invoke(app, ["lineage", str(smollm2_dir), str(smollm2_dir), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
