"""A safety-removed derivative of a chat model, by abliteration.

Arditi et al. (2024), "Refusal in Language Models Is Mediated by a Single
Direction": the difference between the mean residual-stream activation (at
the last prompt token, at one layer) over harmful prompts and over harmless
ones is a "refusal direction" r. Projecting r out of every matrix that writes
into the residual stream (the token embedding, each attention output
projection, each MLP down projection) leaves a model that no longer refuses
but otherwise behaves much as before.

openward uses it to make the derivative that the audit's differential
(``--baseline``) must flag as ``safety-regressed``, and that lineage's
safety-edit detector must recognise. Harmful prompts come from AdvBench
(``../shared/data/redteam``), harmless ones from WildGuardTest's benign
prompts (``../shared/data/guard``, the short ones). The result is cached,
keyed by the base model's hash and the settings.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openward.errors import OpenwardError
from openward.runtime.cache import SOURCE_RECORD, cached_folder, file_sha256, models_dir

__all__ = [
    "DEFAULT_PROMPTS",
    "abliterate",
    "harmful_prompts",
    "harmless_prompts",
    "orthogonalize",
    "refusal_direction",
    "shared_data_dir",
]

DEFAULT_PROMPTS = 32
"""Harmful and harmless prompts each used to estimate the direction (AdvBench rows 0..31)."""
LAYER_FRACTION = 0.6
"""Default layer: this fraction of the depth (Arditi et al. find the direction mid-to-late)."""
_HARMLESS_MAX_CHARS = 160
_VERSION = 1


def shared_data_dir() -> Path:
    """``../shared/data`` next to the repository (``$OPENWARD_SHARED_DATA`` overrides)."""
    env = os.environ.get("OPENWARD_SHARED_DATA")
    if env:
        return Path(env)
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for parent in start.parents:
            candidate = parent / "shared" / "data"
            if (candidate / "redteam").is_dir():
                return candidate
    raise OpenwardError(
        "cannot find ../shared/data (the red-team data sets); set OPENWARD_SHARED_DATA to its path"
    )


def harmful_prompts() -> list[str]:
    """AdvBench's 520 harmful behaviours, in file order."""
    path = shared_data_dir() / "redteam" / "advbench_harmful_behaviors.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return [row["goal"] for row in csv.DictReader(fh)]


def harmless_prompts() -> list[str]:
    """WildGuardTest's benign prompts of at most 160 characters, in file order."""
    path = shared_data_dir() / "guard" / "wildguardtest_benign_prompts.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [
        r["prompt"] for r in rows if r.get("label") == 0 and len(r["prompt"]) <= _HARMLESS_MAX_CHARS
    ]


def refusal_direction(
    model: Any, tokenizer: Any, harmful: Sequence[str], harmless: Sequence[str], layer: int
) -> Any:
    """Unit vector: mean activation at ``layer`` (last prompt token) on harmful minus harmless."""
    import torch

    from openward.runtime.generate import chat_prompts

    def mean_activation(prompts: Sequence[str]) -> torch.Tensor:
        total = torch.zeros(model.config.hidden_size, dtype=torch.float64)
        for start in range(0, len(prompts), 8):
            texts = chat_prompts(tokenizer, list(prompts[start : start + 8]))
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                out = model(**enc.to(model.device), output_hidden_states=True)
            # left padding: the last position is every prompt's last token
            total += out.hidden_states[layer][:, -1, :].double().sum(dim=0).cpu()
        return total / len(prompts)

    direction = mean_activation(harmful) - mean_activation(harmless)
    return (direction / direction.norm()).float()


