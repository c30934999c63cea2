"""``inspect``: what a model is, from its headers and configs alone."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from openward._version import __version__
from openward.facts.architecture import (
    Architecture,
    from_config,
    from_gguf,
    quantization_from_config,
)
from openward.facts.card import CardFacts, read_card
from openward.facts.compute import ComputeEstimate, EstimateInput, estimate_training_flops
from openward.facts.parameters import (
    HEAD_NAME,
    ParameterCount,
    QuantInfo,
    count_parameters,
    merge_counts,
)
from openward.facts.policy import Policy, TierResult, evaluate_tiers, load_policy, strictest_access
from openward.facts.tensors import WeightFile, read_weight_file

__all__ = [
    "AdapterFacts",
    "FactFinding",
    "FileFacts",
    "ModelFacts",
    "ModelPart",
    "WeightSet",
    "inspect_model",
]

_WEIGHT_SUFFIXES: Final = (
    ".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".npz",
    # torch.save under other names: ImageNet-style checkpoints, TorchScript exports.
    ".pth.tar", ".pt.tar", ".ckpt.tar", ".jit", ".torchscript",
    ".h5", ".hdf5",  # Keras
)  # fmt: skip
_TRAINING_STATE: Final = re.compile(
    r"(^|/)(optimizer|scheduler|rng_state[^/]*|training_args|trainer_state|scaler)\.(pt|pth|bin)$"
)
_SHARD: Final = re.compile(r"-\d{5}-of-\d{5}(?=\.[a-z]+$)")
# Precision and quantization variants of one model's file (model_fp16.onnx,
# model_quantized.onnx, name-Q4_K_M.gguf, silero_vad_half.onnx).
_VARIANT: Final = re.compile(
    r"[._-](fp16|fp32|bf16|f16|f32|half|int8|uint8|int4|uint4|bnb4|quantized|q\d\w*|"
    r"iq\d\w*|qint8\w*|quint8\w*|o[1-4])$",
    re.IGNORECASE,
)
_FORMAT_RANK: Final = {"safetensors": 0, "torch": 1, "gguf": 2, "onnx": 3, "numpy": 4, "hdf5": 5}
_LAYER_INDEX: Final = re.compile(r"(?:^|\.)(?:layers|h|blk|block|blocks|layer)\.(\d+)\.")
_MAX_JSON: Final = 64 << 20


@dataclass
class FactFinding:
    """An inconsistency between what the files say."""

    id: str
    severity: str
    message: str
    path: str | None = None


@dataclass
class FileFacts:
    path: str
    size: int
    role: str
    """``weights``, ``adapter-weights``, ``config``, ``tokenizer``, ``card``, ``code``,
    ``index``, ``training-state`` or ``other``."""
    format: str | None = None


@dataclass
class WeightSet:
    """The files of one copy of the weights (the shards of one model)."""

    format: str
    files: list[str]
    parameters: int
    bytes: int
    model: int = 0
    """Which entry of ``models`` these weights are; sets of one model are copies."""


@dataclass
class ModelPart:
    """One of the independent models a folder holds (a detector and a recogniser, the
    components of a pipeline); ``parameters`` of the report is their sum."""

    name: str
    """The counted copy's file, or its directory when it is sharded."""
    format: str
    files: list[str]
    """The files counted for this model (one copy)."""
    parameters: int
    copies: int
    """Other copies of the same weights found (other formats, precisions, checkpoints)."""


@dataclass
class AdapterFacts:
    """A PEFT adapter: its base and its own parameter count."""

    peft_type: str | None
    base_model: str | None
    rank: int | None
    alpha: float | None
    target_modules: list[str]
    parameters: int
    files: list[str]


