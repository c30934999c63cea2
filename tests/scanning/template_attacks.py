"""Sandbox-escape chat templates that compute their attribute names at render time.

Each attack reaches ``cycler.__init__.__globals__`` (the module globals of
``jinja2.utils``, which hold ``os``) and runs ``touch MARKER``. None writes a
dunder name as a constant: every name is built while the template renders,
each time by another construction (published SSTI payload styles for Jinja2
and our own). ``{M}`` is replaced by the marker path.

The tests render every attack in a plain ``jinja2.Environment`` (the marker
appears: the attack is live) and in Jinja's ``SandboxedEnvironment`` (it does
not), and require the analyser to report each one as critical.
"""

from __future__ import annotations

from collections.abc import Callable

PAYLOAD = ".os.popen('touch {M}').read()"
CONTEXT = {"bos_token": "__init__", "eos_token": "__globals__", "messages": []}
"""What the differential test renders with: the special tokens a model's tokenizer
config sets (one attack reads its names from them), and an empty conversation."""


def _pieces(word: str) -> str:
    """``'_' ~ '_word_' ~ '_'``: no constant holds the dunder."""
    return f"('_' ~ '_{word}_' ~ '_')"


# Expression builders: word ("init", "globals") -> an expression that renders to
# "__word__", plus the statements it needs first.
Builder = Callable[[str], tuple[str, str]]


def _expr(build: Callable[[str], str]) -> Builder:
    return lambda w: ("", build(w))


EXPRESSIONS: dict[str, Builder] = {
    "tilde": _expr(lambda w: f"('__' ~ '{w}' ~ '__')"),
    "plus": _expr(lambda w: f"('_' + '_{w}_' + '_')"),
    "repeat": _expr(lambda w: f"('_' * 2 ~ '{w}' ~ '_' * 2)"),
    "percent-c-filter": _expr(lambda w: f"('%c%c{w}%c%c'|format(95, 95, 95, 95))"),
    "percent-c-computed": _expr(
        lambda w: f"('%c'|format(range(96)|last) * 2 ~ '{w}' ~ '%c'|format(range(96)|last) * 2)"
    ),
    "mod-operator": _expr(lambda w: f"('%s%s{w}%s%s' % ('_', '_', '_', '_'))"),
    "join-list": _expr(lambda w: f"(['_', '_{w}_', '_']|join)"),
    "replace": _expr(lambda w: f"('XX{w}XX'|replace('X', '_'))"),
    "lower": _expr(lambda w: f"(('_' ~ '_{w.upper()}_' ~ '_')|lower)"),
    "reverse": _expr(lambda w: f"(('_' ~ '_{w[::-1]}_' ~ '_')|reverse)"),
    "trim": _expr(lambda w: f"(('  _' ~ '_{w}_' ~ '_  ')|trim)"),
    "slice": _expr(lambda w: f"(('x_' ~ '_{w}_' ~ '_x')[1:-1])"),
    "dict-keyword-keys": _expr(lambda w: f"(dict(__{w}__=1)|list|first)"),
    "string-list-join": _expr(lambda w: f"({_pieces(w)}|list|join)"),
    "hex-escape": _expr(lambda w: f"('\\x5f\\x5f{w}\\x5f\\x5f')"),
    "lipsum-repr": (
        lambda w: (
            "{% set u = (lipsum|string|list)[18] %}",
            f"(u ~ u ~ '{w}' ~ u ~ u)",
        )
    ),
    "str-format-build": _expr(lambda w: f"('{{}}{{}}{w}{{}}{{}}'.format('_', '_', '_', '_'))"),
    "str-format-c": _expr(lambda w: f"('{{:c}}{{:c}}{w}{{:c}}{{:c}}'.format(95, 95, 95, 95))"),
    "split": _expr(lambda w: f"(('a,_' ~ '_{w}_' ~ '_').split(',')[1])"),
    "str-method-lower": _expr(lambda w: f"(('_' ~ '_{w.upper()}_' ~ '_').lower())"),
    "center-strip": _expr(lambda w: f"({_pieces(w)}.center(16).strip())"),
    "tojson-slice": _expr(lambda w: f"(({_pieces(w)}|tojson)[1:-1])"),
    "batch-join": _expr(lambda w: f"({_pieces(w)}|batch(64)|first|join)"),
    "sum-lists": _expr(lambda w: f"([['_'], ['_{w}_'], ['_']]|sum(start=[])|join)"),
    "dict-fromkeys": _expr(lambda w: f"(dict.fromkeys([{_pieces(w)}])|first)"),
    "special-token": lambda w: ("", "bos_token" if w == "init" else "eos_token"),
    "set-variable": lambda w: (
        f"{{% set n_{w} = '__' %}}{{% set n_{w} = n_{w} ~ '{w}' ~ '__' %}}",
        f"n_{w}",
    ),
    "loop-namespace": lambda w: (
        f"{{% set ns_{w} = namespace(v='') %}}{{% for p in ['_', '_', '{w}', '_', '_'] %}}"
        f"{{% set ns_{w}.v = ns_{w}.v ~ p %}}{{% endfor %}}",
        f"ns_{w}.v",
    ),
    "namespace-ctor": lambda w: (
        f"{{% set c_{w} = namespace(n={_pieces(w)}) %}}",
        f"c_{w}.n",
    ),
    "list-append": lambda w: (
        f"{{% set l_{w} = [] %}}{{% do l_{w}.append('_') %}}{{% do l_{w}.append('_{w}_') %}}"
        f"{{% do l_{w}.append('_') %}}",
        f"(l_{w}|join)",
    ),
    "dict-update": lambda w: (
        f"{{% set d_{w} = {{}} %}}{{% do d_{w}.update({{{_pieces(w)}: 1}}) %}}",
        f"(d_{w}|first)",
    ),
    "items-loop": lambda w: (
        f"{{% set it_{w} = namespace(v=none) %}}{{% for k, v in {{{_pieces(w)}: 1}}|items %}}"
        f"{{% set it_{w}.v = k %}}{{% endfor %}}",
        f"it_{w}.v",
    ),
    "macro-output": lambda w: (
        f"{{% macro m_{w}() %}}_{{{{ '_{w}_' }}}}_{{% endmacro %}}",
        f"m_{w}()",
    ),
    "macro-kwargs": lambda w: (
        f"{{% macro k_{w}() %}}{{{{ kwargs|list|first }}}}{{% endmacro %}}",
        f"k_{w}(__{w}__=1)",
    ),
    "block-set": lambda w: (f"{{% set b_{w} %}}_{{{{ '_{w}_' }}}}_{{% endset %}}", f"b_{w}"),
    "filter-block": lambda w: (
        f"{{% set f_{w} %}}{{% filter lower %}}_{{{{ '_{w.upper()}_' }}}}_{{% endfilter %}}"
        f"{{% endset %}}",
        f"f_{w}",
    ),
    "call-block": lambda w: (
        f"{{% macro cb_{w}() %}}{{{{ caller() }}}}{{% endmacro %}}"
        f"{{% set s_{w} %}}{{% call cb_{w}() %}}_{{{{ '_{w}_' }}}}_{{% endcall %}}{{% endset %}}",
        f"s_{w}",
    ),
    "cycler-next": lambda w: (f"{{% set cy_{w} = cycler({_pieces(w)}) %}}", f"cy_{w}.next()"),
    "joiner": lambda w: (
        f"{{% set j_{w} = joiner({_pieces(w)}) %}}{{% set _ = j_{w}() %}}",
        f"j_{w}()",
    ),
    "with-block": lambda w: (
        f"{{% with wv_{w} = {_pieces(w)} %}}{{% set x_{w} = wv_{w} %}}{{% endwith %}}",
        "",
    ),
    "data-written-by-template": lambda w: (
        f"{{% do messages.append({_pieces(w)}) %}}",
        "messages[-1]" if w == "globals" else "messages[-2]",
    ),
}

