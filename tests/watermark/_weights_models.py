"""Tiny Llama models for the weight-mark tests, built here with transformers (no downloads)."""

from __future__ import annotations

from pathlib import Path

SECRET = b"registry-secret-for-tests-0123456789"
MODEL = "acme/tiny"


def tiny_llama(out: Path, *, hidden: int = 128, layers: int = 4, seed: int = 0) -> Path:
    """A random Llama (vocabulary 512, MLP 4 x hidden, 4 heads, 2 key/value heads) saved as a
    float32 safetensors folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=512,
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(out)
    return out