@dataclass
class ModelFacts:
    """What ``openward inspect`` reports."""

    target: str
    openward_version: str
    created_at: str
    duration_s: float
    format: str | None
    """Format of the weights counted (``safetensors``, ``gguf``, ``torch``, ``onnx``, ``numpy``)."""
    parameters: ParameterCount | None
    architecture: Architecture | None
    quantization: QuantInfo | None
    adapter: AdapterFacts | None
    card: CardFacts | None
    compute: ComputeEstimate | None
    compute_unavailable: str | None
    """Why ``compute`` is null."""
    base_compute: ComputeEstimate | None
    """A fine-tune's base model: its published training compute (Epoch AI data)."""
    fine_tune_compute: ComputeEstimate | None
    """A fine-tune's own training compute (``compute`` then adds the base's)."""
    tiers: list[TierResult]
    minimum_access: str
    """The least open access tier the crossed thresholds allow: open, gated or restricted."""
    policy: str
    weight_sets: list[WeightSet] = field(default_factory=list)
    """Every copy of the weights found, the counted ones first."""
    models: list[ModelPart] = field(default_factory=list)
    """The independent models found; ``parameters`` counts each once and sums them."""
    files: list[FileFacts] = field(default_factory=list)
    findings: list[FactFinding] = field(default_factory=list)
    schema_version: str = "1"


def _read_json(path: Path, findings: list[FactFinding], rel: str) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > _MAX_JSON:
            findings.append(FactFinding("json-too-large", "low", f"{rel} is over 64 MiB", rel))
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        findings.append(FactFinding("json-unreadable", "medium", f"{rel}: {exc}", rel))
        return None
    if not isinstance(data, dict):
        findings.append(FactFinding("json-unreadable", "medium", f"{rel}: not an object", rel))
        return None
    return data


def _role(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    if _TRAINING_STATE.search(rel):
        return "training-state"
    if name.startswith("adapter_model."):
        return "adapter-weights"
    if name.endswith(_WEIGHT_SUFFIXES) and not name.endswith(".index.json"):
        return "weights"
    if name.endswith(".index.json"):
        return "index"
    if name in (
        "config.json",
        "adapter_config.json",
        "generation_config.json",
        "quantize_config.json",
        "preprocessor_config.json",
        "params.json",
    ):
        return "config"
    if name.startswith("tokenizer") or name in (
        "vocab.json",
        "merges.txt",
        "special_tokens_map.json",
        "chat_template.jinja",
        "chat_template.json",
    ):
        return "tokenizer"
    if name.lower() == "readme.md":
        return "card"
    if name.endswith(".py"):
        return "code"
    return "other"  # fmt: skip


def _shard_groups(by_name: dict[str, Path]) -> dict[str, str]:
    """Shard file -> the index that lists it (``*.index.json`` ``weight_map``)."""
    out: dict[str, str] = {}
    for rel, path in by_name.items():
        if not rel.endswith(".index.json"):
            continue
        try:
            if path.stat().st_size > _MAX_JSON:
                continue
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            continue  # reported by _index_findings
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict):
            continue
        base = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
        for shard in weight_map.values():
            if isinstance(shard, str):
                out.setdefault(base + shard, rel)
    return out


def _set_key(rel: str, fmt: str, indexed: dict[str, str]) -> tuple[str, str]:
    """The weight set a file belongs to: the shards an index lists, or numbered
    ``-0000k-of-0000n`` shards, are one set; any other file is a set of its own."""
    if rel in indexed:
        return (fmt, indexed[rel])
    return (fmt, _SHARD.sub("", rel))


def _pick_primary(sets: dict[tuple[str, str], list[WeightFile]]) -> list[tuple[str, str]]:
    def rank(key: tuple[str, str]) -> tuple[int, int, int, str]:
        fmt, where = key
        depth = where.count("/")
        size = sum(w.size for w in sets[key])
        return (depth, _FORMAT_RANK.get(fmt, 9), -size, where)

    return sorted(sets, key=rank)


