"""Parameter counts from tensor inventories: total, active, embedding, by dtype.

The count is the one ``sum(p.numel() for p in model.parameters())`` gives for
the live model: every weight once (shards summed, tensors that share storage
counted once, an output head tied to the embeddings counted once), buffers
and quantization bookkeeping left out, and packed quantized weights counted
by their logical elements (a GPTQ ``qweight`` of int32 holds 32/bits weights
per element; a bitsandbytes 4-bit weight holds two per byte).

What a tensor is comes from the file where the file says it (a tensor's
``role``: TorchScript's ``__parameters__``/``__buffers__``, a whole pickled
module's ``_parameters``/``_buffers``, the slot an ONNX node feeds it into),
and from its name otherwise (``running_mean``, ``inv_freq``, masks: the
buffers that common modules register).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from openward.facts.tensors import TensorRecord, WeightFile

__all__ = ["ParameterCount", "QuantInfo", "count_parameters", "merge_counts"]

# Token and position embeddings, and output heads (when untied).
_EMBEDDING: Final = re.compile(
    r"(^|\.)(embed_tokens|wte|wpe|word_embeddings|position_embeddings|token_type_embeddings|"
    r"tok_embeddings|embed_positions|embed_in|shared|token_embd|position_embd|"
    r"embeddings\.word_embeddings|emb)\.weight$"
)
HEAD_NAME: Final = re.compile(r"(^|\.)(lm_head|embed_out|output|head)\.weight$")
# Routed experts: HF per-expert modules and fused expert tensors, GGUF *_exps.
_EXPERT: Final = re.compile(r"(\.experts\.|_exps\.|\.experts$|\.w[123]_experts)")
# Buffers that checkpoints carry but models do not count as parameters: normalisation
# statistics, rotary and position tables, attention masks, index tables.
_BUFFER: Final = re.compile(
    r"((^|\.)inv_freq|(^|\.)position_ids|\.masked_bias|"
    r"num_batches_tracked|(^|\.)running_mean|(^|\.)running_var|\._extra_state|"
    r"(^|/)moving_mean(:\d+)?|(^|/)moving_variance(:\d+)?|"
    r"\.rope\.freqs|rope_freqs\.weight|(^|\.)relative_position_index|"
    r"(^|\.)relative_coords_table|(^|\.)token_type_ids|(^|\.)_float_tensor|"
    r"(^|\.)freqs_cis|(^|\.)(cos|sin)_cached)$"
)
# GPT-2-style causal masks are named like a bias; a mask has two or more dimensions, a
# Linear layer called ``attn`` has a one-dimensional bias.
_MASK: Final = re.compile(r"\.(attn|attention)\.bias$")
# Quantization bookkeeping next to packed weights.
_QUANT_AUX: Final = re.compile(
    r"\.(qzeros|scales|g_idx|absmax|quant_map|nested_absmax|nested_quant_map|SCB|"
    r"weight_format|weight_scale|weight_scale_inv|input_scale|weight_zero_point|"
    r"quant_state\..*|output_scale|k_scale|v_scale)$"
)


@dataclass
class QuantInfo:
    """How the weights are quantized."""

    method: str
    """``gptq``, ``awq``, ``bitsandbytes``, ``fp8``, ``gguf``, ..."""
    bits: int | None = None
    detail: dict[str, object] = field(default_factory=dict)


@dataclass
class ParameterCount:
    total: int = 0
    active: int = 0
    embedding: int = 0
    non_embedding: int = 0
    by_dtype: dict[str, int] = field(default_factory=dict)
    expert: int = 0
    """Elements in routed-expert tensors (MoE)."""
    tensors: int = 0
    tied: list[str] = field(default_factory=list)
    """Tensors counted once because they share storage or are tied by the config."""
    excluded: dict[str, int] = field(default_factory=dict)
    """Elements left out: ``buffer`` (statistics, masks, tables), ``quantization``
    bookkeeping and ``constant`` (tensors a graph holds that are not weights: ONNX
    shape constants, TorchScript attributes that are neither parameter nor buffer)."""
    bytes: int = 0
    """Bytes of tensor data as stored."""


def _logical_numel(t: TensorRecord, quant: QuantInfo | None) -> int:
    n = t.numel
    if quant is None:
        return n
    bits = quant.bits or 4
    if quant.method in ("gptq", "awq", "compressed-tensors") and t.name.endswith(
        (".qweight", ".weight_packed")
    ):
        return n * (32 // bits) if t.dtype in ("I32", "U32") else n * (8 // bits)
    if (
        quant.method == "bitsandbytes"
        and bits == 4
        and t.dtype == "U8"
        and t.name.endswith(".weight")
    ):
        return n * 2
    return n


def count_parameters(
    files: list[WeightFile],
    *,
    tie_word_embeddings: bool = False,
    experts: int | None = None,
    experts_per_token: int | None = None,
    quant: QuantInfo | None = None,
) -> ParameterCount:
    """Count the parameters of one weight set (the shards of one model)."""
    pc = ParameterCount()
    seen_names: set[str] = set()
    seen_storage: dict[tuple[object, ...], str] = {}
    embedding_shapes: dict[tuple[int, ...], str] = {}
    heads: list[tuple[TensorRecord, int]] = []
    for wf in files:
        for t in wf.tensors:
            if t.name in seen_names:
                continue
            seen_names.add(t.name)
            pc.bytes += t.nbytes
            if t.identity is not None:
                key = (wf.relpath, *t.identity)
                if key in seen_storage:
                    pc.tied.append(f"{t.name} = {seen_storage[key]}")
                    continue
                seen_storage[key] = t.name
            role = t.role
            if role is None and (
                _BUFFER.search(t.name) or (len(t.shape) >= 2 and _MASK.search(t.name))
            ):
                role = "buffer"
            if role is not None and role != "parameter":
                pc.excluded[role] = pc.excluded.get(role, 0) + t.numel
                continue
            if quant is not None and _QUANT_AUX.search(t.name):
                pc.excluded["quantization"] = pc.excluded.get("quantization", 0) + t.numel
                continue
            n = _logical_numel(t, quant)
            pc.tensors += 1
            pc.total += n
            pc.by_dtype[t.dtype] = pc.by_dtype.get(t.dtype, 0) + n
            if _EMBEDDING.search(t.name):
                pc.embedding += n
                embedding_shapes.setdefault(t.shape, t.name)
            elif HEAD_NAME.search(t.name):
                heads.append((t, n))
            if _EXPERT.search(t.name):
                pc.expert += n
    for t, n in heads:
        if tie_word_embeddings and t.shape in embedding_shapes:
            # A head stored although the config ties it: the model holds one matrix.
            pc.total -= n
            pc.by_dtype[t.dtype] -= n
            pc.tensors -= 1
            pc.tied.append(f"{t.name} = {embedding_shapes[t.shape]} (tie_word_embeddings)")
        elif t.shape in embedding_shapes or t.shape[::-1] in embedding_shapes:
            pc.embedding += n
    pc.non_embedding = pc.total - pc.embedding
    pc.active = pc.total
    if experts and experts_per_token and pc.expert:
        pc.active = pc.total - pc.expert + pc.expert * experts_per_token // experts
    pc.by_dtype = {k: v for k, v in sorted(pc.by_dtype.items()) if v}
    pc.excluded = {k: v for k, v in pc.excluded.items() if v}
    return pc


def merge_counts(counts: list[ParameterCount]) -> ParameterCount:
    """The count of several independent models together (one is returned as is)."""
    if len(counts) == 1:
        return counts[0]
    pc = ParameterCount()
    for c in counts:
        pc.total += c.total
        pc.active += c.active
        pc.embedding += c.embedding
        pc.non_embedding += c.non_embedding
        pc.expert += c.expert
        pc.tensors += c.tensors
        pc.bytes += c.bytes
        pc.tied.extend(c.tied)
        for k, v in c.by_dtype.items():
            pc.by_dtype[k] = pc.by_dtype.get(k, 0) + v
        for k, v in c.excluded.items():
            pc.excluded[k] = pc.excluded.get(k, 0) + v
    pc.by_dtype = dict(sorted(pc.by_dtype.items()))
    return pc
