"""English training text for the short fine-tunes: paragraphs of openward's docs and the
NotInject benign queries (both in the repository / shared data)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def english(limit: int = 400) -> list[str]:
    out: list[str] = []
    for md in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        for para in md.read_text(encoding="utf-8").split("\n\n"):
            para = " ".join(para.split())
            if len(para) > 80 and not para.startswith(("```", "|", "#")):
                out.append(para)
    for f in sorted(Path("/work/shared/data/guard").glob("notinject_*.json")):
        try:
            doc = json.loads(f.read_text(encoding="utf-8"))
        except ValueError:
            continue
        items = doc if isinstance(doc, list) else doc.get("data", [])
        for item in items:
            text = item.get("prompt") if isinstance(item, dict) else item
            if isinstance(text, str) and len(text) > 40:
                out.append(text)
    return out[:limit]