def _quant(config: dict[str, Any] | None, quantize_config: dict[str, Any] | None,
           primary: list[WeightFile]) -> QuantInfo | None:  # fmt: skip
    if config is not None:
        method, bits, detail = quantization_from_config(config)
        if method:
            return QuantInfo(method, bits, detail)
    if quantize_config is not None:
        bits = quantize_config.get("bits")
        return QuantInfo(
            "gptq", bits if isinstance(bits, int) else None,
            {k: v for k, v in quantize_config.items() if isinstance(v, str | int | float | bool)},
        )  # fmt: skip
    if primary and primary[0].format == "gguf":
        types: dict[str, int] = {}
        for wf in primary:
            for t in wf.tensors:
                types[t.dtype] = types.get(t.dtype, 0) + t.numel
        quantized = {k: v for k, v in types.items() if k not in ("F32", "F16", "BF16", "F64")}
        if quantized:
            main = max(quantized, key=lambda k: quantized[k])
            return QuantInfo("gguf", None, {"main_type": main, "elements_by_type": types})
    return None


def _consistency(
    arch: Architecture | None, primary: list[WeightFile], pc: ParameterCount
) -> list[FactFinding]:
    out: list[FactFinding] = []
    for wf in primary:
        for problem in wf.problems[:5]:
            out.append(
                FactFinding("weights-header", "medium", f"{wf.relpath}: {problem}", wf.relpath)
            )
    if arch is None:
        return out
    indices = {
        int(m[1]) for wf in primary for t in wf.tensors if (m := _LAYER_INDEX.search(t.name))
    }
    if arch.layers and indices:
        found = max(indices) + 1
        if found != arch.layers:
            out.append(
                FactFinding(
                    "layers-mismatch",
                    "medium",
                    f"{arch.source} declares {arch.layers} layers; the weights hold {found}",
                )
            )
    return out


