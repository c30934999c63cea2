"""The GGUF -> safetensors cache: same logits as the GGUF itself, built once, loaded fast."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from openward.runtime import resolve_target
from openward.runtime.bundled import smollm2_gguf
from openward.runtime.cache import SOURCE_RECORD, file_sha256


def test_cached_folder_gives_the_same_logits_as_the_gguf(smollm2_dir: Path) -> None:
    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(smollm2_dir))
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Name three primary colours."}],
        add_generation_prompt=True,
        tokenize=False,
    )
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    from_gguf = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    from_cache = AutoModelForCausalLM.from_pretrained(str(smollm2_dir))
    with torch.inference_mode():
        expected = from_gguf(**ids).logits
        got = from_cache(**ids).logits
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    # the GGUF's own tokenizer and chat template came along
    gguf_tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    assert tokenizer.chat_template == gguf_tokenizer.chat_template
    assert tokenizer(prompt)["input_ids"] == gguf_tokenizer(prompt)["input_ids"]


def test_cache_folder_is_keyed_by_the_gguf_hash_and_reused(smollm2_dir: Path) -> None:
    gguf = smollm2_gguf()
    digest = file_sha256(gguf)
    assert smollm2_dir.name == digest[:16]
    record = json.loads((smollm2_dir / SOURCE_RECORD).read_text())
    assert record == {"kind": "gguf", "file": gguf.name, "sha256": digest}
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config
    before = (smollm2_dir / "model.safetensors").stat().st_mtime_ns

    again = resolve_target(str(gguf))

    assert again.load_path == smollm2_dir
    assert again.source == gguf.resolve()
    assert again.gguf_sha256 == digest
    assert (smollm2_dir / "model.safetensors").stat().st_mtime_ns == before
