"""Findings for chat templates, wherever they are stored."""

from __future__ import annotations

import re

from openward.scanning.context import Location, ScanContext
from openward.scanning.templates import analyse_template

__all__ = ["report_template"]


def _text_search(ctx: ScanContext, source: str, loc: Location, why: str) -> None:
    """What a text search sees in a template that was not analysed."""
    match = re.search(r"__\w+__", source)
    if match is not None:
        ctx.add("chat-template-unsafe", loc, None, f"text {match.group()!r} ({why})")


def report_template(ctx: ScanContext, source: str, loc: Location) -> None:
    limit = ctx.limits.max_source_bytes
    if len(source) > limit:
        # Too large to parse: say so, and still report what a text search sees.
        ctx.add(
            "scan-limit-reached",
            loc,
            None,
            f"{len(source)}-character chat template exceeds max_source_bytes={limit} and was "
            "not parsed (setting max_source_bytes)",
        )
        _text_search(ctx, source, loc, "not parsed")
        return
    for issue in analyse_template(source, ctx.deadline):
        if issue.severity == "limit":
            ctx.add(
                "scan-limit-reached",
                loc,
                None,
                f"{len(source)}-character chat template: {issue.evidence} "
                f"(max_file_seconds={ctx.limits.max_file_seconds:g})",
            )
            _text_search(ctx, source, loc, "not analysed")
            continue
        where = f" (line {issue.line})" if issue.line else ""
        rule = "chat-template-unsafe" if issue.severity == "critical" else "chat-template-malformed"
        ctx.add(rule, loc, None, f"{issue.evidence}{where}")
