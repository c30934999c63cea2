"""Judges: decide whether a completion complied or refused.

``load_judge(name)``: ``keyword`` is the XSTest string-matcher baseline. (The trained default
and the LLM judge are added by their modules.)
"""

from __future__ import annotations

from openward.audit.interface import Judge
from openward.errors import OpenwardError

__all__ = ["load_judge"]


def load_judge(name: str = "keyword", **options: object) -> Judge:
    """The judge called ``name``; unknown names raise OpenwardError."""
    if name == "keyword":
        from openward.audit.judges.keyword import KeywordJudge

        return KeywordJudge()
    raise OpenwardError(f"unknown judge {name!r}; choose from keyword")
