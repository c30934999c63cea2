"""Tiny Llama models for the weight-mark tests, built here with transformers (no downloads)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


TEST_GROUP_16 = 64
"""The group the weight-mark tests mark bfloat16/float16 tensors with (one element in 64,
like float32), instead of the shipped :data:`~openward.watermark.weights.GROUP_16`. The
shipped group is sparse (one element in thousands: a 16-bit element cannot move by less
than a unit in the last place, so SmolLM2's greedy generations stay identical only when
few move); the test models' 16-bit matrices have from a few thousand to a million
elements, so at the shipped group they would hold from none to a few dozen marked
elements: too few to check streaming, the 16-bit rules or tracing after Q4_0. Tests that
need the shipped group set it back (test_weights.py, test_weights_stream.py)."""


@contextmanager
def group_16_for_tests() -> Iterator[None]:
    """:data:`TEST_GROUP_16` in force for the duration."""
    import pytest

    from openward.watermark import weights

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(weights, "GROUP_16", TEST_GROUP_16)
        yield
