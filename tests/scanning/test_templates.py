"""Chat templates: escapes are found in the parsed template; real templates pass.

Three corpora: every real template under ``data/templates`` (164 templates
that real models ship, see ``SOURCES.md``) must get no finding; every attack
of ``template_attacks`` (names built at render time, ~45 constructions) must
be critical; and each attack is rendered in a plain and in a sandboxed Jinja
environment inside the test, to prove it is live (a marker file appears) and
that it is exactly what a sandbox stops.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from openward._samples import LLAMA3_TEMPLATE
from openward.scanning.templates import analyse_template, template_environment

from .template_attacks import CONTEXT, attacks

DATA = Path(__file__).parent / "data" / "templates"
REAL = sorted(DATA.rglob("*.jinja"))
ATTACKS = attacks()

BENIGN = {
    "llama3": LLAMA3_TEMPLATE,
    "chatml": (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
        "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
        "{{ '<|im_start|>assistant\\n' }}{% endif %}"
    ),
    "tools": (
        "{%- set ns = namespace(system='', first=true) -%}"
        "{%- if tools %}{{- tools | tojson(indent=4) }}"
        "{%- endif %}{%- for message in messages %}{%- if message.tool_calls %}"
        "{%- for tool_call in message.tool_calls %}{{- tool_call.function.name }}"
        "{{- tool_call.function.arguments | tojson }}{%- endfor %}"
        "{%- elif message['content'] is string %}"
        "{{- message['content'].split('</think>')[-1].strip() }}{%- endif %}"
        "{%- set ns.first = false %}{%- endfor %}{{- strftime_now('%d %b %Y') }}"
    ),
    "data-keys": (
        "{% for name, spec in tools[0].parameters.properties|items %}"
        "{{ name }}: {{ tools[0].parameters.properties[name].type }}{% endfor %}"
        "{% for key in messages[0] %}{{ messages[0][key] }}{% endfor %}"
    ),
    "format-method": "{{ '{} says {}'.format(messages[0].role, messages[0].content) }}",
    "generation-tag": (
        "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}"
        "{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}"
    ),
}


def test_the_corpus_is_there() -> None:
    assert len(REAL) >= 160
    assert sum("{% generation %}" in p.read_text() for p in REAL) >= 30


@pytest.mark.parametrize("path", REAL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_templates_get_no_finding(path: Path) -> None:
    assert analyse_template(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_constructions_pass(name: str) -> None:
    assert analyse_template(BENIGN[name]) == []


def test_there_are_enough_distinct_attacks() -> None:
    assert len(ATTACKS) >= 25
    assert len({t for t in ATTACKS.values()}) == len(ATTACKS)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_are_critical(name: str) -> None:
    issues = analyse_template(ATTACKS[name].replace("{M}", "/tmp/marker"))
    assert issues and all(i.severity == "critical" for i in issues)
    # Found through the computed name, not only through the constant 'popen' after it.
    assert [i for i in issues if "popen" not in i.evidence], issues


def _render(environment: object, source: str) -> str:
    try:
        return str(environment.from_string(source).render(**{**CONTEXT, "messages": []}))  # type: ignore[attr-defined]
    except Exception as exc:
        return f"refused: {type(exc).__name__}"


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_are_live_without_a_sandbox_and_stopped_by_one(name: str, tmp_path: Path) -> None:
    """Test-made templates with a harmless payload, rendered by the test itself."""
    from jinja2 import Environment
    from jinja2.sandbox import SandboxedEnvironment

    extensions = ["jinja2.ext.do", "jinja2.ext.loopcontrols"]
    sandboxed = tmp_path / "sandboxed"
    plain = tmp_path / "plain"
    out = _render(
        SandboxedEnvironment(extensions=extensions), ATTACKS[name].replace("{M}", str(sandboxed))
    )
    assert not sandboxed.exists()
    assert "__init__" not in out
    out = _render(Environment(extensions=extensions), ATTACKS[name].replace("{M}", str(plain)))  # noqa: S701
    if name.endswith("/leak"):
        assert "<module 'os'" in out
    else:
        assert plain.exists(), out


@pytest.mark.parametrize(
    ("template", "evidence"),
    [
        ("{{ self.__init__.__globals__['os'].popen('id').read() }}", "__globals__"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__subclasses__"),
        ("{{ lipsum|attr('__globals__') }}", "|attr() '__globals__'"),
        ("{{ cycler|attr('__in' ~ 'it__') }}", "'__init__'"),
        ("{{ joiner['__ini' + 't__'] }}", "'__init__'"),
        ("{{ self._TemplateReference__context }}", "_TemplateReference__context"),
        ("{{ x.gi_frame.f_globals }}", "gi_frame"),
        ("{% set a = namespace() %}{{ a|attr(name) }}", "computed at render time"),
        ("{{ '{0.__class__}'.format(x) }}", "__class__"),
        ("{{ x[bos_token] }}", "computed at render time"),
        ("{{ x[('%c' % n) * 2 ~ 'class' ~ ('%c' % n) * 2] }}", "computed at render time"),
    ],
)
def test_escapes_are_found(template: str, evidence: str) -> None:
    issues = analyse_template(template)
    assert issues and all(i.severity == "critical" for i in issues)
    assert any(evidence in i.evidence for i in issues), issues


def test_unparsable_template_is_medium() -> None:
    (issue,) = analyse_template("{% for x in %}")
    assert issue.severity == "medium" and "does not parse" in issue.evidence


def test_generation_tag_parses_like_transformers() -> None:
    """transformers' AssistantTracker: a body that renders as is; unknown tags still fail."""
    tree = template_environment().parse(  # type: ignore[attr-defined]
        "{% generation %}{{ m.__class__ }}{% endgeneration %}"
    )
    assert tree.body
    assert (
        analyse_template("{% generation %}{{ m.__class__ }}{% endgeneration %}")[0].severity
        == "critical"
    )
    assert analyse_template("{% generation %}x")[0].severity == "medium"
    assert analyse_template("{% trans %}x{% endtrans %}")[0].severity == "medium"
