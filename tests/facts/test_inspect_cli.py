"""`openward inspect` as a user drives it: JSON contract, schema, BOM, exit codes,
Hugging Face cache targets and --remote over HTTP range requests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from openward.cli.main import app
from openward.facts.model import inspect_model
from openward.report.facts_json import facts_document, facts_schema, pydantic_facts_document
from tests.facts.hub_server import COMMIT, serve_hub

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

runner = CliRunner()
SCHEMA_FILE = Path(__file__).parents[2] / "docs" / "schema" / "inspect-report.schema.json"
EXE = Path(sys.executable).with_name("openward")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
    )  # fmt: skip
    out = tmp_path_factory.mktemp("model")
    transformers.LlamaForCausalLM(config).save_pretrained(out, max_shard_size="100KB")
    (out / "README.md").write_text(
        "---\nlicense: apache-2.0\ndatasets: [acme/web]\nlanguage: [en]\n---\n"
        "Pretrained on 300 billion tokens.\n"
    )
    return out


def _json(args: list[str]) -> dict[str, Any]:
    result = runner.invoke(app, ["inspect", *args, "--json"])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_json_contract_keys(model_dir: Path) -> None:
    doc = _json([str(model_dir)])
    assert {"total", "active", "embedding", "non_embedding", "by_dtype"} <= set(doc["parameters"])
    assert {"flop", "low", "high", "method", "inputs"} <= set(doc["compute"])
    ids = {t["id"] for t in doc["tiers"]}
    assert {"eu-gpai-indicative", "registration-proposal", "eu-systemic-risk",
            "ca-sb53-frontier", "us-eo14110"} <= ids  # fmt: skip
    for tier in doc["tiers"]:
        assert {"id", "threshold_flop", "crossed", "source", "triggers"} <= set(tier)
    assert doc["compute"]["inputs"][1]["value"] == 3e11


def test_compute_is_null_with_a_reason(tmp_path: Path, model_dir: Path) -> None:
    for name in ("config.json", "model.safetensors.index.json"):
        shutil.copy(model_dir / name, tmp_path / name)
    for shard in model_dir.glob("*.safetensors"):
        shutil.copy(shard, tmp_path / shard.name)
    doc = _json([str(tmp_path)])
    assert doc["compute"] is None
    assert "--tokens" in doc["compute_unavailable"]
    assert all(t["crossed"] is None for t in doc["tiers"])
    doc = _json([str(tmp_path), "--tokens", "2T"])
    assert doc["compute"]["flop"] == pytest.approx(6 * doc["parameters"]["total"] * 2e12)


def test_schema_is_published_and_documents_validate(model_dir: Path) -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == facts_schema(), (
        "regenerate with: openward schema inspect > docs/schema/inspect-report.schema.json"
    )
    facts = inspect_model(model_dir)
    doc = facts_document(facts)
    jsonschema.Draft202012Validator(facts_schema()).validate(doc)
    assert doc == pydantic_facts_document(facts)
    result = runner.invoke(app, ["schema", "inspect"])
    assert json.loads(result.stdout)["$id"].endswith("inspect-report/1.json")


def test_text_view_says_what_the_model_is(model_dir: Path) -> None:
    result = runner.invoke(app, ["inspect", str(model_dir)])
    assert result.exit_code == 0, result.output
    for text in ("parameters", "llama", "training compute", "6ND", "eu-systemic-risk", "open"):
        assert text in result.output


def test_fail_on_tier_exit_codes(model_dir: Path) -> None:
    args = ["inspect", str(model_dir), "--json"]
    assert runner.invoke(app, [*args, "--fail-on-tier", "any"]).exit_code == 0
    big = [*args, "--tokens", "1e25"]  # 6 x 1e5 params x 1e25 tokens: past every threshold
    assert runner.invoke(app, [*big, "--fail-on-tier", "eu-systemic-risk"]).exit_code == 1
    assert runner.invoke(app, [*big, "--fail-on-tier", "any"]).exit_code == 1
    result = runner.invoke(app, [*big, "--fail-on-tier", "no-such-tier"])
    assert result.exit_code == 2 and "no threshold" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/model"], "no such file"),
        (["{model}", "--tokens", "lots"], "is not a count"),
        (["{model}", "--policy", "/no/policy.yaml"], "cannot read policy"),
        (["{model}", "--bom", "spdx"], "unknown BOM format"),
        (["{model}", "--accelerator", "abacus", "--accelerators", "2", "--hours", "3"], ""),
    ],
)
def test_bad_input_is_a_clear_error(model_dir: Path, args: list[str], message: str) -> None:
    argv = [a.replace("{model}", str(model_dir)) for a in args]
    result = runner.invoke(app, ["inspect", *argv])
    if message:
        assert result.exit_code == 2, result.output
        assert message in result.output
    else:  # an unknown accelerator leaves compute empty and says why
        assert result.exit_code == 0
        assert "unknown accelerator" in result.output
    assert "Traceback" not in result.output


def test_cyclonedx_bom_validates_and_hashes_every_file(model_dir: Path, tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    out = tmp_path / "bom.json"
    result = runner.invoke(app, ["inspect", str(model_dir), "--bom", "cyclonedx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    files = {c["name"]: c for c in model["components"]}
    assert set(files) == {p.name for p in model_dir.iterdir()}
    for name, comp in files.items():
        digest = hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
        assert comp["hashes"] == [{"alg": "SHA-256", "content": digest}]
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert int(props["openward:parameters:total"]) == inspect_model(model_dir).parameters.total  # type: ignore[union-attr]
    assert model["licenses"][0]["license"]["id"] == "Apache-2.0"
    datasets = [c for c in bom["components"] if c["type"] == "data"]
    assert [d["name"] for d in datasets] == ["acme/web"]


def _cache(cache: Path, model_dir: Path) -> None:
    repo = cache / "models--acme--tiny"
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    snapshot.mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    for path in model_dir.iterdir():
        data = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / path.name).symlink_to(os.path.relpath(blob, snapshot))


def test_hf_cache_target(model_dir: Path, tmp_path: Path) -> None:
    _cache(tmp_path, model_dir)
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([str(EXE), "inspect", "hf://acme/tiny", "--json"],
                          capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["parameters"]["total"] == inspect_model(model_dir).parameters.total  # type: ignore[union-attr]


def test_remote_reads_headers_only(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=2000, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
    )  # fmt: skip
    model_dir = tmp_path / "model"
    transformers.LlamaForCausalLM(config).save_pretrained(model_dir, max_shard_size="1MB")
    (model_dir / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    assert sum(p.stat().st_size > 500_000 for p in model_dir.glob("*.safetensors")) >= 2
    local = inspect_model(model_dir)
    with serve_hub({"acme/tiny": model_dir}) as (endpoint, hub):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HF_")},
            "HF_ENDPOINT": endpoint,
            "HF_HOME": str(tmp_path / "home"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        proc = subprocess.run([str(EXE), "inspect", "acme/tiny", "--remote", "--json"],
                              capture_output=True, text=True, env=env, check=False,
                              timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert local.parameters is not None
        assert doc["parameters"]["total"] == local.parameters.total
        assert doc["architecture"]["layers"] == 2
        assert doc["card"]["license"] == "apache-2.0"
        for shard in model_dir.glob("*.safetensors"):
            # Never a whole weight file: only its 8-byte length and JSON header.
            # (huggingface_hub asks for the first 100 kB, then the rest of a longer header.)
            header = 8 + int.from_bytes(shard.read_bytes()[:8], "little")
            sent = hub.sent.get(shard.name, 0)
            assert 0 < sent <= max(header, 100_001)
            if shard.stat().st_size > 100_001:
                assert sent < shard.stat().st_size
        proc = subprocess.run([str(EXE), "inspect", "acme/absent", "--remote"],
                              capture_output=True, text=True, env=env, check=False,
                              timeout=120)  # fmt: skip
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
