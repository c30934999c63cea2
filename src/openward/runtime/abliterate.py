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
(``../shared/data/redteam``), harmless ones from NotInject's benign common
queries (``../shared/data/guard``). The result is cached, keyed by the base
model's hash and the settings.

A fixed layer is not enough: the direction at 60 % of Qwen2.5-Coder-0.5B's
depth, estimated against WildGuardTest's benign prompts, removed nothing
(20/30 held-out refusals before, 22/30 after), so the layer is chosen as the
paper does, by what ablating each candidate does to the first token's
refusal probability.
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
from openward.runtime.compute import compute_bound

__all__ = [
    "DEFAULT_PROMPTS",
    "abliterate",
    "candidate_directions",
    "harmful_prompts",
    "harmless_prompts",
    "orthogonalize",
    "refusal_direction",
    "select_direction",
    "shared_data_dir",
]

DEFAULT_PROMPTS = 32
"""Harmful and harmless prompts each used to estimate the direction (AdvBench rows 0..31)."""
VALIDATION_PROMPTS = 8
"""Harmful (AdvBench rows n..n+7) and harmless prompts that choose the layer."""
REFUSAL_STARTS = ("I", "As", "Sorry", "Unfortunately")
"""Words a refusal starts with; their first tokens' probability is the refusal score."""
_MAX_KL = 0.1
_HARMLESS_MAX_CHARS = 200
_VERSION = 3


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
    """NotInject's benign "Common Queries" of at most 200 characters, in file order.

    Plain requests (``Discuss how morals influence decision-making in everyday
    life.``); WildGuardTest's benign prompts, tried first, are adversarial in
    form and Qwen refuses many, which blurs the harmful-minus-harmless direction.
    """
    rows: list[str] = []
    for name in ("notinject_one.json", "notinject_two.json", "notinject_three.json"):
        data = json.loads((shared_data_dir() / "guard" / name).read_text(encoding="utf-8"))
        rows += [
            r["prompt"]
            for r in data
            if r.get("category") == "Common Queries" and len(r["prompt"]) <= _HARMLESS_MAX_CHARS
        ]
    return rows


def candidate_directions(
    model: Any, tokenizer: Any, harmful: Sequence[str], harmless: Sequence[str]
) -> Any:
    """Unit vectors, one per residual-stream layer (index 0: the embedding output): mean
    activation at the last prompt token over ``harmful`` minus over ``harmless``."""
    import torch

    from openward.runtime.generate import chat_prompts

    def mean_activations(prompts: Sequence[str]) -> torch.Tensor:
        total: torch.Tensor | None = None
        for start in range(0, len(prompts), 8):
            texts = chat_prompts(tokenizer, list(prompts[start : start + 8]))
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                out = model(**enc.to(model.device), output_hidden_states=True)
            # left padding: the last position is every prompt's last token
            batch = torch.stack([h[:, -1, :] for h in out.hidden_states]).double().sum(dim=1)
            total = batch.cpu() if total is None else total + batch.cpu()
        assert total is not None
        return total / len(prompts)

    directions = mean_activations(harmful) - mean_activations(harmless)
    return (directions / directions.norm(dim=-1, keepdim=True)).float()


def refusal_direction(
    model: Any, tokenizer: Any, harmful: Sequence[str], harmless: Sequence[str], layer: int
) -> Any:
    """The candidate direction at ``layer`` (see :func:`candidate_directions`)."""
    return candidate_directions(model, tokenizer, harmful, harmless)[layer]


def _refusal_token_ids(tokenizer: Any) -> list[int]:
    ids = set()
    for word in REFUSAL_STARTS:
        encoded = tokenizer(word, add_special_tokens=False)["input_ids"]
        if encoded:
            ids.add(int(encoded[0]))
    return sorted(ids)


