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
like float32), instead of the shipped :data:`~openward.watermark.weights.GROUP_16` (512).
The shipped group is sparse because a 16-bit element cannot move by less than a unit in
the last place, and SmolLM2's greedy generations stay identical only when few move; but
the test models are tiny: the tiny Llama's bfloat16 copy holds about 1900 marked elements
at 512 (SmolLM2 about 210 k), too few to name the recipient after Q4_0 (measured: the
bf16 Q4_0 case of test_weights_robust.py finds no one), and the hand-written files of
test_weights.py and test_weights_stream.py a handful per matrix (z 5.7 on the exact copy;
chunk edges rarely split a marked element). These tests check the 16-bit rules,
streaming and tracing with the mark density that models this small need; the tests named
``*shipped*`` set the shipped group back."""


@contextmanager
def group_16_for_tests() -> Iterator[None]:
    """:data:`TEST_GROUP_16` in force for the duration."""
    import pytest

    from openward.watermark import weights

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(weights, "GROUP_16", TEST_GROUP_16)
        yield
