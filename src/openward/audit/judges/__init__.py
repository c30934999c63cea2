"""Judges: decide whether a completion complied or refused.

``load_judge(name, **options)``:

- ``default``: the trained judge, a logistic-regression head on all-MiniLM-L6-v2 embeddings
  (:mod:`openward.audit.judges.trained`), offline, CPU;
- ``keyword``: the XSTest string-matcher baseline (:mod:`openward.audit.judges.keyword`);
- ``llm``: StrongREJECT's rubric asked of an OpenAI-compatible endpoint
  (:mod:`openward.audit.judges.llm`); options ``endpoint``, ``model``, ``api_key``.
"""

from __future__ import annotations

from typing import Any

from openward.audit.interface import Judge
from openward.errors import OpenwardError

__all__ = ["JUDGES", "load_judge"]

JUDGES = ("default", "keyword", "llm")


def load_judge(name: str = "default", **options: Any) -> Judge:
    """The judge called ``name``; unknown names raise OpenwardError."""
    if name == "default":
        from openward.audit.judges.trained import default_judge

        return default_judge()
    if name == "keyword":
        from openward.audit.judges.keyword import KeywordJudge

        return KeywordJudge()
    if name == "llm":
        from openward.audit.judges.llm import LLMJudge

        endpoint = options.pop("endpoint", None)
        model = options.pop("model", None)
        if not endpoint or not model:
            raise OpenwardError("the llm judge needs an endpoint URL and a model name")
        return LLMJudge(str(endpoint), str(model), **options)
    raise OpenwardError(f"unknown judge {name!r}; choose from {', '.join(JUDGES)}")
