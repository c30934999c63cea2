"""The model card (``README.md``): YAML front matter via huggingface_hub, and
training-token counts stated in its text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = ["CardFacts", "read_card"]

_MAX_CARD: Final = 4 << 20
_MULT: Final = {
    "t": 1e12, "trillion": 1e12, "b": 1e9, "billion": 1e9, "m": 1e6, "million": 1e6,
}  # fmt: skip
# "trained on 15T tokens", "pretrained on 2 trillion tokens", "18 trillion tokens of data"
_TOKENS: Final = re.compile(
    r"(?:trained|pre-?trained|training)\b[^.\n]{0,60}?\b(?:on|with|using|of)\s+"
    r"(?:about|approximately|over|more than|~|roughly)?\s*"
    r"(\d+(?:[.,]\d+)?)\s*(T|B|M|trillion|billion|million)\b\s*(?:high[- ]quality\s+)?tokens",
    re.IGNORECASE,
)


@dataclass
class CardFacts:
    license: str | None = None
    license_name: str | None = None
    base_model: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    language: list[str] = field(default_factory=list)
    pipeline_tag: str | None = None
    library_name: str | None = None
    tags: list[str] = field(default_factory=list)
    training_tokens: float | None = None
    training_tokens_source: str | None = None
    """``card metadata 'training_tokens'`` or the sentence the count was read from."""
    problems: list[str] = field(default_factory=list)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)][:64]
    return []


def _one(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_card(path: Path) -> CardFacts | None:
    """Facts from a model card file; None when there is no card."""
    from huggingface_hub import ModelCard

    try:
        if path.stat().st_size > _MAX_CARD:
            return CardFacts(problems=[f"{path.name} is larger than {_MAX_CARD >> 20} MiB"])
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    facts = CardFacts()
    try:
        card = ModelCard(text, ignore_metadata_errors=True)
        data = card.data.to_dict()  # type: ignore[no-untyped-call]
        body = card.text
    except Exception as exc:
        facts.problems.append(f"model card front matter unreadable: {type(exc).__name__}")
        data, body = {}, text
    facts.license = _one(data.get("license"))
    facts.license_name = _one(data.get("license_name"))
    facts.base_model = _strings(data.get("base_model"))
    facts.datasets = _strings(data.get("datasets"))
    facts.language = _strings(data.get("language"))
    facts.pipeline_tag = _one(data.get("pipeline_tag"))
    facts.library_name = _one(data.get("library_name"))
    facts.tags = _strings(data.get("tags"))
    declared = data.get("training_tokens")
    if isinstance(declared, int | float) and not isinstance(declared, bool) and declared > 0:
        facts.training_tokens = float(declared)
        facts.training_tokens_source = "model card metadata 'training_tokens'"
    else:
        match = _TOKENS.search(body)
        if match:
            number = float(match[1].replace(",", "."))
            facts.training_tokens = number * _MULT[match[2].lower()]
            facts.training_tokens_source = f"model card text: {' '.join(match[0].split())!r}"
    return facts
