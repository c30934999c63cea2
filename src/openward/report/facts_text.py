"""The readable view of ``openward inspect``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from openward.facts.model import ModelFacts

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["human_count", "render_facts_text"]


def human_count(n: float) -> str:
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:g}"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{n} B"
        size /= 1024
    return f"{n} B"


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SENTENCE_END = re.compile(r"(?<=[a-z)]{4})\.\s+(?=[A-Z])")


def _first_sentence(text: str, limit: int = 140) -> str:
    """The first sentence (not cut at "i.e." or "Art."), at most ``limit`` characters."""
    text = " ".join(text.split())
    m = _SENTENCE_END.search(text)
    return _short(text[: m.start() + 1] if m else text, limit)


def render_facts_text(facts: ModelFacts, console: Console) -> None:
    from rich.table import Table

    console.print(f"[bold]openward inspect[/] {facts.target}  ({facts.duration_s:.2f}s)")
    pc = facts.parameters
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    if pc is not None:
        table.add_row("parameters", f"{pc.total:,} ({human_count(pc.total)})")
        if len(facts.models) > 1:
            table.add_row("models", f"{len(facts.models)} independent models, counted each once:")
            for part in facts.models:
                table.add_row("", f"{part.name}: {part.parameters:,} ({part.format})")
        if pc.active != pc.total:
            table.add_row("active", f"{pc.active:,} ({human_count(pc.active)}) per token")
        table.add_row(
            "embedding / other", f"{human_count(pc.embedding)} / {human_count(pc.non_embedding)}"
        )
        table.add_row(
            "by dtype", ", ".join(f"{k} {human_count(v)}" for k, v in pc.by_dtype.items())
        )
        table.add_row("weights", f"{facts.format}, {_bytes(pc.bytes)} in {pc.tensors} tensors")
        if pc.tied:
            table.add_row("tied", "; ".join(pc.tied[:4]) + (" …" if len(pc.tied) > 4 else ""))
    else:
        table.add_row("parameters", "no weight files found")
    arch = facts.architecture
    if arch is not None:
        shape = [
            f"{name} {value}"
            for name, value in (
                ("layers", arch.layers),
                ("hidden", arch.hidden_size),
                ("heads", arch.heads),
                ("kv heads", arch.kv_heads),
                ("vocab", arch.vocab_size),
                ("context", arch.context_length),
            )
            if value
        ]
        family = arch.family or "unknown"
        if arch.architectures:
            family += f" ({', '.join(arch.architectures)})"
        table.add_row("architecture", family)
        if shape:
            table.add_row("shape", ", ".join(shape))
        if arch.is_moe:
            table.add_row("experts", f"{arch.experts_per_token} of {arch.experts} per token")
    if facts.quantization is not None:
        q = facts.quantization
        main = q.detail.get("main_type") if q.method == "gguf" else None
        table.add_row(
            "quantization",
            f"{q.method}" + (f" {q.bits}-bit" if q.bits else "") + (f" ({main})" if main else ""),
        )
    if facts.adapter is not None:
        a = facts.adapter
        table.add_row(
            "adapter",
            f"{a.peft_type or 'adapter'} r={a.rank} on {a.base_model or 'unknown base'}: "
            f"{a.parameters:,} parameters",
        )
    card = facts.card
    if card is not None:
        if card.license:
            table.add_row("license", card.license)
        if card.base_model:
            table.add_row("base model", ", ".join(card.base_model))
        if card.datasets:
            table.add_row("datasets", ", ".join(card.datasets[:6]))
    compute = facts.compute
    if compute is not None:
        table.add_row(
            "training compute",
            f"{compute.flop:.3g} FLOP (range {compute.low:.2g}–{compute.high:.2g}, "
            f"{compute.method})",
        )
        for item in compute.inputs:
            value = f"{item.value:,.4g}" if isinstance(item.value, float | int) else item.value
            table.add_row("", f"{item.name} = {value}  [dim]({_short(item.source, 80)})[/]")
        for note in compute.notes:
            table.add_row("", f"[dim]{_short(note, 120)}[/]")
    else:
        table.add_row("training compute", f"not estimated: {facts.compute_unavailable}")
    console.print(table)

    tiers = Table(title=f"Compute thresholds ({facts.policy})", title_justify="left")
    for column in ("threshold", "FLOP", "status", "crossed"):
        tiers.add_column(column, overflow="fold")
    follows: list[str] = []
    for t in facts.tiers:
        if t.crossed is None:
            mark = "[dim]n/a[/]"
        elif t.crossed:
            mark = "[bold red]yes[/]" if t.certainly else "[red]yes (range straddles)[/]"
        else:
            mark = "[yellow]possibly[/]" if t.possibly else "no"
        if t.applied_to == "modification" and t.crossed is not None:
            mark += " [dim](fine-tuning)[/]"
        flop = f"{t.threshold_flop:.3g}" if t.threshold_flop else "relative"
        tiers.add_row(t.id, flop, t.status, mark)
        if t.crossed or t.possibly:
            line = f"[bold]{t.id}[/]: {_first_sentence(t.triggers, 220)}"
            if t.condition:
                line += f" [dim](only if {_short(t.condition, 80)})[/]"
            follows.append(line)
    console.print(tiers)
    if follows:
        console.print("[bold]What follows[/] (see --json for every source):")
        for line in follows:
            console.print(f"  • {line}")
    console.print(f"minimum access tier under this policy: [bold]{facts.minimum_access}[/]")
    copies = facts.weight_sets[max(1, len(facts.models)) :]
    if copies:
        console.print(
            "other copies of the weights: "
            + "; ".join(
                f"{w.format} ({len(w.files)} files, {human_count(w.parameters)})" for w in copies
            )
        )
    for f in facts.findings:
        console.print(f"[bold]{f.severity}[/] {f.id}: {f.message}")