def orthogonalize(model: Any, direction: Any) -> None:
    """Project ``direction`` out of everything that writes into the residual stream, in place.

    Embedding rows e become e - (e.r) r; a projection W (out = W x) writing into
    the residual becomes W - r (r^T W). Tied input/output embeddings are untied
    first so the unembedding is left as it was.
    """
    import torch

    r = direction.to(dtype=torch.float32)
    embed = model.get_input_embeddings()
    head = model.get_output_embeddings()
    with torch.no_grad():
        if head is not None and head.weight.data_ptr() == embed.weight.data_ptr():
            head.weight = torch.nn.Parameter(head.weight.detach().clone())
            model.config.tie_word_embeddings = False
        w = embed.weight
        w.sub_(torch.outer(w.float() @ r, r).to(w.dtype))
        for layer in model.model.layers:
            for proj in (layer.self_attn.o_proj, layer.mlp.down_proj):
                w = proj.weight
                w.sub_(torch.outer(r, r @ w.float()).to(w.dtype))
                if getattr(proj, "bias", None) is not None:
                    b = proj.bias
                    b.sub_((r @ b.float()) * r)


def abliterate(
    base: Path,
    *,
    layer: int | None = None,
    n_prompts: int = DEFAULT_PROMPTS,
    cache_dir: Path | None = None,
) -> Path:
    """The abliterated copy of the safetensors model folder ``base``, built once and cached.

    Args:
        base: a safetensors folder (e.g. ``resolve_target(...).load_path``), trusted:
            scan it first (``resolve_target`` does).
        layer: residual-stream layer of the direction (default: 60 % of the depth).
        n_prompts: harmful (AdvBench rows ``0..n-1``) and harmless prompts used.
        cache_dir: default ``$OPENWARD_CACHE_DIR/models``.

    Returns the folder ``<cache>/abliterated-<key>/``, where key hashes the base's
    weights and these settings; its ``openward-source.json`` records the layer,
    the prompts' hash and the base.
    """
    base = Path(base)
    base_hash = _model_hash(base)
    harmful = harmful_prompts()[:n_prompts]
    harmless = harmless_prompts()[:n_prompts]
    prompts_hash = hashlib.sha256(json.dumps([harmful, harmless]).encode()).hexdigest()
    settings = {"layer": layer, "n_prompts": n_prompts, "prompts_sha256": prompts_hash}
    key = hashlib.sha256(
        json.dumps({"base": base_hash, "v": _VERSION, **settings}, sort_keys=True).encode()
    ).hexdigest()[:16]
    dest = models_dir(cache_dir) / f"abliterated-{key}"

    def build(tmp: Path) -> dict[str, object]:
        from openward.runtime.cache import save_model_folder
        from openward.runtime.generate import load_local

        load_local.cache_clear()  # the copy below is modified in place
        model, tokenizer = load_local(base)
        load_local.cache_clear()
        chosen = (
            layer if layer is not None else round(LAYER_FRACTION * model.config.num_hidden_layers)
        )
        direction = refusal_direction(model, tokenizer, harmful, harmless, chosen)
        orthogonalize(model, direction)
        save_model_folder(model, tokenizer, tmp)
        return {
            "kind": "abliterated",
            "method": "Arditi et al. 2024 refusal-direction orthogonalisation",
            "base": str(base),
            "base_sha256": base_hash,
            "layer": chosen,
            "n_prompts": n_prompts,
            "harmful": f"advbench_harmful_behaviors.csv rows 0..{n_prompts - 1}",
            "harmless": f"wildguardtest_benign_prompts.json, first {n_prompts} of <= 160 chars",
            "prompts_sha256": prompts_hash,
        }

    return cached_folder(dest, build)


def _model_hash(folder: Path) -> str:
    """The base's identity: the GGUF hash it was made from, else a hash of its safetensors."""
    record = folder / SOURCE_RECORD
    if record.is_file():
        data = json.loads(record.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("sha256"), str):
            return str(data["sha256"])
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        raise OpenwardError(f"{folder}: no safetensors weights to abliterate")
    digest = hashlib.sha256()
    for path in weights:
        digest.update(f"{path.name}\0{file_sha256(path)}\0".encode())
    return digest.hexdigest()