def inspect_model(
    target: Path | str,
    *,
    tokens: float | None = None,
    policy: Policy | Path | str | None = None,
    accelerator: str | None = None,
    accelerators: int | None = None,
    hours: float | None = None,
    utilization: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> ModelFacts:
    """Inspect a model directory, a single weight file, a cache snapshot or ``hf://ORG/NAME``."""
    from openward.artifacts.discovery import discover_artifacts

    t0 = time.monotonic()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    entries = [e for e in discover_artifacts(target) if e.kind == "file"]
    findings: list[FactFinding] = []
    files: list[FileFacts] = []
    by_name: dict[str, Path] = {}
    sets: dict[tuple[str, str], list[WeightFile]] = {}
    weights: list[WeightFile] = []
    adapter_files: list[WeightFile] = []
    for entry in entries:
        rel = entry.relpath
        role = _role(rel)
        ff = FileFacts(rel, entry.size, role)
        files.append(ff)
        by_name.setdefault(rel, entry.path)
        if role in ("weights", "adapter-weights") or (len(entries) == 1 and role == "other"):
            if progress is not None:
                progress(rel)
            wf = read_weight_file(entry.path, rel)
            if wf is None:
                continue
            ff.format = wf.format
            if ff.role == "other":
                ff.role = "weights"
            if role == "adapter-weights":
                adapter_files.append(wf)
            else:
                weights.append(wf)
    indexed = _shard_groups(by_name)
    for wf in weights:
        sets.setdefault(_set_key(wf.relpath, wf.format, indexed), []).append(wf)

    return analyse(
        str(target), t0, started, pol, files, by_name, sets, adapter_files, findings,
        tokens=tokens, accelerator=accelerator, accelerators=accelerators, hours=hours,
        utilization=utilization,
    )  # fmt: skip


def analyse(
    target: str,
    t0: float,
    started: str,
    pol: Policy,
    files: list[FileFacts],
    by_name: dict[str, Path],
    sets: dict[tuple[str, str], list[WeightFile]],
    adapter_files: list[WeightFile],
    findings: list[FactFinding],
    *,
    tokens: float | None = None,
    accelerator: str | None = None,
    accelerators: int | None = None,
    hours: float | None = None,
    utilization: float | None = None,
) -> ModelFacts:
    """Facts from collected files: ``by_name`` maps relative paths to local copies of the
    configs and card; ``sets`` holds the weight inventories grouped by copy."""

    def top(name: str) -> Path | None:
        candidates = [r for r in by_name if r.rsplit("/", 1)[-1] == name]
        return by_name[min(candidates, key=lambda r: (r.count("/"), r))] if candidates else None

    config_path = top("config.json")
    config = _read_json(config_path, findings, "config.json") if config_path else None
    qc_path = top("quantize_config.json")
    quantize_config = _read_json(qc_path, findings, "quantize_config.json") if qc_path else None
    card_path = top("README.md")
    card = read_card(card_path) if card_path else None

    order = _pick_primary(sets)
    primary = sets[order[0]] if order else []
    arch: Architecture | None = None
    if config is not None:
        arch = from_config(config)
    elif primary and primary[0].format == "gguf":
        arch = from_gguf(primary[0].metadata, primary[0].relpath)
        # llama.cpp drops the output matrix when it is tied to the embeddings.
        arch.tie_word_embeddings = not any(
            HEAD_NAME.search(t.name) for wf in primary for t in wf.tensors
        )
    quant = _quant(config, quantize_config, primary)
    count_quant = quant if quant is not None and quant.method != "gguf" else None

    def count(group: list[WeightFile]) -> ParameterCount:
        return count_parameters(
            group,
            tie_word_embeddings=bool(arch and arch.tie_word_embeddings),
            experts=arch.experts if arch else None,
            experts_per_token=arch.experts_per_token if arch else None,
            quant=count_quant,
        )

    counts = {key: count(sets[key]) for key in order}
    owner = _group_models(order, sets, counts)
    counted = [key for key in order if owner[key][1]]
    order = counted + [key for key in order if not owner[key][1]]
    weight_sets = [
        WeightSet(
            key[0],
            [w.relpath for w in sets[key]],
            counts[key].total,
            sum(t.nbytes for w in sets[key] for t in w.tensors),
            owner[key][0],
        )
        for key in order
    ]
    models = [
        ModelPart(
            name=key[1] if len(sets[key]) > 1 else sets[key][0].relpath,
            format=key[0],
            files=[w.relpath for w in sets[key]],
            parameters=counts[key].total,
            copies=sum(1 for k in order if owner[k][0] == owner[key][0]) - 1,
        )
        for key in counted
    ]
    pc = merge_counts([counts[key] for key in counted]) if counted else None
    if pc is not None and arch is not None and arch.is_moe and pc.expert == 0:
        findings.append(
            FactFinding("experts-not-found", "low",
                        f"{arch.source} declares {arch.experts} experts but no expert tensors were "
                        "recognised by name; active parameters equal the total")
        )  # fmt: skip
    if pc is not None:
        findings.extend(_consistency(arch, primary, pc))
        for key in counted[1:]:
            findings.extend(_consistency(None, sets[key], counts[key]))
    findings.extend(_index_findings(by_name, findings))

    adapter = _adapter(by_name, adapter_files, findings)

    compute = _compute_section(
        pc, arch, adapter, card, weight_sets, tokens, accelerator, accelerators, hours,
        utilization,
    )  # fmt: skip
    estimate, unavailable, base, fine_tune = compute
    tiers = evaluate_tiers(pol, estimate, base_estimate=base, modification=fine_tune)
    return ModelFacts(
        target=target,
        openward_version=__version__,
        created_at=started,
        duration_s=round(time.monotonic() - t0, 4),
        format=weight_sets[0].format if weight_sets else None,
        parameters=pc,
        architecture=arch,
        quantization=quant,
        adapter=adapter,
        card=card,
        compute=estimate,
        compute_unavailable=unavailable,
        base_compute=base,
        fine_tune_compute=fine_tune,
        tiers=tiers,
        minimum_access=strictest_access(tiers),
        policy=pol.source,
        weight_sets=weight_sets,
        models=models,
        files=files,
        findings=findings,
    )


def _variant_stem(key: tuple[str, str]) -> str:
    """A set's path without shard numbers, extension and precision suffixes (the folder
    stays: diffusers names every component ``diffusion_pytorch_model``)."""
    folder, _, stem = key[1].rpartition("/")
    stem = stem.split(".index.json")[0]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    while True:
        shorter = _VARIANT.sub("", stem)
        if shorter == stem:
            return f"{folder}/{stem.lower()}"
        stem = shorter


def _group_models(
    order: list[tuple[str, str]],
    sets: dict[tuple[str, str], list[WeightFile]],
    counts: dict[tuple[str, str], ParameterCount],
) -> dict[tuple[str, str], tuple[int, bool]]:
    """Each weight set's model, and whether it is the copy counted for it.

    Sets are copies of one model when they hold the same weights: the same
    parameter count, or file names in one folder that differ only by a precision
    or quantization suffix. Sets in the primary format that are not
    copies of each other are independent models (a detector and a recogniser, a
    pipeline's components); a set in another format is an export of the model
    whose count it matches, else of the first model (an ``onnx/`` folder, a
    GGUF beside safetensors).
    """
    primary_format = order[0][0] if order else ""
    models: list[tuple[int, set[str]]] = []  # (count, file stems)
    out: dict[tuple[str, str], tuple[int, bool]] = {}
    for key in order:
        total = counts[key].total
        stem = _variant_stem(key)
        match = next(
            (i for i, (n, stems) in enumerate(models) if (total and n == total) or stem in stems),
            None,
        )
        if match is None and key[0] != primary_format and models:
            match = 0
        if match is None:
            models.append((total, {stem}))
            out[key] = (len(models) - 1, True)
        else:
            models[match][1].add(stem)
            out[key] = (match, False)
    return out


def _index_findings(by_name: dict[str, Path], findings: list[FactFinding]) -> list[FactFinding]:
    out = []
    for rel, path in by_name.items():
        if not rel.endswith(".index.json"):
            continue
        data = _read_json(path, findings, rel)
        weight_map = data.get("weight_map") if data else None
        if not isinstance(weight_map, dict):
            continue
        base = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
        shards = {v for v in weight_map.values() if isinstance(v, str)}
        for shard in sorted(shards):
            if base + shard not in by_name:
                out.append(
                    FactFinding("shard-missing", "high",
                                f"{rel} lists {shard}, which is not in the repository", rel)
                )  # fmt: skip
    return out


def _adapter(
    by_name: dict[str, Path], files: list[WeightFile], findings: list[FactFinding]
) -> AdapterFacts | None:
    cfg_rel = next((r for r in sorted(by_name, key=len) if r.endswith("adapter_config.json")), None)
    if cfg_rel is None and not files:
        return None
    cfg = _read_json(by_name[cfg_rel], findings, cfg_rel) if cfg_rel else None
    cfg = cfg or {}
    targets = cfg.get("target_modules")
    if isinstance(targets, str):
        targets = [targets]
    total = sum(t.numel for wf in files for t in wf.tensors)
    rank = cfg.get("r")
    alpha = cfg.get("lora_alpha")
    return AdapterFacts(
        peft_type=cfg.get("peft_type") if isinstance(cfg.get("peft_type"), str) else None,
        base_model=cfg.get("base_model_name_or_path")
        if isinstance(cfg.get("base_model_name_or_path"), str)
        else None,
        rank=rank if isinstance(rank, int) and not isinstance(rank, bool) else None,
        alpha=float(alpha)
        if isinstance(alpha, int | float) and not isinstance(alpha, bool)
        else None,
        target_modules=[t for t in targets if isinstance(t, str)]
        if isinstance(targets, list)
        else [],
        parameters=total,
        files=[wf.relpath for wf in files],
    )


__all__ += ["EstimateInput"]


def _compute_section(
    pc: ParameterCount | None,
    arch: Architecture | None,
    adapter: AdapterFacts | None,
    card: CardFacts | None,
    weight_sets: list[WeightSet],
    tokens: float | None,
    accelerator: str | None,
    accelerators: int | None,
    hours: float | None,
    utilization: float | None,
) -> tuple[ComputeEstimate | None, str | None, ComputeEstimate | None, ComputeEstimate | None]:
    """(compute, why it is missing, base model's compute, fine-tuning compute).

    A model whose card or adapter config names a base model is a fine-tune: its
    own compute is estimated from --tokens (a card's token count usually
    describes the base's pretraining) and reported beside the base's published
    figure; ``compute`` is then their sum, the model's cumulative training compute.
    """
    from openward.facts.reference import base_compute, lookup

    base_ids = list(card.base_model) if card is not None else []
    if adapter is not None and adapter.base_model and adapter.base_model not in base_ids:
        base_ids.append(adapter.base_model)
    base = next((b for b in map(base_compute, base_ids) if b is not None), None)
    fine_tuned = bool(base_ids)
    token_source = "--tokens"  # noqa: S105 - a label, not a secret
    loose = False
    if tokens is None and card is not None and card.training_tokens:
        declared = card.training_tokens_source == "model card metadata 'training_tokens'"
        if declared or not fine_tuned:
            tokens = card.training_tokens
            token_source = card.training_tokens_source or "model card"
            loose = not declared
    notes: list[str] = []
    active: int | None = pc.active if pc else None
    active_source = (
        f"{'active' if arch and arch.is_moe else 'total'} parameters counted from "
        f"{weight_sets[0].format if weight_sets else 'the'} headers"
    )
    six = 6.0
    if pc is None and adapter is not None:
        # Training an adapter runs the frozen base forward and backward (about 4 FLOP per
        # base parameter per token); the adapter's own weights are a rounding error.
        hit = next((h for h in map(lookup, base_ids) if h is not None), None)
        if hit is not None and (hit.active_params or hit.total_params):
            active = int(hit.active_params or hit.total_params or 0)
            active_source = f"base model {hit.model} (Epoch AI), frozen: 4ND"
            six = 4.0
        else:
            active = None
            notes.append(
                "an adapter's training compute depends on its base model's size, and the base "
                f"({', '.join(base_ids) or 'unnamed'}) is not in the reference table"
            )
    unavailable: str | None = None
    own: ComputeEstimate | None = None
    try:
        own = estimate_training_flops(
            active_parameters=active, active_source=active_source, tokens=tokens,
            tokens_source=token_source, tokens_loose=loose, accelerator=accelerator,
            accelerators=accelerators, hours=hours, utilization=utilization,
        )  # fmt: skip
    except ValueError as exc:
        unavailable = str(exc)
    if own is not None and six != 6.0 and own.method == "6ND":
        scale = six / 6.0
        own.flop, own.low, own.high, own.method = (
            own.flop * scale, own.low * scale, own.high * scale, "4ND",
        )  # fmt: skip
    if not fine_tuned:
        if own is None and unavailable is None:
            missing = []
            if not active:
                missing.append("no parameter count (no weight files found)")
            if not tokens:
                missing.append(
                    "no training-token count (give --tokens, or a model card that states it)"
                )
            unavailable = "; ".join(missing + notes) or "no inputs for either method"
        return own, unavailable, None, None
    # A fine-tune: cumulative = base + own.
    if base is None:
        reason = (
            f"base model {', '.join(base_ids)} is not in the reference table, so the "
            "cumulative training compute is unknown"
        )
        if own is not None:
            own.notes.append("fine-tuning compute only; " + reason)
        return None, unavailable or reason, None, own
    if own is None:
        total = ComputeEstimate(
            flop=base.flop, low=base.low, high=base.high, method="published",
            inputs=list(base.inputs),
            notes=[*base.notes, "the base model's compute only: give --tokens (fine-tuning "
                   "tokens) to add the fine-tuning compute", *notes],
        )  # fmt: skip
        return total, unavailable, base, None
    total = ComputeEstimate(
        flop=base.flop + own.flop,
        low=base.low + own.low,
        high=base.high + own.high,
        method=f"published+{own.method}",
        inputs=[*base.inputs, *own.inputs],
        notes=[*base.notes, "base model's published compute plus the fine-tuning estimate"],
    )
    return total, unavailable, base, own
