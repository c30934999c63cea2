"""Renderers of an AuditReport: JSON (the contract), text tables and self-contained HTML.

The JSON form is a contract scripts drive: keys are added, never renamed. Its core is
``{"target", "suites": [{"suite", "samples", "success_rate", "interval": [low, high],
"categories": [...]}]}``, plus ``"regression"`` with a baseline. Completions are untrusted
text: the HTML escapes every one of them and loads nothing from outside the file.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any, Final

from openward.audit.interface import AuditReport, SuiteResult

SCHEMA_VERSION: Final = 1


def _suite_json(result: SuiteResult, extra: dict[str, Any]) -> dict[str, Any]:
    meta = extra.get("suite_metadata", {}).get(result.suite, {})
    return {
        "suite": result.suite,
        "version": result.version,
        "sha256": result.sha256,
        "samples": result.samples,
        "successes": result.successes,
        "success_rate": result.success_rate,
        "interval": [result.interval[0], result.interval[1]],
        "scoring": meta.get("scoring"),
        "sources": meta.get("sources", []),
        "notes": meta.get("notes", []),
        "categories": [
            {
                "category": c.category,
                "samples": c.samples,
                "successes": c.successes,
                "success_rate": c.success_rate,
                "interval": [c.interval[0], c.interval[1]],
            }
            for c in result.categories
        ],
        "worst": [dict(w) for w in result.worst],
    }


def to_json(report: AuditReport) -> dict[str, Any]:
    """The report as the JSON contract (plus everything an attestation records)."""
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "target": report.target,
        "model_digest": report.model_digest,
        "suites": [_suite_json(s, report.extra) for s in report.suites],
        "decoding": dict(report.decoding.__dict__),
        "judge": dict(report.judge.__dict__),
        "seed": report.extra.get("seed"),
        "limit": report.extra.get("limit"),
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "log_dir": report.log_dir,
    }
    if "baseline" in report.extra:
        out["baseline"] = report.extra["baseline"]
    if "regression" in report.extra:
        out["regression"] = report.extra["regression"]
    return out


def _pct(x: float) -> str:
    return f"{100 * x:5.1f} %"


def _interval(iv: Sequence[float]) -> str:
    return f"[{100 * iv[0]:.1f}, {100 * iv[1]:.1f}]"


_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Control characters other than tab and newline (C0, DEL, C1: escape sequences start here)."""


def printable(text: str) -> str:
    """``text`` with control characters (terminal escape sequences) replaced by U+FFFD."""
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text)


def render_text(report: AuditReport) -> str:
    """Per-suite and per-category tables, the worst examples and the verdict, as plain text.

    Completions, ids and names are untrusted: control characters in them are replaced, so
    no escape sequence reaches a terminal."""
    return printable(_render_text(report))


def _render_text(report: AuditReport) -> str:
    lines = [
        f"audit of {report.target}",
        f"judge {report.judge.name} {report.judge.version}; temperature "
        f"{report.decoding.temperature}, max_tokens {report.decoding.max_tokens}, seed "
        f"{report.decoding.seed}",
        "",
        f"{'suite':<22}{'samples':>8}  {'success':>8}  95 % interval",
    ]
    for s in report.suites:
        lines.append(
            f"{s.suite:<22}{s.samples:>8}  {_pct(s.success_rate):>8}  {_interval(s.interval)}"
        )
    for s in report.suites:
        lines += [
            "",
            f"{s.suite} by category",
            f"  {'category':<44}{'n':>5}  {'success':>8}  95 % interval",
        ]
        for c in s.categories:
            lines.append(
                f"  {c.category[:44]:<44}{c.samples:>5}  {_pct(c.success_rate):>8}  "
                f"{_interval(c.interval)}"
            )
        if s.worst:
            lines.append("  worst examples:")
            for w in s.worst[:3]:
                completion = " ".join(str(w["completion"]).split())[:160]
                lines.append(f"    {w['id']} ({w['category']}): {completion}")
    regression = report.extra.get("regression")
    if regression:
        lines += ["", f"against baseline {report.extra['baseline']['target']}:"]
        for r in regression["suites"]:
            adj = "n/a" if r["adjusted_p"] is None else f"{r['adjusted_p']:.3g}"
            lines.append(
                f"  {r['suite']:<22} base {_pct(r['base_success_rate'])} -> "
                f"{_pct(r['success_rate'])}"
                f"  (+{r['only_derived']}/-{r['only_base']} pairs, adjusted p {adj})"
            )
        lines.append(f"verdict: {regression['verdict']} (p = {regression['p_value']:.3g})")
    if report.log_dir:
        lines += ["", f"inspect logs: {report.log_dir} (inspect view --log-dir {report.log_dir})"]
    return "\n".join(lines) + "\n"


_E = html.escape

