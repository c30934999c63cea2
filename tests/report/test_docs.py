"""The documentation names every rule the scanner can report."""

from __future__ import annotations

from pathlib import Path

from openward.scanning.rules import RULES, rules_markdown

DOCS = Path(__file__).parents[2] / "docs" / "scan.md"


def test_every_rule_is_documented() -> None:
    text = DOCS.read_text()
    missing = [
        rule.id
        for rule in RULES.values()
        if f"| `{rule.id}` | {rule.severity.value} | {rule.title}." not in text
    ]
    assert missing == [], "regenerate the rules table in docs/scan.md"


def test_rules_table_is_the_generated_one() -> None:
    assert rules_markdown() in DOCS.read_text(), "regenerate: openward rules --markdown"


def test_inspect_docs_name_the_shipped_thresholds() -> None:
    from openward.facts.policy import load_policy

    text = (Path(__file__).parents[2] / "docs" / "inspect.md").read_text()
    for t in load_policy().thresholds:
        if t.fallback_for is None:
            assert f"`{t.id}`" in text, t.id
