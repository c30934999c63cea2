"""Mutated and random weight files through ``inspect``: findings, never a crash or a hang."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openward.facts.model import inspect_model
from openward.facts.tensors import read_weight_file
from tests.conftest import Zoo

SUFFIXES = (".safetensors", ".gguf", ".bin", ".onnx", ".npz", ".npy", ".pt")


def _seeds(zoo: Zoo) -> list[tuple[str, bytes]]:
    out = []
    for p in sorted(zoo.root.rglob("*")):
        if p.is_file() and p.suffix in SUFFIXES and p.stat().st_size < 256 << 10:
            out.append((p.suffix, p.read_bytes()))
    return out


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    kind = rng.randrange(3)
    if kind == 0 and buf:
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif kind == 1:
        buf = buf[: rng.randrange(len(buf) + 1)]
    elif buf:
        at = rng.randrange(len(buf))
        buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return bytes(buf)


def test_mutated_weight_files_never_crash(zoo: Zoo, tmp_path: Path) -> None:
    seeds = _seeds(zoo)
    assert {s for s, _ in seeds} >= {".safetensors", ".gguf", ".onnx", ".npz", ".pt"}
    rng = random.Random(20261123)
    for i in range(400):
        suffix, data = seeds[i % len(seeds)]
        path = tmp_path / f"m{i}{suffix}"
        path.write_bytes(_mutate(rng, data))
        start = time.monotonic()
        wf = read_weight_file(path, path.name)
        assert time.monotonic() - start < 5
        if wf is not None:
            assert all(t.numel >= 0 and t.nbytes >= 0 for t in wf.tensors)
        path.unlink()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=4096), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_never_crash(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"x{suffix}"
    path.write_bytes(data)
    read_weight_file(path, path.name)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    config=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "num_hidden_layers",
                        "hidden_size",
                        "num_local_experts",
                        "num_experts_per_tok",
                        "quantization_config",
                        "text_config",
                        "tie_word_embeddings",
                        "model_type",
                        "bits",
                        "quant_method",
                    ]
                ),
                children,
                max_size=5,
            )
        ),
        max_leaves=12,
    )
)
def test_hostile_configs_never_crash(tmp_path: Path, config: object) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "README.md").write_text("---\nlicense: [1, {a: b}]\nbase_model: 3\n---\n")
    facts = inspect_model(tmp_path)
    assert facts.parameters is None


@pytest.mark.parametrize("count", [10**15, 2**63])
def test_absurd_gguf_counts_are_findings(tmp_path: Path, count: int) -> None:
    import struct

    path = tmp_path / "x.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, count, count) + bytes(64))
    facts = inspect_model(path)
    assert any(f.id == "weights-header" for f in facts.findings)
