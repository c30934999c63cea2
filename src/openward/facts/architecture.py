"""Architecture and shape from ``config.json`` or GGUF metadata.

Both are untrusted JSON/metadata: values of the wrong type are ignored, never
evaluated. Vision-language configs keep the language model's shape in a
nested ``text_config`` (or ``llm_config``/``language_config``); the nested
values fill what the top level lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["Architecture", "from_config", "from_gguf", "quantization_from_config"]

_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "num_decoder_layers"),
    "hidden_size": ("hidden_size", "n_embd", "d_model", "dim", "model_dim"),
    "intermediate_size": ("intermediate_size", "n_inner", "ffn_dim", "d_ff", "ffn_hidden_size"),
    "heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "kv_heads": ("num_key_value_heads", "num_kv_heads", "n_kv_heads", "multi_query_group_num"),
    "vocab_size": ("vocab_size", "padded_vocab_size", "n_vocab"),
    "context_length": (
        "max_position_embeddings", "n_positions", "seq_length", "max_seq_len",
        "max_sequence_length", "n_ctx",
    ),
    "experts": ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"),
    "experts_per_token": (
        "num_experts_per_tok", "moe_top_k", "num_selected_experts", "top_k_experts",
        "experts_per_token",
    ),
    "shared_experts": ("n_shared_experts", "num_shared_experts"),
}  # fmt: skip
_NESTED: Final = ("text_config", "llm_config", "language_config", "thinker_config")


@dataclass
class Architecture:
    """The model's declared shape; None where the source says nothing."""

    family: str | None = None
    """``model_type`` (config) or ``general.architecture`` (GGUF)."""
    architectures: list[str] = field(default_factory=list)
    layers: int | None = None
    hidden_size: int | None = None
    intermediate_size: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    vocab_size: int | None = None
    context_length: int | None = None
    experts: int | None = None
    experts_per_token: int | None = None
    shared_experts: int | None = None
    tie_word_embeddings: bool = False
    dtype: str | None = None
    source: str | None = None
    """Where these values come from (a file name)."""

    @property
    def is_moe(self) -> bool:
        return bool(self.experts and self.experts > 1)


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    n = int(value)
    return n if 0 < n < 1 << 48 else None


def from_config(config: dict[str, Any], source: str = "config.json") -> Architecture:
    """Read an HF ``config.json`` (already parsed as JSON)."""
    layers: list[dict[str, Any]] = [config]
    for key in _NESTED:
        nested = config.get(key)
        if isinstance(nested, dict):
            layers.append(nested)
    arch = Architecture(source=source)
    for attr, names in _KEYS.items():
        for layer in layers:
            value = next((_int(layer[n]) for n in names if _int(layer.get(n)) is not None), None)
            if value is not None:
                setattr(arch, attr, value)
                break
    model_type = config.get("model_type")
    arch.family = model_type if isinstance(model_type, str) else None
    names_ = config.get("architectures")
    if isinstance(names_, list):
        arch.architectures = [a for a in names_ if isinstance(a, str)][:8]
    tie = next(
        (layer["tie_word_embeddings"] for layer in layers if "tie_word_embeddings" in layer), None
    )
    # transformers' PretrainedConfig ties by default; save_pretrained writes the key.
    arch.tie_word_embeddings = tie if isinstance(tie, bool) else True
    dtype = config.get("torch_dtype", config.get("dtype"))
    arch.dtype = dtype if isinstance(dtype, str) else None
    return arch


def quantization_from_config(config: dict[str, Any]) -> tuple[str, int | None, dict[str, Any]]:
    """(method, bits, the quantization config) or ("", None, {}) when unquantized."""
    q = config.get("quantization_config")
    if not isinstance(q, dict):
        return "", None, {}
    method = q.get("quant_method")
    method = method.lower() if isinstance(method, str) else ""
    bits = _int(q.get("bits")) or _int(q.get("w_bit"))
    if method == "bitsandbytes" or q.get("load_in_4bit") or q.get("load_in_8bit"):
        method = "bitsandbytes"
        bits = 4 if q.get("load_in_4bit") else 8 if q.get("load_in_8bit") else bits
    if method == "fp8":
        bits = 8
    if method == "compressed-tensors":
        groups = q.get("config_groups")
        if isinstance(groups, dict):
            for group in groups.values():
                weights = group.get("weights") if isinstance(group, dict) else None
                if isinstance(weights, dict) and _int(weights.get("num_bits")):
                    bits = _int(weights.get("num_bits"))
                    break
    keep = {k: v for k, v in q.items() if isinstance(v, str | int | float | bool)}
    return method or "unknown", bits, keep


def _meta_int(meta: dict[str, object], key: str) -> int | None:
    value = meta.get(key)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int):
        return None  # an array
    return _int(value)


def from_gguf(meta: dict[str, object], source: str) -> Architecture:
    """Read GGUF metadata (``general.architecture`` and ``{arch}.*`` keys)."""
    family = meta.get("general.architecture")
    arch = Architecture(family=family if isinstance(family, str) else None, source=source)
    if arch.family is None:
        return arch
    p = arch.family + "."
    arch.layers = _meta_int(meta, p + "block_count")
    arch.hidden_size = _meta_int(meta, p + "embedding_length")
    arch.intermediate_size = _meta_int(meta, p + "feed_forward_length")
    arch.heads = _meta_int(meta, p + "attention.head_count")
    arch.kv_heads = _meta_int(meta, p + "attention.head_count_kv")
    arch.context_length = _meta_int(meta, p + "context_length")
    arch.experts = _meta_int(meta, p + "expert_count")
    arch.experts_per_token = _meta_int(meta, p + "expert_used_count")
    arch.shared_experts = _meta_int(meta, p + "expert_shared_count")
    arch.vocab_size = _meta_int(meta, p + "vocab_size")
    tokens = meta.get("tokenizer.ggml.tokens")
    if arch.vocab_size is None and isinstance(tokens, tuple) and isinstance(tokens[0], int):
        arch.vocab_size = tokens[0]
    name = meta.get("general.name")
    if isinstance(name, str):
        arch.architectures = [name]
    return arch