def _first_token_scores(
    model: Any, tokenizer: Any, prompts: Sequence[str], direction: Any | None
) -> tuple[Any, Any]:
    """(refusal log-odds per prompt, next-token log-probs) with ``direction`` ablated
    everywhere (hooks equivalent to orthogonalising the weights), or as is when None."""
    import torch

    from openward.runtime.generate import chat_prompts

    handles = []
    if direction is not None:
        r = direction.to(model.device)

        def project_out(_module: Any, _inputs: Any, output: Any) -> Any:
            return output - (output @ r).unsqueeze(-1) * r

        writers = [model.get_input_embeddings()]
        for block in model.model.layers:
            writers += [block.self_attn.o_proj, block.mlp.down_proj]
        handles = [w.register_forward_hook(project_out) for w in writers]
    try:
        texts = chat_prompts(tokenizer, list(prompts))
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            logits = model(**enc.to(model.device)).logits[:, -1, :].float()
    finally:
        for handle in handles:
            handle.remove()
    logprobs = torch.log_softmax(logits, dim=-1)
    refusal = torch.logsumexp(logprobs[:, _refusal_token_ids(tokenizer)], dim=-1)
    log_odds = refusal - torch.log1p(-refusal.exp().clamp(max=1 - 1e-6))
    return log_odds.cpu(), logprobs.cpu()


def select_direction(
    model: Any,
    tokenizer: Any,
    directions: Any,
    harmful_val: Sequence[str],
    harmless_val: Sequence[str],
) -> tuple[int, dict[int, float]]:
    """Arditi et al.'s selection, cut down: among the layers from 25 % to 80 % of the depth,
    the direction whose ablation lowers the first-token refusal log-odds on held-in harmful
    prompts most, among those that move harmless prompts' next-token distribution little
    (KL < 0.1; all candidates when none does). Returns (layer, {layer: mean log-odds})."""
    import torch

    layers = model.config.num_hidden_layers
    _, base_logprobs = _first_token_scores(model, tokenizer, harmless_val, None)
    scores: dict[int, float] = {}
    kls: dict[int, float] = {}
    for layer in range(max(1, round(0.25 * layers)), round(0.8 * layers) + 1):
        log_odds, _ = _first_token_scores(model, tokenizer, harmful_val, directions[layer])
        _, logprobs = _first_token_scores(model, tokenizer, harmless_val, directions[layer])
        scores[layer] = float(log_odds.mean())
        kl = torch.nn.functional.kl_div(
            logprobs, base_logprobs, log_target=True, reduction="batchmean"
        )
        kls[layer] = float(kl)
    gentle = [layer for layer in scores if kls[layer] < _MAX_KL] or list(scores)
    return min(gentle, key=lambda layer: scores[layer]), scores


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


@compute_bound
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
        layer: residual-stream layer of the direction (default: chosen by :func:`select_direction`
            on AdvBench rows n..n+7 and 8 further harmless prompts).
        n_prompts: harmful (AdvBench rows ``0..n-1``) and harmless prompts used.
        cache_dir: default ``$OPENWARD_CACHE_DIR/models``.

    Returns the folder ``<cache>/abliterated-<key>/``, where key hashes the base's
    weights and these settings; its ``openward-source.json`` records the layer,
    the prompts' hash and the base.
    """
    base = Path(base)
    base_hash = _model_hash(base)
    all_harmful, all_harmless = harmful_prompts(), harmless_prompts()
    harmful, harmless = all_harmful[:n_prompts], all_harmless[:n_prompts]
    val = slice(n_prompts, n_prompts + VALIDATION_PROMPTS)
    harmful_val, harmless_val = all_harmful[val], all_harmless[val]
    prompts_hash = hashlib.sha256(
        json.dumps([harmful, harmless, harmful_val, harmless_val]).encode()
    ).hexdigest()
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
        directions = candidate_directions(model, tokenizer, harmful, harmless)
        scores: dict[int, float] = {}
        if layer is None:
            chosen, scores = select_direction(
                model, tokenizer, directions, harmful_val, harmless_val
            )
        else:
            chosen = layer
        orthogonalize(model, directions[chosen])
        save_model_folder(model, tokenizer, tmp)
        from safetensors.torch import save_file

        save_file(
            {"direction": directions[chosen].contiguous()},
            str(tmp / "refusal_direction.safetensors"),
        )
        return {
            "kind": "abliterated",
            "method": "Arditi et al. 2024 refusal-direction orthogonalisation",
            "base": str(base),
            "base_sha256": base_hash,
            "layer": chosen,
            "layer_scores": {str(k): round(v, 3) for k, v in scores.items()},
            "n_prompts": n_prompts,
            "harmful": f"advbench_harmful_behaviors.csv rows 0..{n_prompts - 1}",
            "harmless": f"notinject_*.json Common Queries, first {n_prompts} of <= 200 chars",
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
