"""The JSON form of ``openward inspect``, and its published JSON Schema.

As for scan reports, the document is built with the standard library and the
schema derived by pydantic from the same dataclasses
(``docs/schema/inspect-report.schema.json``, kept in sync by a test). Keys
named by the issue as a contract (``parameters.total``/``active``/
``embedding``/``non_embedding``/``by_dtype``, ``compute.flop``/``low``/
``high``/``method``/``inputs``, ``tiers[].id``/``threshold_flop``/
``crossed``/``source``/``triggers``) never change meaning.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from openward.facts.model import ModelFacts
from openward.report.json import _plain

__all__ = ["facts_document", "facts_schema", "pydantic_facts_document", "render_facts_json"]

SCHEMA_ID = "https://openward.dev/schema/inspect-report/1.json"


@cache
def _adapter() -> Any:
    from dataclasses import fields, is_dataclass

    from pydantic import TypeAdapter

    seen: set[type] = set()

    def mark(cls: type) -> None:
        if cls in seen or not is_dataclass(cls):
            return
        seen.add(cls)
        setattr(cls, "__pydantic_config__", {"use_attribute_docstrings": True})  # noqa: B010
        import typing

        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            for arg in _types(hints[f.name]):
                mark(arg)

    mark(ModelFacts)
    return TypeAdapter(ModelFacts)


def _types(tp: Any) -> list[Any]:
    import typing

    out = [tp]
    for arg in typing.get_args(tp):
        out.extend(_types(arg))
    return [t for t in out if isinstance(t, type)]


def facts_document(facts: ModelFacts) -> dict[str, Any]:
    doc: dict[str, Any] = _plain(facts)
    return doc


def pydantic_facts_document(facts: ModelFacts) -> dict[str, Any]:
    doc: dict[str, Any] = _adapter().dump_python(facts, mode="json")
    return doc


def render_facts_json(facts: ModelFacts, *, indent: int | None = 2) -> str:
    return json.dumps(facts_document(facts), indent=indent, ensure_ascii=False)


def facts_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of :func:`facts_document`'s output."""
    schema: dict[str, Any] = _adapter().json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
