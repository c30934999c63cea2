"""resolve_target: the scan gate, remote-code refusal, hf:// from a cache, bad local input."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from openward.errors import OpenwardError, TargetError, TargetRefused
from openward.runtime import inspect_model, resolve_target

LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_attention_heads": 2,
    "num_hidden_layers": 1,
    "num_key_value_heads": 2,
    "vocab_size": 32,
}


def _model_folder(root: Path, config: dict[str, object]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(config))
    save_file({"lm_head.weight": torch.zeros(32, 16)}, str(root / "model.safetensors"))
    return root


def test_poisoned_folder_is_refused_before_anything_loads(tmp_path: Path) -> None:
    folder = _model_folder(tmp_path / "poisoned", LLAMA_CONFIG)
    marker = tmp_path / "payload-ran"
    # a pickle whose loading would run os.system: written as bytes, never loaded
    payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    (folder / "training_args.bin").write_bytes(payload)

    with pytest.raises(TargetRefused) as caught:
        resolve_target(str(folder))

    assert not marker.exists()
    err = caught.value
    assert err.findings, "the refusal carries the findings"
    assert all(f.severity in ("high", "critical") for f in err.findings)
    message = str(err)
    assert "\n" not in message
    assert "training_args.bin" in message
    assert err.findings[0].rule_id in message


def test_scan_gate_refuses_a_poisoned_gguf_folder_sibling(tmp_path: Path) -> None:
    folder = tmp_path / "gguf-and-pickle"
    folder.mkdir()
    (folder / "model.gguf").write_bytes(b"GGUF" + b"\0" * 60)
    (folder / "extra.pkl").write_bytes(b"cos\nsystem\n(S'true'\ntR.")
    with pytest.raises(TargetRefused, match=r"extra\.pkl"):
        resolve_target(str(folder))


def test_auto_map_config_is_refused(tmp_path: Path) -> None:
    config = {**LLAMA_CONFIG, "auto_map": {"AutoModelForCausalLM": "modeling_evil.EvilModel"}}
    folder = _model_folder(tmp_path / "remote", config)
    with pytest.raises(TargetError, match=r"auto_map.*trust_remote_code"):
        resolve_target(str(folder))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"model_type": "evil_custom"}, "model_type 'evil_custom' is not built into transformers"),
        ({"architectures": ["EvilForCausalLM"]}, "architecture 'EvilForCausalLM'"),
        ({"model_type": ["llama"]}, r"model_type \['llama'\] is not built into"),
        ({"model_type": {"a": 1}}, "is not built into transformers"),
        ({"architectures": "LlamaForCausalLM"}, "architectures is not a list"),
    ],
)
def test_unknown_architecture_is_refused(
    tmp_path: Path, change: dict[str, object], needle: str
) -> None:
    folder = _model_folder(tmp_path / "custom", {**LLAMA_CONFIG, **change})
    with pytest.raises(TargetError, match=needle):
        resolve_target(str(folder))


def test_missing_folder_and_missing_weights_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no such file or folder"):
        resolve_target(str(tmp_path / "absent"))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps(LLAMA_CONFIG))
    with pytest.raises(TargetError, match="no loadable weights") as caught:
        resolve_target(str(empty))
    assert "\n" not in str(caught.value)
    # hf:// names a cache entry; a revision with .. would read refs/ and snapshots/ outside it
    for odd in ("hf://a/b@../../../tmp/ref", "hf://a/b@main/../..", "hf://../b"):
        with pytest.raises(TargetError, match="expected hf://ORG/NAME"):
            resolve_target(odd)
    not_gguf = tmp_path / "weights.bin"
    not_gguf.write_bytes(b"\0" * 16)
    with pytest.raises(TargetError, match=r"must be a \.gguf"):
        resolve_target(str(not_gguf))


def test_missing_empty_or_truncated_weights_are_refused_before_anything_loads(
    tmp_path: Path,
) -> None:
    # a default llama config (about 7B parameters): transformers would fill whatever the
    # weights lack with random values; the refusal must come before any load, in one line
    default = {"model_type": "llama", "architectures": ["LlamaForCausalLM"]}
    real = tmp_path / "real.safetensors"
    save_file({"w": torch.zeros(64, 64)}, str(real))
    cases = {
        "empty": (default, b"", "not a safetensors file"),
        "truncated": (LLAMA_CONFIG, real.read_bytes()[:100], "truncated"),
        "short-data": (LLAMA_CONFIG, real.read_bytes()[:-16], "beyond the file's end"),
        "garbage": (LLAMA_CONFIG, b"not a safetensors file at all", "not a safetensors"),
        "too-few": (default, real.read_bytes(), "weights are missing"),
    }
    for name, (config, weights, message) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
        (folder / "model.safetensors").write_bytes(weights)
        with pytest.raises(TargetError, match=message) as caught:
            resolve_target(str(folder), scan=False)
        assert "\n" not in str(caught.value), name
    sharded = _model_folder(tmp_path / "sharded", LLAMA_CONFIG)
    index = {"weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors"}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(TargetError, match="missing shard"):
        resolve_target(str(sharded), scan=False)


def test_model_that_fails_to_load_is_a_one_line_error(tmp_path: Path) -> None:
    # a valid config and a valid safetensors file whose weight has the wrong shape
    folder = _model_folder(tmp_path / "broken", {**LLAMA_CONFIG, "vocab_size": 7})
    save_file({"lm_head.weight": torch.zeros(5000, 3)}, str(folder / "model.safetensors"))
    target = resolve_target(str(folder), scan=False)
    with pytest.raises(TargetError, match="failed to load") as caught:
        inspect_model(target)
    assert "\n" not in str(caught.value)


def test_hf_target_resolves_from_the_local_cache_only(
    tmp_path: Path, smollm2_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = tmp_path / "hub"
    repo = hub / "models--openward-test--smollm2"
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    for i, src in enumerate(sorted(p for p in smollm2_dir.iterdir() if p.is_file())):
        blob = repo / "blobs" / f"{i:040d}"
        try:
            os.link(src, blob)
        except OSError:
            shutil.copyfile(src, blob)
        (snapshot / src.name).symlink_to(os.path.relpath(blob, snapshot))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub))

    target = resolve_target("hf://openward-test/smollm2")

    assert target.kind == "local"
    assert target.display == "hf://openward-test/smollm2"
    assert target.load_path == snapshot.resolve() == target.source
    assert target.model_name == "openward-test/smollm2"
    assert resolve_target(f"hf://openward-test/smollm2@{revision}").load_path == target.load_path

    with pytest.raises(TargetError, match="not in the local Hugging Face cache"):
        resolve_target("hf://openward-test/not-downloaded")


def test_a_target_is_a_local_thing_or_an_endpoint_not_both(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="needs a model name"):
        resolve_target(None, endpoint="http://127.0.0.1:9/v1")
    with pytest.raises(TargetError, match="not both"):
        resolve_target(str(tmp_path), endpoint="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(OpenwardError):
        resolve_target(None)
