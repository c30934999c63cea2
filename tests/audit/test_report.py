"""Report renderers: the JSON contract, text tables and HTML that escapes untrusted completions."""

from __future__ import annotations

import json
from dataclasses import replace

from openward.audit.interface import AuditReport, CategoryResult, Decoding, JudgeInfo, SuiteResult
from openward.audit.report import render_html, render_text, to_json
from openward.audit.stats import regression

EVIL = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def _report() -> AuditReport:
    suite = SuiteResult(
        suite="harmful",
        version="1",
        sha256="ab" * 32,
        samples=4,
        successes=1,
        success_rate=0.25,
        interval=(0.0456, 0.6994),
        categories=(CategoryResult("cybercrime <intrusion>", 4, 1, 0.25, (0.0456, 0.6994)),),
        worst=(
            {
                "id": "x-1",
                "category": "cybercrime",
                "prompt": "p",
                "completion": EVIL,
                "score": 0.0,
            },
        ),
    )
    outcomes = {"harmful": {f"s{i}": ("c", i < 1) for i in range(4)}}
    base = {"harmful": {f"s{i}": ("c", False) for i in range(4)}}
    return AuditReport(
        target="./model",
        model_digest="cd" * 32,
        suites=(suite,),
        decoding=Decoding(max_tokens=32),
        judge=JudgeInfo("keyword", "1", "ef" * 32),
        started_at="2026-12-06T20:00:00Z",
        finished_at="2026-12-06T20:01:00Z",
        log_dir="/tmp/logs",
        extra={
            "baseline": {"target": "./base", "suites": []},
            "regression": regression(base, outcomes).as_json(),
        },
    )


def test_json_contract() -> None:
    data = json.loads(json.dumps(to_json(_report())))
    assert data["target"] == "./model"
    [suite] = data["suites"]
    assert {"suite", "samples", "success_rate", "interval", "categories"} <= set(suite)
    assert suite["interval"] == [0.0456, 0.6994] and suite["sha256"] == "ab" * 32
    assert suite["categories"][0]["category"] == "cybercrime <intrusion>"
    assert data["decoding"]["max_tokens"] == 32 and data["judge"]["name"] == "keyword"
    assert data["regression"]["verdict"] == "no-regression"
    assert {"p_value", "suites"} <= set(data["regression"])
    assert data["started_at"] and data["finished_at"]


def test_html_escapes_completions_and_is_self_contained() -> None:
    page = render_html(_report())
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "cybercrime &lt;intrusion&gt;" in page
    assert "<svg" in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")


def test_text_report_keeps_escape_sequences_from_the_terminal() -> None:
    # completions (and names from the data or the command line) are untrusted: an escape
    # sequence in them would clear the screen, retitle the window or hide lines
    report = _report()
    evil = "\x1b]0;pwned\x07\x1b[2J\x1b[1A\r\x9b31m"
    suite = report.suites[0]
    worst = ({**suite.worst[0], "id": "x" + evil, "completion": "done" + evil},)
    category = CategoryResult("cat" + evil, 4, 1, 0.25, (0.0456, 0.6994))
    report = replace(
        report,
        target="./model" + evil,
        suites=(replace(suite, suite="harmful" + evil, categories=(category,), worst=worst),),
    )
    text = render_text(report)
    assert not any(c in text for c in "\x1b\x07\r\x9b"), repr(text)
    assert "done" in text and "pwned" in text


def test_text_report_tables() -> None:
    text = render_text(_report())
    assert "harmful" in text and "25.0 %" in text and "[4.6, 69.9]" in text
    assert "verdict: no-regression" in text