_CSS: Final = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.6em;max-height:14em;overflow:auto}
.verdict{font-size:1.3em;font-weight:bold}.bad{color:#b00}.good{color:#070}
"""


def _bar_chart(rows: Sequence[tuple[str, float, tuple[float, float]]], title: str) -> str:
    """Horizontal bars with 95 % interval whiskers, as inline SVG."""
    label_w, bar_w, row_h = 260, 360, 22
    height = row_h * len(rows) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 70}" '
        f'height="{height}" role="img" aria-label="{_E(title)}">'
    ]
    for i, (label, rate, (low, high)) in enumerate(rows):
        y = 10 + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{_E(label[:40])}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w * rate:.1f}" height="14" '
            f'fill="#c0504d"/>'
            f'<line x1="{label_w + bar_w * low:.1f}" x2="{label_w + bar_w * high:.1f}" '
            f'y1="{y + 10}" y2="{y + 10}" stroke="#222" stroke-width="1.5"/>'
            f'<line x1="{label_w + bar_w * low:.1f}" x2="{label_w + bar_w * low:.1f}" '
            f'y1="{y + 5}" y2="{y + 15}" stroke="#222"/>'
            f'<line x1="{label_w + bar_w * high:.1f}" x2="{label_w + bar_w * high:.1f}" '
            f'y1="{y + 5}" y2="{y + 15}" stroke="#222"/>'
            f'<text x="{label_w + bar_w + 8}" y="{y + 14}" font-size="12">{100 * rate:.1f} %</text>'
        )
    axis_y = 10 + len(rows) * row_h
    parts.append(
        f'<line x1="{label_w}" x2="{label_w + bar_w}" y1="{axis_y}" y2="{axis_y}" stroke="#888"/>'
        f'<text x="{label_w}" y="{axis_y + 14}" font-size="11">0 %</text>'
        f'<text x="{label_w + bar_w}" y="{axis_y + 14}" font-size="11" '
        'text-anchor="end">100 %</text>'
        "</svg>"
    )
    return "".join(parts)


def render_html(report: AuditReport) -> str:
    """A self-contained HTML page: summary, charts with interval whiskers, tables, examples.
    Every string from the model or the data is escaped; no scripts, no external assets."""
    body = [
        f"<h1>openward audit: {_E(report.target)}</h1>",
        f"<p>judge <b>{_E(report.judge.name)}</b> {_E(report.judge.version)} · temperature "
        f"{report.decoding.temperature} · max_tokens {report.decoding.max_tokens} · seed "
        f"{report.decoding.seed} · {_E(report.started_at)} – {_E(report.finished_at)}</p>",
    ]
    regression = report.extra.get("regression")
    if regression:
        cls = "bad" if regression["verdict"] == "safety-regressed" else "good"
        body.append(
            f'<p class="verdict {cls}">{_E(regression["verdict"])} against '
            f"{_E(report.extra['baseline']['target'])} (p = {regression['p_value']:.3g})</p>"
        )
    body.append("<h2>Attack success by suite</h2>")
    body.append(
        _bar_chart([(s.suite, s.success_rate, s.interval) for s in report.suites], "suites")
    )
    body.append(
        "<table><tr><th>suite</th><th>version</th><th>samples</th><th>success</th>"
        "<th>95 % interval</th></tr>"
    )
    for s in report.suites:
        body.append(
            f"<tr><td>{_E(s.suite)}</td><td>{_E(s.version)}</td><td class=n>{s.samples}</td>"
            f"<td class=n>{_pct(s.success_rate)}</td><td class=n>{_interval(s.interval)}</td></tr>"
        )
    body.append("</table>")
    for s in report.suites:
        body.append(f"<h2>{_E(s.suite)}</h2>")
        body.append(
            _bar_chart([(c.category, c.success_rate, c.interval) for c in s.categories], s.suite)
        )
        body.append(
            "<table><tr><th>category</th><th>samples</th><th>success</th>"
            "<th>95 % interval</th></tr>"
        )
        for c in s.categories:
            body.append(
                f"<tr><td>{_E(c.category)}</td><td class=n>{c.samples}</td>"
                f"<td class=n>{_pct(c.success_rate)}</td>"
                f"<td class=n>{_interval(c.interval)}</td></tr>"
            )
        body.append("</table>")
        if s.worst:
            body.append("<h3>Worst examples</h3>")
            for w in s.worst:
                body.append(
                    f"<p><b>{_E(str(w['id']))}</b> ({_E(str(w['category']))})</p>"
                    f"<pre>{_E(str(w['prompt']))}</pre><pre>{_E(str(w['completion']))}</pre>"
                )
    if regression:
        body.append(
            "<h2>Against the baseline</h2><table><tr><th>suite</th><th>base</th>"
            "<th>derivative</th><th>pairs +/−</th><th>adjusted p</th></tr>"
        )
        for r in regression["suites"]:
            adj = "n/a" if r["adjusted_p"] is None else f"{r['adjusted_p']:.3g}"
            body.append(
                f"<tr><td>{_E(r['suite'])}</td><td class=n>{_pct(r['base_success_rate'])}</td>"
                f"<td class=n>{_pct(r['success_rate'])}</td>"
                f"<td class=n>+{r['only_derived']} / −{r['only_base']}</td>"
                f"<td class=n>{adj}</td></tr>"
            )
        body.append("</table>")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        f"<title>openward audit: {_E(report.target)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