# The places Jinja looks a name up; attacks rotate through them.
SINKS: dict[str, Callable[[str, str], str]] = {
    "subscript": lambda a, b: f"cycler[{a}][{b}]",
    "attr-filter": lambda a, b: f"(cycler|attr({a})|attr({b}))",
    "map-attribute": lambda a, b: f"([cycler]|map(attribute={a} ~ '.' ~ {b})|first)",
    "map-attr-filter": lambda a, b: f"([[cycler]|map('attr', {a})|first]|map('attr', {b})|first)",
    "groupby": lambda a, b: f"(([cycler]|groupby({a})|first|first)|attr({b}))",
    "map-dyn-kwargs": lambda a, b: f"([cycler]|map(**{{'attribute': {a} ~ '.' ~ {b}}})|first)",
}


def attacks() -> dict[str, str]:
    """Attack name -> template (with ``{M}`` for the marker path)."""
    out: dict[str, str] = {}
    sinks = list(SINKS.items())
    for i, (name, build) in enumerate(sorted(EXPRESSIONS.items())):
        if name == "with-block":
            continue
        pre_a, a = build("init")
        pre_b, b = build("globals")
        sink_name, sink = sinks[i % len(sinks)]
        if name in ("data-written-by-template",):
            sink_name, sink = sinks[0]
        out[f"{name}/{sink_name}"] = pre_a + pre_b + "{{ " + sink(a, b) + PAYLOAD + " }}"
    # Whole-template constructions that do not fit the pattern.
    out["with-block/subscript"] = (
        "{% with a = " + _pieces("init") + ", b = " + _pieces("globals") + " %}"
        "{{ cycler[a][b]" + PAYLOAD + " }}{% endwith %}"
    )
    out["loop-cycle/subscript"] = (
        "{% for x in [1] %}{{ cycler[loop.cycle("
        + _pieces("init")
        + ")][loop.cycle("
        + _pieces("globals")
        + ")]"
        + PAYLOAD
        + " }}{% endfor %}"
    )
    out["format-fields/leak"] = (
        "{{ ('{0._' ~ '_init_' ~ '_._' ~ '_globals_' ~ '_}').format(cycler) }}"
    )
    out["recursive-macro/subscript"] = (
        "{% macro r(n, s) %}{% if n %}{{ r(n - 1, s ~ '_') }}{% else %}{{ s }}{% endif %}"
        "{% endmacro %}"
        "{{ cycler[r(2, '') ~ 'init' ~ r(2, '')][r(2, '') ~ 'globals' ~ r(2, '')]" + PAYLOAD + " }}"
    )
    return out
