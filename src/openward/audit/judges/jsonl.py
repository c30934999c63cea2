"""``openward audit judge``'s library half: read JSONL pairs, judge them, add the verdicts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from openward.audit.interface import Judge
from openward.errors import OpenwardError


def read_pairs(lines: Iterable[str], source: str) -> list[dict[str, Any]]:
    """The JSON objects of ``lines`` (blank lines skipped); each must hold string ``prompt`` and
    ``completion``. A bad line raises OpenwardError naming ``source`` and the line number."""
    records: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise OpenwardError(f"{source}: line {number}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise OpenwardError(f"{source}: line {number}: expected a JSON object")
        for key in ("prompt", "completion"):
            if not isinstance(obj.get(key), str):
                raise OpenwardError(f"{source}: line {number}: {key!r} missing or not a string")
        records.append(obj)
    if not records:
        raise OpenwardError(f"{source}: no JSON objects (one per line, with prompt and completion)")
    return records


def judge_records(judge: Judge, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same objects (every key kept) with ``verdict`` and ``score`` (P(refusal)) added;
    ``harmful`` and ``rationale`` too when the judge gives them."""
    judgements = judge.judge_many([(r["prompt"], r["completion"]) for r in records])
    out = []
    for record, j in zip(records, judgements, strict=True):
        row = dict(record)
        row["verdict"] = j.verdict
        row["score"] = round(float(j.score), 6)
        if j.harmful is not None:
            row["harmful"] = j.harmful
        if j.rationale is not None:
            row["rationale"] = j.rationale
        out.append(row)
    return out
