"""Lineage on a real model (SmolLM2-135M) and derivatives built from it, and negatives.

The base is SmolLM2 (its first 12 layers) with 2 % noise added, so that its values are off
the GGUF Q8 grid the bundled model was dequantized from (otherwise no quantization could be
told apart).
Derivatives are written once per session; permuted and rotated copies are checked to compute
the same function as the base, so they are what an evader would publish.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from openward.cli.main import app
from openward.lineage import _derive as derive
from openward.lineage.compare import compare, detect_merges
from openward.lineage.fingerprint import (
    FORMAT_VERSION,
    MAX_BYTES,
    Fingerprint,
    compute_fingerprint,
    load_fingerprint,
)

runner = CliRunner()

BUILDS = {
    "int8": lambda b, o: derive.quantize_roundtrip(b, o, bits=8),
    "int4": lambda b, o: derive.quantize_roundtrip(b, o, bits=4),
    "pruned": lambda b, o: derive.prune(b, o, 0.3),
    "scaled": lambda b, o: derive.scale(b, o, 1.7),
    "permuted": lambda b, o: derive.permute(b, o, seed=3),
    "rotated": lambda b, o: derive.rotate(b, o, seed=3),
    "vocab": lambda b, o: derive.extend_vocabulary(b, o, added=64),
    "noisy": lambda b, o: derive.perturb(b, o, 0.1, seed=5),
    "random-init": lambda b, o: derive.random_init(b, o, seed=9),
}
EXPECTED = {
    "int8": "quantized",
    "int4": "quantized",
    "pruned": "pruned",
    "scaled": "scaled",
    "permuted": "permuted",
    "rotated": "rotated",
    "vocab": "vocabulary-extended",
    "noisy": "fine-tuned",
}


@pytest.fixture(scope="session")
def lineage_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lineage")


@pytest.fixture(scope="session")
def base_dir(smollm2_dir: Path, lineage_dir: Path) -> Path:
    # SmolLM2's first 12 of 30 layers: every derivative writes 40 % of the bytes
    cut = derive.truncate(smollm2_dir, lineage_dir / "cut", 12)
    base = derive.perturb(cut, lineage_dir / "base", 0.02, seed=1)
    shutil.rmtree(cut)
    return base


@pytest.fixture(scope="session")
def built(base_dir: Path, lineage_dir: Path) -> dict[str, Path]:
    return {name: fn(base_dir, lineage_dir / name) for name, fn in BUILDS.items()}


@pytest.fixture(scope="session")
def fingerprints(base_dir: Path, built: dict[str, Path]) -> dict[str, Fingerprint]:
    fps = {name: compute_fingerprint(path) for name, path in built.items()}
    fps["base"] = compute_fingerprint(base_dir)
    return fps


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_each_derivation_is_found_and_named(
    kind: str, fingerprints: dict[str, Fingerprint]
) -> None:
    result = compare(fingerprints[kind], fingerprints["base"])
    assert result.verdict == "derived", result.to_json()
    assert result.p_value < 1e-6
    assert EXPECTED[kind] in result.derivation, result.derivation
    assert result.layers and all("depth" in row for row in result.layers)


def test_permuted_and_rotated_copies_compute_the_same_function(
    base_dir: Path, built: dict[str, Path]
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[1, 504, 2000, 3000, 17, 9000, 42]])
    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    with torch.no_grad():
        want = base(ids).logits
        for kind in ("permuted", "rotated"):
            model = AutoModelForCausalLM.from_pretrained(str(built[kind]), dtype=torch.float32)
            got = model(ids).logits
            assert torch.allclose(got, want, atol=2e-3), kind
            # and no tensor is left where it was
            assert not torch.allclose(
                model.model.layers[0].mlp.up_proj.weight, base.model.layers[0].mlp.up_proj.weight
            )


def test_unrelated_models_are_unrelated(
    fingerprints: dict[str, Fingerprint], qwen_dir: Path
) -> None:
    fresh = compare(fingerprints["random-init"], fingerprints["base"])
    assert fresh.verdict == "unrelated"
    assert fresh.p_value > 0.01
    from openward.runtime.bundled import gemma3_gguf

    qwen = compute_fingerprint(qwen_dir)
    gemma = compute_fingerprint(gemma3_gguf())  # another family, 4-bit K-quants
    for cand, base in ((qwen, fingerprints["base"]), (gemma, fingerprints["base"]), (gemma, qwen)):
        other_family = compare(cand, base)
        assert other_family.verdict == "unrelated"
        assert other_family.matched_units == 0
        assert other_family.compared_units > 300


def test_a_gguf_and_its_conversion_are_identical(smollm2_dir: Path) -> None:
    from openward.runtime.bundled import smollm2_gguf

    gguf = compute_fingerprint(smollm2_gguf())
    result = compare(gguf, compute_fingerprint(smollm2_dir))
    assert result.verdict == "identical"
    assert result.derivation == ["converted"]
    assert gguf.format == "gguf"
    assert gguf.bytes_read < gguf.model_bytes / 2


def test_a_merge_of_two_relatives_is_named(
    base_dir: Path, built: dict[str, Path], lineage_dir: Path
) -> None:
    merged = derive.merge(base_dir, built["noisy"], lineage_dir / "merged", weight=0.5)
    cand = compute_fingerprint(merged)
    bases = [compute_fingerprint(base_dir), compute_fingerprint(built["noisy"])]
    mixes = detect_merges(cand, bases)
    assert len(mixes) == 1
    i, j, weight = mixes[0]
    assert (i, j) == (0, 1) and 0.4 < weight < 0.6


def test_fingerprint_is_small_and_survives_its_file(
    fingerprints: dict[str, Fingerprint], tmp_path: Path
) -> None:
    fp = fingerprints["base"]
    text = fp.dumps()
    assert len(text) <= MAX_BYTES
    path = tmp_path / "fp.json"
    path.write_text(text)
    again = load_fingerprint(path)
    assert compare(again, fp).verdict == "identical"
    noisy = compare(fingerprints["noisy"], again)
    assert noisy.verdict == "derived"
    assert abs(noisy.score - compare(fingerprints["noisy"], fp).score) < 0.01


# -- the CLI, bad input ---------------------------------------------------------------


def test_cli_contract_and_files(base_dir: Path, built: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "base.fp.json"
    r = runner.invoke(app, ["fingerprint", str(base_dir), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size <= MAX_BYTES
    r = runner.invoke(
        app, ["lineage", str(built["pruned"]), str(out), str(built["random-init"]), "--json"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["candidate"] == str(built["pruned"])
    first, second = doc["results"]
    for res in doc["results"]:
        assert {"base", "verdict", "score", "p_value", "derivation", "layers"} <= res.keys()
    assert first["verdict"] == "derived" and "pruned" in first["derivation"]
    assert second["verdict"] == "unrelated"


def _fail_line(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1, r.output
    return lines[0]


def test_bad_input_is_one_line(base_dir: Path, tmp_path: Path) -> None:
    fp = compute_fingerprint(base_dir).to_json()
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**fp, "version": FORMAT_VERSION + 1}))
    assert "newer" in _fail_line(["lineage", str(base_dir), str(newer)])
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps({**fp, "embed_units": 17}))
    assert "damaged" in _fail_line(["lineage", str(base_dir), str(damaged)])
    for forged in (
        {**fp, "embed_gram": fp["layers"][0]["grams"]["attn"]},  # a Gram of the wrong size
        {**fp, "version": True},
        {**fp, "hidden": 1e400},
    ):
        damaged.write_text(json.dumps(forged))
        assert "damaged" in _fail_line(["lineage", str(base_dir), str(damaged)])
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    for item in base_dir.iterdir():
        if item.suffix != ".safetensors":
            (truncated / item.name).write_bytes(item.read_bytes())
    data = (base_dir / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 3])
    assert "model.safetensors" in _fail_line(["fingerprint", str(truncated)])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no safetensors, GGUF or torch zip weights" in _fail_line(["fingerprint", str(empty)])
    nan = tmp_path / "nan"
    tensors = derive.load_folder(base_dir)
    embed = next(k for k in tensors if k.endswith("embed_tokens.weight"))
    tensors[embed] = np.full_like(tensors[embed], np.nan)
    derive.save_folder(base_dir, nan, tensors)
    assert "NaN" in _fail_line(["fingerprint", str(nan)])


def test_symlinked_files_are_read_and_sub_folders_are_not(
    base_dir: Path, fingerprints: dict[str, Fingerprint], tmp_path: Path
) -> None:
    """A Hugging Face cache snapshot links its files into blobs/; a decoy in a sub-folder
    (which transformers would not load) must not be fingerprinted instead of the model."""
    from safetensors.numpy import save_file

    folder = tmp_path / "snapshot"
    folder.mkdir()
    for item in base_dir.iterdir():
        (folder / item.name).symlink_to(item)
    decoy = folder / "0"
    decoy.mkdir()
    rng = np.random.default_rng(0)
    save_file(
        {"model.embed_tokens.weight": rng.standard_normal((49152, 576)).astype(np.float32)[:4096]},
        str(decoy / "model.safetensors"),
    )
    result = compare(compute_fingerprint(folder), fingerprints["base"])
    assert result.verdict == "identical"


def test_an_edit_of_the_output_matrices_alone_is_not_identical(
    base_dir: Path, fingerprints: dict[str, Fingerprint], lineage_dir: Path
) -> None:
    rng = np.random.default_rng(4)

    def edit(name: str, v: np.ndarray) -> np.ndarray:
        if name.endswith("down_proj.weight"):
            return (v + 0.01 * rng.standard_normal(v.shape)).astype(np.float32)
        return v

    edited = derive._map(base_dir, lineage_dir / "down-only", edit)
    result = compare(compute_fingerprint(edited), fingerprints["base"])
    assert result.verdict == "derived"


def test_a_hostile_tokenizer_reads_as_no_vocabulary(base_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    for item in base_dir.iterdir():
        if item.name != "tokenizer.json":
            (folder / item.name).symlink_to(item)
    for text in (
        '{"model": "bpe", "added_tokens": 5}',
        "[1, 2]",
        '{"model": {"vocab": {"a": 10000000000, "b": -3}}}',
    ):
        (folder / "tokenizer.json").write_text(text)
        fp = compute_fingerprint(folder)
        assert fp.words[0] == "#0"  # rows by token id, no traceback, no huge allocation


def test_a_copy_without_tokenizer_files_is_compared_by_token_id(
    base_dir: Path, fingerprints: dict[str, Fingerprint], tmp_path: Path
) -> None:
    """Shipping the weights without tokenizer files leaves no words to compare; the rows are
    then compared by token id, so the copy is still found (and an unrelated model is not)."""
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("model.safetensors", "config.json"):
        shutil.copy2(base_dir / name, bare / name)
    fp = compute_fingerprint(bare)
    assert fp.words[0].startswith("#")
    result = compare(fp, fingerprints["base"])
    assert result.verdict == "derived", result.to_json()
    assert result.p_value < 1e-6
    assert any("token id" in note for note in result.notes)
    fresh = compare(fp, fingerprints["random-init"])
    assert fresh.verdict != "derived"
