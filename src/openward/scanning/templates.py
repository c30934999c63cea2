"""Jinja chat templates: every name a template can look up, found without rendering it.

Chat templates travel inside GGUF metadata, ``tokenizer_config.json``,
``chat_template.jinja`` and friends; every loader renders them, and a loader
that uses a plain ``jinja2.Environment`` (CVE-2024-34359, llama-cpp-python)
runs whatever Python the template reaches. Reaching Python takes attribute
names Jinja's sandbox refuses: names starting with an underscore (dunders such
as ``__class__``, ``__globals__``, ``__subclasses__``; name-mangled privates
like ``_TemplateReference__context``), interpreter internals (``gi_frame``,
``f_globals``, ``mro``), or a format string that reads attributes
(``'{0.__class__}'.format(x)``).

Matching constant strings is not enough: the name can be computed while the
template renders (``'__cla' ~ 'ss__'``, ``'%c'|format(95)``,
``dict(__class__=1)|list|first``, ``(lipsum|string)[18]``, a loop over
pieces, a special token from the tokenizer config, a macro's output). So the
template is parsed with Jinja2's own parser and then *abstractly
interpreted*: every expression gets a value standing for everything it can
be at render time (:mod:`openward.scanning.template_values`), assignments,
loops, macros and mutable containers are followed to a fixed point, and
every place where Jinja looks a name up — ``x.name``, ``x[key]``,
``|attr(name)``, ``attribute=`` of ``map``/``selectattr``/``sort``/
``groupby``/``sum``/``unique``/``min``/``max``/``join``, filters applied by
name through ``map``, and ``str.format`` fields — is checked. A name that is
a provably safe constant passes; a name that may be unsafe, or that the
template computes in a way the analysis cannot fold, is critical. Names
taken from the caller's data alone (``message[key]`` for a key of that
message) pass: the template's author cannot choose them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from openward.scanning import template_values as tv
from openward.scanning.template_values import (
    DATA,
    EMPTY,
    EMPTY_STR,
    NUMBER,
    TOP,
    UNDEFINED,
    AnyNum,
    AnyStr,
    Atom,
    Bound,
    Box,
    Const,
    MacroRef,
    Obj,
    Ref,
    Seq,
    Tup,
    Value,
)

if TYPE_CHECKING:
    from jinja2 import nodes

__all__ = ["TemplateIssue", "analyse_template", "template_environment"]

# From jinja2.sandbox: attributes unsafe even without a leading underscore.
_UNSAFE_ATTRIBUTES: Final = frozenset(
    {
        "func_closure", "func_code", "func_dict", "func_defaults", "func_globals",
        "im_class", "im_func", "im_self", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame",
        "cr_code", "cr_await", "ag_code", "ag_frame", "ag_await", "tb_frame", "tb_next",
        "f_back", "f_builtins", "f_globals", "f_locals", "f_code", "co_code", "mro",
    }
)  # fmt: skip
# Process-spawning and import functions: no chat template has a use for them.
_EXECUTION_NAMES: Final = frozenset(
    {"popen", "import_module", "subprocess", "check_output", "getoutput", "load_module",
     "spawnv", "execv", "execve"}
)  # fmt: skip
_FORMAT_METHODS: Final = frozenset({"format", "format_map"})

# The caller's data: what a loader passes from the request (transformers,
# llama.cpp, vLLM). Everything else the template reads from its context
# (bos_token and the other special tokens; extra tokens named in the
# tokenizer config in older transformers) may come from the model's files.
_CALLER_DATA: Final = frozenset(
    {"messages", "tools", "documents", "add_generation_prompt", "continue_final_message"}
)
_GLOBALS: Final = frozenset(
    {"range", "dict", "lipsum", "cycler", "joiner", "namespace", "raise_exception",
     "strftime_now", "self", "loop", "caller", "varargs", "kwargs"}
)  # fmt: skip

# Filters that look attributes up by name: (position after the value, keyword).
_ATTRIBUTE_FILTERS: Final[dict[str, tuple[int, str | None]]] = {
    "attr": (0, "name"),
    "selectattr": (0, None),
    "rejectattr": (0, None),
    "sort": (2, "attribute"),
    "groupby": (0, "attribute"),
    "sum": (0, "attribute"),
    "unique": (1, "attribute"),
    "min": (1, "attribute"),
    "max": (1, "attribute"),
    "join": (1, "attribute"),
}
_LIST_METHODS: Final = frozenset(
    {"append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse", "copy",
     "index", "count"}
)  # fmt: skip
_DICT_METHODS: Final = frozenset(
    {"items", "keys", "values", "get", "update", "setdefault", "pop", "popitem", "copy",
     "clear", "fromkeys"}
)  # fmt: skip
_STR_METHODS: Final = frozenset(n for n in dir(str) if not n.startswith("_"))
_MUTATORS: Final = frozenset(
    {"append", "extend", "insert", "update", "setdefault", "add", "__setitem__"}
)
_MAX_PASSES: Final = 12
"""Passes before changing values are widened to TOP, which guarantees the fixed point."""


@dataclass(frozen=True)
class TemplateIssue:
    """One thing a sandbox would refuse, or a reason the template was not analysed."""

    severity: str
    """``critical`` for escape primitives, ``medium`` when the template cannot be parsed,
    ``limit`` when the analysis ran out of time."""
    evidence: str
    line: int | None


def unsafe_name(name: str) -> bool:
    """Whether Jinja's sandbox refuses ``name`` (or one it becomes once
    whitespace control trims it: loaders differ in ``trim_blocks``)."""
    return any(
        n.startswith("_") or n in _UNSAFE_ATTRIBUTES or n in _EXECUTION_NAMES
        for n in (name, name.strip())
    )


def template_environment() -> object:
    """A Jinja environment that parses what the loaders parse.

    transformers enables ``loopcontrols`` and its ``{% generation %}`` tag
    (AssistantTracker), llama-cpp-python the same pair; ``do`` is accepted
    too (llama.cpp's own engine supports it). Only ``parse`` is ever used.
    """
    from jinja2 import Environment, nodes
    from jinja2.ext import Extension

    class GenerationTag(Extension):
        """transformers' ``{% generation %}…{% endgeneration %}``: its body renders as is."""

        tags = {"generation"}  # noqa: RUF012 - Jinja reads the class attribute

        def parse(self, parser: object) -> nodes.Node:
            stream = parser.stream  # type: ignore[attr-defined]
            lineno = next(stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)  # type: ignore[attr-defined]
            return nodes.Scope(body, lineno=lineno)

    return Environment(  # noqa: S701 - parsed, never rendered
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", GenerationTag],
    )


def analyse_template(source: str, deadline: float | None = None) -> list[TemplateIssue]:
    """Issues in ``source``; an empty list for a template a sandbox would render.

    ``deadline`` (a :func:`time.monotonic` value) bounds the analysis: its cost
    grows with the template (a few milliseconds per statement, per pass), and a
    crafted template of a few megabytes would otherwise take minutes. Past the
    deadline the only issue is a ``limit`` one, and the caller falls back to a
    text search.
    """
    from jinja2 import TemplateSyntaxError

    env = template_environment()
    try:
        tree = env.parse(source)  # type: ignore[attr-defined]
    except TemplateSyntaxError as exc:
        return [TemplateIssue("medium", f"template does not parse: {exc.message}", exc.lineno)]
    except (RecursionError, MemoryError):
        return [TemplateIssue("medium", "template too deeply nested to parse", None)]
    try:
        return _Analysis(tree, deadline).run()
    except _OutOfTime:
        return [TemplateIssue("limit", "analysis stopped at the time limit", None)]
    except RecursionError:
        return [
            TemplateIssue(
                "critical",
                "template nests expressions too deeply to analyse; treated as unsafe",
                None,
            )
        ]


class _OutOfTime(Exception):
    """The analysis passed its deadline."""


_CLOCK_EVERY: Final = 1024
"""Statements and expressions analysed between two looks at the clock."""


class _Analysis:
    """Abstract interpretation of one parsed template, to a fixed point."""

    def __init__(self, tree: nodes.Template, deadline: float | None = None) -> None:
        from jinja2 import nodes

        self.nodes = nodes
        self.tree = tree
        self.deadline = deadline
        self.steps = 0
        self.env: dict[str, Value] = {}
        self.store: dict[int, Box] = {}
        self.macro_out: dict[int, Value] = {}
        self.macro_params: dict[int, tuple[list[str], str | None]] = {}
        self.caller_out: Value = EMPTY
        self.caller_params: list[list[str]] = []
        self.recursive_loops: list[nodes.Node] = []
        self.loop_elems: Value = EMPTY
        self.data_tainted = False
        self.changed = False
        self.widen = False
        self.capture = False
        self.issues: dict[tuple[str, int | None], TemplateIssue] = {}
        # A name the template stores before it ever reads it (in document
        # order, values before targets) is the template's own; one read first
        # may come from the context (a loader's variables, the model's tokens).
        first: dict[str, str] = {}
        for name, ctx in _names_in_order(tree):
            first.setdefault(name, ctx)
        for macro in tree.find_all((nodes.Macro,)):
            first.setdefault(macro.name, "store")
        self.bound = frozenset(n for n, ctx in first.items() if ctx != "load")

    # -- driver ----------------------------------------------------------------------------
    def run(self) -> list[TemplateIssue]:
        for passes in range(_MAX_PASSES * 2):
            self.widen = passes >= _MAX_PASSES
            self.changed = False
            self.issues = {}
            self.body(self.tree.body)
            if not self.changed:
                break
        for node in self.tree.find_all((self.nodes.Const,)):
            if isinstance(node.value, str) and _DUNDER_TEXT(node.value):
                self.flag(f"string constant {node.value[:80]!r}", node)
        return list(self.issues.values())

    def flag(self, evidence: str, node: nodes.Node | None) -> None:
        line = getattr(node, "lineno", None)
        key = (evidence, line)
        if key not in self.issues:
            self.issues[key] = TemplateIssue("critical", evidence, line)

    # -- state -----------------------------------------------------------------------------
    def assign(self, name: str, value: Value) -> None:
        old = self.env.get(name, EMPTY)
        new = tv.join(old, value)
        if new != old:
            self.env[name] = TOP if self.widen else new
            self.changed = True

    def box(self, site: int, kind: str) -> Box:
        return self.store.get(site) or Box(kind, (), EMPTY, EMPTY)

    def put(self, site: int, box: Box) -> None:
        old = self.store.get(site)
        new = box if old is None else old.merge(box)
        if new != old:
            if self.widen and old is not None:
                new = Box(new.kind, None, TOP, TOP)
            self.store[site] = new
            self.changed = True

    def taint_data(self) -> None:
        if not self.data_tainted:
            self.data_tainted = True
            self.changed = True

    def data(self) -> Value:
        """What is read from the caller's data; once the template has written its
        own values into that data, those reads are no longer the caller's alone."""
        return TOP if self.data_tainted else DATA

    # -- statements: each returns the text it outputs --------------------------------------
    def body(self, stmts: Sequence[nodes.Node]) -> Value:
        if not self.capture:
            for stmt in stmts:
                self.stmt(stmt)
            return EMPTY_STR
        out = EMPTY_STR
        for stmt in stmts:
            out = tv.concat(out, self.stmt(stmt))
        return out

    def captured(self, stmts: Sequence[nodes.Node]) -> Value:
        """The text ``stmts`` output, where it becomes a value (macros, blocks)."""
        saved, self.capture = self.capture, True
        try:
            return self.body(stmts)
        finally:
            self.capture = saved

    def clock(self) -> None:
        self.steps += 1
        if self.steps % _CLOCK_EVERY == 0 and time.monotonic() > (self.deadline or 0.0):
            raise _OutOfTime

    def stmt(self, node: nodes.Node) -> Value:
        if self.deadline is not None:
            self.clock()
        n = self.nodes
        if isinstance(node, n.Output):
            if not self.capture:
                for item in node.nodes:
                    if not isinstance(item, n.TemplateData):
                        self.expr(item)
                return EMPTY_STR
            out = EMPTY_STR
            for item in node.nodes:
                if isinstance(item, n.TemplateData):
                    out = tv.concat(out, tv.const(item.data))
                else:
                    out = tv.concat(out, self.expr(item))
            return out
        if isinstance(node, n.Assign):
            self.bind(node.target, self.expr(node.node))
            return EMPTY_STR
        if isinstance(node, n.AssignBlock):
            value = self.captured(node.body)
            if node.filter is not None:
                value = self.filter_node(node.filter, value)
            self.bind(node.target, value)
            return EMPTY_STR
        if isinstance(node, n.For):
            elem = self.iterate(self.expr(node.iter))
            self.bind(node.target, elem)
            self.assign("loop", frozenset({Obj("loop")}))
            if node.recursive and node not in self.recursive_loops:
                self.recursive_loops.append(node)
            self.loop_elems = tv.join(self.loop_elems, elem)
            if node.test is not None:
                self.expr(node.test)
            out = tv.star(self.body(node.body))
            return tv.join(out, self.body(node.else_))
        if isinstance(node, n.If):
            self.expr(node.test)
            outs = [self.body(node.body)]
            for branch in node.elif_:
                self.expr(branch.test)
                outs.append(self.body(branch.body))
            outs.append(self.body(node.else_))
            return tv.join(*outs)
        if isinstance(node, n.Macro):
            return self.macro(node)
        if isinstance(node, n.CallBlock):
            params = [a.name for a in node.args]
            if params not in self.caller_params:
                self.caller_params.append(params)
            for param, default in zip(reversed(node.args), reversed(node.defaults), strict=False):
                self.assign(param.name, self.expr(default))
            out = self.captured(node.body)
            if not out <= self.caller_out:
                self.caller_out = tv.join(self.caller_out, out)
                self.changed = True
            return tv.stringify(self.expr(node.call))
        if isinstance(node, n.FilterBlock):
            return tv.stringify(self.filter_node(node.filter, self.captured(node.body)))
        if isinstance(node, n.With):
            for target, value in zip(node.targets, node.values, strict=False):
                self.bind(target, self.expr(value))
            return self.body(node.body)
        if isinstance(node, n.ExprStmt):
            self.expr(node.node)
            return EMPTY_STR
        if isinstance(node, n.Scope | n.ScopedEvalContextModifier | n.Block):
            return self.body(node.body)
        if isinstance(node, n.Include | n.Extends):
            self.expr(node.template)
            return frozenset({AnyStr(None, True)})
        if isinstance(node, n.Import):
            self.expr(node.template)
            self.assign(node.target, TOP)
            return EMPTY_STR
        if isinstance(node, n.FromImport):
            self.expr(node.template)
            for name in node.names:
                self.assign(name[1] if isinstance(name, tuple) else name, TOP)
            return EMPTY_STR
        return EMPTY_STR  # Continue, Break, EvalContextModifier

    def macro(self, node: nodes.Macro) -> Value:
        key = id(node)
        params = [a.name for a in node.args]
        self.macro_params[key] = (params, None)
        for param, default in zip(reversed(node.args), reversed(node.defaults), strict=False):
            self.assign(param.name, self.expr(default))
        self.assign(node.name, frozenset({MacroRef(key)}))
        out = self.captured(node.body)
        old = self.macro_out.get(key, EMPTY)
        if not out <= old:
            self.macro_out[key] = TOP if self.widen else tv.join(old, out)
            self.changed = True
        return EMPTY_STR

    def bind(self, target: nodes.Node, value: Value) -> None:
        n = self.nodes
        if isinstance(target, n.Name):
            self.assign(target.name, value)
        elif isinstance(target, n.Tuple | n.List):
            count = len(target.items)
            parts: list[list[Value]] = [[] for _ in range(count)]
            for atom in value:
                if isinstance(atom, Tup) and len(atom.items) == count:
                    for i, item in enumerate(atom.items):
                        parts[i].append(item)
                else:
                    elem = self.iterate(frozenset({atom}))
                    for part in parts:
                        part.append(elem)
            for item, part in zip(target.items, parts, strict=True):
                self.bind(item, tv.join(*part))
        elif isinstance(target, n.NSRef):
            for atom in self.env.get(target.name, EMPTY):
                if isinstance(atom, Ref):
                    old = self.box(atom.site, "namespace")
                    self.put(
                        atom.site,
                        Box(old.kind, old.items, EMPTY, EMPTY, ((target.attr, value),)),
                    )

    # -- expressions -----------------------------------------------------------------------
    def expr(self, node: nodes.Node) -> Value:
        if self.deadline is not None:
            self.clock()
        n = self.nodes
        if isinstance(node, n.Const):
            return tv.const(node.value)
        if isinstance(node, n.TemplateData):
            return tv.const(node.data)
        if isinstance(node, n.Name):
            return self.name(node.name)
        if isinstance(node, n.Getattr):
            base = self.expr(node.node)
            self.check_name(tv.const(node.attr), "attribute", node)
            return self.getattr(base, tv.const(node.attr))
        if isinstance(node, n.Getitem):
            base = self.expr(node.node)
            if isinstance(node.arg, n.Slice):
                for part in (node.arg.start, node.arg.stop, node.arg.step):
                    if part is not None:
                        self.expr(part)
                return self.slice(base, node.arg)
            key = self.expr(node.arg)
            self.check_name(key, "subscript", node)
            return self.getitem(base, key)
        if isinstance(node, n.Filter):
            return self.filter_node(node, self.expr(node.node) if node.node is not None else EMPTY)
        if isinstance(node, n.Test):
            self.expr(node.node)
            self.args(node)
            return NUMBER
        if isinstance(node, n.Call):
            return self.call_node(node)
        if isinstance(node, n.Concat):
            out = EMPTY_STR
            for item in node.nodes:
                out = tv.concat(out, self.expr(item))
            return out
        if isinstance(node, n.CondExpr):
            self.expr(node.test)
            other = self.expr(node.expr2) if node.expr2 is not None else UNDEFINED
            return tv.join(self.expr(node.expr1), other)
        if isinstance(node, n.And | n.Or):
            return tv.join(self.expr(node.left), self.expr(node.right))
        if isinstance(node, n.Add):
            return self.add(self.expr(node.left), self.expr(node.right))
        if isinstance(node, n.Mul):
            return self.mul(self.expr(node.left), self.expr(node.right))
        if isinstance(node, n.Mod):
            return self.percent(self.expr(node.left), self.expr(node.right))
        if isinstance(node, n.BinExpr):
            self.expr(node.left)
            self.expr(node.right)
            return NUMBER
        if isinstance(node, n.UnaryExpr):
            self.expr(node.node)
            return NUMBER
        if isinstance(node, n.Compare):
            self.expr(node.expr)
            for op in node.ops:
                self.expr(op.expr)
            return NUMBER
        if isinstance(node, n.List):
            items = tuple(self.expr(i) for i in node.items)
            self.put(id(node), Box("list", items, EMPTY, EMPTY))
            return frozenset({Ref(id(node))})
        if isinstance(node, n.Tuple):
            return frozenset({Tup(tuple(self.expr(i) for i in node.items))})
        if isinstance(node, n.Dict):
            return self.new_dict(
                id(node), [(self.expr(p.key), self.expr(p.value)) for p in node.items]
            )
        if isinstance(node, n.MarkSafe | n.MarkSafeIfAutoescape):
            return self.expr(node.expr)
        return TOP  # context and environment references, extension attributes

    def name(self, name: str) -> Value:
        value = self.env.get(name, EMPTY)
        if name in self.bound and name not in _GLOBALS and not name.endswith("_token"):
            return value
        if name in _CALLER_DATA:
            return tv.join(value, self.data())
        if name == "loop":
            return tv.join(value, frozenset({Obj("loop")}))
        if name in _GLOBALS:
            return tv.join(value, frozenset({Obj(f"global:{name}")}))
        # Special tokens and anything else a loader fills from the model's files.
        return tv.join(value, frozenset({AnyStr(None, True)}), TOP)

    def args(
        self, node: nodes.Call | nodes.Filter | nodes.Test
    ) -> tuple[list[Value], dict[str, Value], Value]:
        """Positional and keyword arguments; what ``*args``/``**kwargs`` add is in the third."""
        positional = [self.expr(a) for a in node.args]
        keywords = {str(k.key): self.expr(k.value) for k in node.kwargs}
        dynamic = EMPTY
        if node.dyn_args is not None:
            dynamic = tv.join(dynamic, self.iterate(self.expr(node.dyn_args)))
        if node.dyn_kwargs is not None:
            mapping = self.expr(node.dyn_kwargs)
            dynamic = tv.join(dynamic, self.mapping_values(mapping), self.iterate(mapping))
        return positional, keywords, dynamic

    # -- names -----------------------------------------------------------------------------
    def check_name(self, value: Value, how: str, node: nodes.Node, *, path: bool = False) -> None:
        """Flag ``value`` used as an attribute name unless it is provably safe."""
        bad: list[str] = []
        computed = False
        for atom in value:
            if isinstance(atom, Const):
                if isinstance(atom.value, str):
                    parts = _path_parts(atom.value) if path else [atom.value]
                    if any(unsafe_name(p) for p in parts):
                        bad.append(atom.value)
            elif isinstance(atom, AnyStr):
                if atom.tainted and (atom.chars is None or "_" in atom.chars):
                    computed = True
            elif isinstance(atom, Obj) and atom.kind == "opaque":
                computed = True
        if bad:
            # One finding per place: the most telling name (a dunder if any), and how many more.
            bad.sort(key=lambda b: (not _dunder_text(b), len(b), b))
            more = f" (and {len(bad) - 1} other unsafe names)" if len(bad) > 1 else ""
            self.flag(f"{how} {bad[0][:80]!r}{more}", node)
        elif computed:
            self.flag(f"{how} with a name computed at render time", node)

    # -- operations ------------------------------------------------------------------------
    def iterate(self, value: Value) -> Value:
        out: list[Value] = []
        for atom in value:
            if isinstance(atom, Const) and isinstance(atom.value, str):
                out.append(frozenset(Const(c) for c in atom.value[: tv.MAX_EXACT]))
                if len(atom.value) > tv.MAX_EXACT:
                    out.append(frozenset({AnyStr(frozenset(atom.value), True)}))
            elif isinstance(atom, AnyStr):
                out.append(frozenset({atom}))
            elif isinstance(atom, Tup):
                out.extend(atom.items)
            elif isinstance(atom, Seq):
                out.append(atom.elem)
            elif isinstance(atom, Ref):
                box = self.box(atom.site, "list")
                if box.kind == "list":
                    out.append(box.elems)
                    out.extend(box.items or ())
                else:
                    out.append(box.keys)
                    out.append(tv.const_keys(box))
            elif isinstance(atom, Obj) and atom.kind == "data":
                out.append(self.data())
            elif isinstance(atom, Obj) and atom.kind == "global:range":
                out.append(NUMBER)
            elif isinstance(atom, Obj) and atom.kind in ("opaque",):
                out.append(TOP)
        return tv.join(*out)

    def mapping_values(self, value: Value) -> Value:
        out: list[Value] = []
        for atom in value:
            if isinstance(atom, Ref):
                out.append(self.box(atom.site, "dict").values())
            elif isinstance(atom, Obj) and atom.kind == "data":
                out.append(self.data())
            elif isinstance(atom, Obj) and atom.kind == "opaque":
                out.append(TOP)
        return tv.join(*out)

    def items(self, value: Value) -> Value:
        out: list[Atom] = []
        for atom in value:
            if isinstance(atom, Ref):
                box = self.box(atom.site, "dict")
                keys = tv.join(box.keys, tv.const_keys(box))
                out.append(Seq(frozenset({Tup((keys, box.values()))})))
            elif isinstance(atom, Obj) and atom.kind == "data":
                d = self.data()
                out.append(Seq(frozenset({Tup((d, d))})))
            elif isinstance(atom, Obj) and atom.kind == "opaque":
                return TOP
        return tv.join(out)

    def new_dict(self, site: int, pairs: Iterable[tuple[Value, Value]]) -> Value:
        fields: dict[str, Value] = {}
        keys: list[Value] = []
        others: list[Value] = []
        for key, value in pairs:
            texts = tv.strings(key)
            if texts is not None and len(texts) == 1:
                fields[texts[0]] = tv.join(fields.get(texts[0], EMPTY), value)
            else:
                keys.append(key)
                others.append(value)
        self.put(
            site,
            Box("dict", None, tv.join(*others), tv.join(*keys), tuple(sorted(fields.items()))),
        )
        return frozenset({Ref(site)})

    def getattr(self, base: Value, name: Value) -> Value:
        texts = tv.strings(name)
        if texts is None:
            # A name the analysis does not know (already flagged if the template
            # steers it): anything, including a string's format method.
            out: list[Value] = [self.data() if not tv.tainted(name) else TOP]
            if tv.may_be_string(base):
                out.append(frozenset({Bound(base, "format")}))
            return tv.join(*out)
        return tv.join(*(self.getattr_const(base, text) for text in texts))

    def getattr_const(self, base: Value, name: str) -> Value:
        out: list[Value] = []
        for atom in base:
            single = frozenset({atom})
            if unsafe_name(name):
                out.append(TOP)  # flagged where the name is read
            elif _is_text(atom):
                out.append(frozenset({Bound(single, name)}) if name in _STR_METHODS else UNDEFINED)
            elif isinstance(atom, Tup | Seq):
                out.append(frozenset({Bound(single, name)}) if name in _LIST_METHODS else UNDEFINED)
            elif isinstance(atom, Bound | MacroRef | AnyNum) or (
                isinstance(atom, Const) and not isinstance(atom.value, str)
            ):
                out.append(UNDEFINED)
            elif isinstance(atom, Ref):
                box = self.box(atom.site, "list")
                if box.kind in ("list", "cycler", "joiner"):
                    out.append(frozenset({Bound(single, name)}))
                    if box.kind == "cycler" and name == "current":
                        out.append(box.elems)
                else:
                    if box.kind == "dict" and name in _DICT_METHODS:
                        out.append(frozenset({Bound(single, name)}))
                    out.append(tv.join(box.field(name), box.elems))
            elif isinstance(atom, Obj):
                if atom.kind == "data":
                    out.append(self.data())  # a method call on data is modelled in call_node
                elif atom.kind == "loop":
                    out.append(self.loop_attr(name))
                elif atom.kind == "global:dict" and name == "fromkeys":
                    out.append(frozenset({Bound(single, name)}))
                elif atom.kind == "undefined":
                    out.append(UNDEFINED)
                else:
                    out.append(TOP)
            else:
                out.append(TOP)
        return tv.join(*out)

    def loop_attr(self, name: str) -> Value:
        if name in ("previtem", "nextitem"):
            return tv.join(self.loop_elems, UNDEFINED)
        if name in ("cycle", "changed"):
            return frozenset({Bound(frozenset({Obj("loop")}), name)})
        if name in ("index", "index0", "revindex", "revindex0", "length", "first", "last",
                    "depth", "depth0"):  # fmt: skip
            return NUMBER
        return UNDEFINED

    def getitem(self, base: Value, key: Value) -> Value:
        out: list[Value] = []
        numbers = [a.value for a in key if isinstance(a, Const) and isinstance(a.value, int)]
        exact_index = len(numbers) == len(key) and bool(numbers)
        for atom in base:
            single = frozenset({atom})
            if isinstance(atom, Const) and isinstance(atom.value, str):
                if exact_index:
                    for i in numbers:
                        if -len(atom.value) <= int(i) < len(atom.value):
                            out.append(tv.const(atom.value[int(i)]))
                else:
                    out.append(frozenset({AnyStr(frozenset(atom.value), True)}))
            elif isinstance(atom, AnyStr):
                out.append(single)
            elif isinstance(atom, Tup):
                if exact_index:
                    for i in numbers:
                        if -len(atom.items) <= int(i) < len(atom.items):
                            out.append(atom.items[int(i)])
                else:
                    out.append(tv.join(*atom.items))
            elif isinstance(atom, Seq):
                out.append(atom.elem)
            elif isinstance(atom, Ref):
                box = self.box(atom.site, "list")
                if box.kind == "list":
                    if exact_index and box.items is not None:
                        out.extend(
                            box.items[int(i)]
                            for i in numbers
                            if -len(box.items) <= int(i) < len(box.items)
                        )
                    else:
                        out.append(tv.join(box.elems, *(box.items or ())))
                else:
                    texts = tv.strings(key)
                    if texts is not None:
                        for text in texts:
                            out.append(tv.join(box.field(text), box.elems))
                            if box.kind == "dict" and text in _DICT_METHODS:
                                out.append(frozenset({Bound(single, text)}))
                    else:
                        out.append(box.values())
            elif isinstance(atom, Obj) and atom.kind == "data":
                out.append(self.data() if not tv.tainted(key) else TOP)
            elif isinstance(atom, Obj) and atom.kind in ("undefined",):
                out.append(UNDEFINED)
            elif isinstance(atom, AnyNum | MacroRef | Bound) or (
                isinstance(atom, Obj) and atom.kind.startswith("global:")
            ):
                # Jinja falls back to getattr for string keys.
                texts = tv.strings(key)
                if texts is not None:
                    out.append(tv.join(*(self.getattr_const(single, t) for t in texts)))
                else:
                    out.append(TOP)
            else:
                out.append(TOP)
        return tv.join(*out)

    def slice(self, base: Value, node: nodes.Slice) -> Value:
        bounds: list[int | bool | None] = []
        for part in (node.start, node.stop, node.step):
            if part is None:
                bounds.append(None)
            elif isinstance(part, self.nodes.Const) and isinstance(part.value, int):
                bounds.append(part.value)
            else:
                bounds.append(False)
        exact = False not in bounds and bounds[2] != 0
        out: list[Value] = []
        for atom in base:
            if isinstance(atom, Const) and isinstance(atom.value, str):
                if exact:
                    out.append(tv.const(atom.value[slice(*bounds)]))
                else:
                    out.append(frozenset({AnyStr(frozenset(atom.value), True)}))
            elif isinstance(atom, AnyStr):
                out.append(frozenset({atom}))
            elif isinstance(atom, Tup):
                out.append(
                    frozenset({Tup(atom.items[slice(*bounds)])})
                    if exact
                    else frozenset({Seq(tv.join(*atom.items))})
                )
            elif isinstance(atom, Ref | Seq):
                out.append(frozenset({Seq(self.iterate(frozenset({atom})))}))
            elif isinstance(atom, Obj) and atom.kind == "data":
                out.append(self.data())
            else:
                out.append(TOP)
        return tv.join(*out)

    def add(self, left: Value, right: Value) -> Value:
        out: list[Value] = []
        left_text = frozenset(a for a in left if _is_text(a))
        right_text = frozenset(a for a in right if _is_text(a))
        if left_text and right_text:
            out.append(tv.concat(left_text, right_text))
        if any(_is_seq(a) for a in left) and any(_is_seq(a) for a in right):
            out.append(frozenset({Seq(tv.join(self.iterate(left), self.iterate(right)))}))
        if any(isinstance(a, AnyNum) or _is_number(a) for a in left):
            out.append(NUMBER)
        if any(_is_opaque(a) for a in (*left, *right)):
            out.append(self._opaque(left, right))
        return tv.join(*out)

    def mul(self, left: Value, right: Value) -> Value:
        out: list[Value] = [NUMBER]
        counts = [a.value for a in right if isinstance(a, Const) and isinstance(a.value, int)]
        for a, b in ((left, right), (right, left)):
            for atom in a:
                if _is_text(atom):
                    texts = tv.strings(frozenset({atom}))
                    if (
                        texts is not None
                        and len(counts) == len(b)
                        and all(0 <= int(c) * len(texts[0]) <= tv.MAX_LENGTH for c in counts)
                    ):
                        out.extend(tv.const(texts[0] * int(c)) for c in counts)
                    else:
                        out.append(frozenset({AnyStr(tv.chars_of(frozenset({atom})), True)}))
                elif _is_seq(atom):
                    out.append(frozenset({Seq(self.iterate(frozenset({atom})))}))
        if any(_is_opaque(x) for x in (*left, *right)):
            out.append(self._opaque(left, right))
        return tv.join(*out)

    def percent(self, fmt: Value, args: Value) -> Value:
        out: list[Value] = [NUMBER]
        texts = tv.strings(fmt)
        arg_values = self.format_args(args)
        if texts is not None and arg_values is not None:
            for text in texts:
                for arg in arg_values:
                    try:
                        out.append(tv.const(tv.fold_percent(text, arg)))
                    except LookupError:
                        out.append(frozenset({AnyStr(tv.percent_chars(fmt, args), True)}))
        elif tv.may_be_string(fmt):
            chars = tv.percent_chars(fmt, args)
            out.append(frozenset({AnyStr(chars, tv.tainted(fmt) or tv.tainted(args))}))
        return tv.join(*out)

    def format_args(self, args: Value) -> list[object] | None:
        """The exact Python values ``args`` stands for (for ``%``), or None."""
        out: list[object] = []
        for atom in args:
            if isinstance(atom, Const):
                out.append(atom.value)
            elif isinstance(atom, Tup):
                parts = [tv.consts(v) for v in atom.items]
                if any(p is None or len(p) != 1 for p in parts):
                    return None
                out.append(tuple(p[0] for p in parts if p is not None))
            else:
                return None
        return out

    def _opaque(self, *values: Value) -> Value:
        return TOP if any(tv.tainted(v) for v in values) else self.data()

    # -- calls -----------------------------------------------------------------------------
    def call_node(self, node: nodes.Call) -> Value:
        callee = self.expr(node.node)
        positional, keywords, dynamic = self.args(node)
        method = node.node.attr if isinstance(node.node, self.nodes.Getattr) else None
        return self.call(callee, positional, keywords, dynamic, node, method)

    def call(
        self,
        callee: Value,
        positional: list[Value],
        keywords: dict[str, Value],
        dynamic: Value,
        node: nodes.Node,
        method: str | None = None,
    ) -> Value:
        """``callee(...)``; ``method`` names the attribute the callee was read as."""
        out: list[Value] = []
        everything = [*positional, *keywords.values(), dynamic]
        for atom in callee:
            if isinstance(atom, MacroRef):
                out.append(self.call_macro(atom.node, positional, keywords, dynamic))
            elif isinstance(atom, Bound):
                out.append(
                    self.call_method(atom.base, atom.name, positional, keywords, dynamic, node)
                )
            elif isinstance(atom, Obj) and atom.kind.startswith("global:"):
                out.append(self.call_global(atom.kind[7:], positional, keywords, dynamic, node))
            elif isinstance(atom, Obj) and atom.kind == "loop":
                out.append(self.call_global("loop", positional, keywords, dynamic, node))
            elif isinstance(atom, Obj) and atom.kind == "data":
                # A method of the caller's data: one that stores a value the
                # template steers makes later reads of that data template-made.
                if (method is None or method in _MUTATORS) and any(
                    tv.tainted(a) for a in everything
                ):
                    self.taint_data()
                out.append(self._opaque(*everything) if everything else self.data())
            elif isinstance(atom, Ref) and self.box(atom.site, "list").kind == "joiner":
                out.append(tv.join(self.box(atom.site, "joiner").elems, EMPTY_STR))
            elif isinstance(atom, Obj) and atom.kind == "undefined":
                continue
            else:
                out.append(TOP)
        return tv.join(*out)

    def call_macro(
        self, key: int, positional: list[Value], keywords: dict[str, Value], dynamic: Value
    ) -> Value:
        params, _ = self.macro_params.get(key, ([], None))
        for param, value in zip(params, positional, strict=False):
            self.assign(param, value)
        if len(positional) > len(params):
            self.assign("varargs", frozenset({Seq(tv.join(*positional[len(params) :]))}))
        for name, value in keywords.items():
            if name in params:
                self.assign(name, value)
            else:
                self.assign("kwargs", self.new_dict(key, [(tv.const(name), value)]))
        if dynamic:
            for param in params:
                self.assign(param, dynamic)
        return self.macro_out.get(key, EMPTY)

    def call_global(
        self,
        name: str,
        positional: list[Value],
        keywords: dict[str, Value],
        dynamic: Value,
        node: nodes.Node,
    ) -> Value:
        site = id(node)
        if name == "range":
            return frozenset({Seq(NUMBER)})
        if name in ("dict", "namespace"):
            pairs = [(tv.const(k), v) for k, v in keywords.items()]
            for arg in positional:
                pairs.append((self.iterate(arg), self.mapping_values(arg)))
                for atom in arg:
                    if isinstance(atom, Ref):
                        for key, value in self.box(atom.site, "dict").fields:
                            pairs.append((tv.const(key), value))
            if dynamic:
                pairs.append((TOP, dynamic))
            self.new_dict(site, pairs)
            if name == "namespace":
                box = self.store[site]
                self.store[site] = Box("namespace", None, box.elems, box.keys, box.fields)
            return frozenset({Ref(site)})
        if name == "cycler":
            self.put(site, Box("cycler", None, tv.join(*positional, dynamic), EMPTY))
            return frozenset({Ref(site)})
        if name == "joiner":
            sep = positional[0] if positional else keywords.get("sep", tv.const(", "))
            self.put(site, Box("joiner", None, tv.stringify(sep), EMPTY))
            return frozenset({Ref(site)})
        if name == "raise_exception":
            return EMPTY
        if name == "strftime_now":
            fmt = positional[0] if positional else TOP
            chars = tv.chars_of(fmt)
            letters = frozenset("0123456789 :/,.-+%" + "abcdefghijklmnopqrstuvwxyz".upper())
            lowered = frozenset("abcdefghijklmnopqrstuvwxyz")
            return frozenset(
                {AnyStr(None if chars is None else chars | letters | lowered, tv.tainted(fmt))}
            )
        if name == "lipsum":
            return frozenset({AnyStr(frozenset("abcdefghijklmnopqrstuvwxyz .,\n<>/"), False)})
        if name == "caller":
            for params in self.caller_params:
                for param, value in zip(params, positional, strict=False):
                    self.assign(param, value)
            return self.caller_out
        if name == "loop":
            for loop in self.recursive_loops:
                elem = self.iterate(tv.join(*positional))
                self.bind(loop.target, elem)  # type: ignore[attr-defined]
                self.loop_elems = tv.join(self.loop_elems, elem)
            return frozenset({AnyStr(None, True)})
        if name == "self":
            return TOP
        return TOP

    def call_method(
        self,
        base: Value,
        method: str,
        positional: list[Value],
        keywords: dict[str, Value],
        dynamic: Value,
        node: nodes.Node,
    ) -> Value:
        out: list[Value] = []
        args = [*positional, *keywords.values(), dynamic]
        if method in _FORMAT_METHODS:
            self.check_format(base, node)
        for atom in base:
            single = frozenset({atom})
            if _is_text(atom):
                out.append(self.string_method(single, method, positional, keywords, dynamic))
            elif isinstance(atom, Ref):
                out.append(self.container_method(atom, method, positional, keywords, dynamic))
            elif isinstance(atom, Tup | Seq):
                out.append(NUMBER if method in ("index", "count") else TOP)
            elif isinstance(atom, Obj) and atom.kind == "data":
                if method in _MUTATORS and any(tv.tainted(a) for a in args):
                    self.taint_data()
                out.append(self._opaque(single, *args))
            elif isinstance(atom, Obj) and atom.kind == "loop":
                out.append(tv.join(*positional) if method == "cycle" else NUMBER)
            elif isinstance(atom, Obj) and atom.kind == "global:dict":
                keys = self.iterate(positional[0]) if positional else EMPTY
                values = positional[1] if len(positional) > 1 else tv.const(None)
                out.append(self.new_dict(id(node), [(keys, values)]))
            else:
                out.append(TOP)
        return tv.join(*out)

    def string_method(
        self,
        base: Value,
        method: str,
        positional: list[Value],
        keywords: dict[str, Value],
        dynamic: Value,
    ) -> Value:
        texts = tv.strings(base)
        exact_args = [tv.consts(a) for a in positional]
        exact_kw = {k: tv.consts(v) for k, v in keywords.items()}
        if (
            texts is not None
            and not dynamic
            and all(a is not None and len(a) == 1 for a in exact_args)
            and all(v is not None and len(v) == 1 for v in exact_kw.values())
        ):
            values: list[object] = [a[0] for a in exact_args if a is not None]
            kw: dict[str, object] = {k: v[0] for k, v in exact_kw.items() if v is not None}
            out: list[Value] = []
            try:
                for text in texts:
                    if method in _FORMAT_METHODS:
                        if method != "format":
                            raise LookupError(method)
                        out.append(tv.const(tv.fold_format(text, values, kw)))
                        continue
                    if method == "join":
                        seq = self.exact_sequence(positional[0]) if positional else None
                        if seq is None:
                            raise LookupError(method)
                        values = [seq]
                    if kw:
                        raise LookupError(method)
                    out.append(self.from_python(tv.fold_str_method(text, method, values)))
                return tv.join(*out)
            except LookupError:
                pass  # not foldable: the general rules below
        if method == "join" and positional:
            elems = self.iterate(positional[0])
            chars = tv.str_method_chars(tv.chars_of(base), "join", [tv.chars_of(elems)])
            return frozenset({AnyStr(chars, tv.tainted(base) or tv.tainted(elems))})
        if method in ("split", "rsplit", "splitlines", "partition", "rpartition"):
            piece = frozenset({AnyStr(tv.chars_of(base), tv.tainted(base))})
            return frozenset({Seq(piece)})
        if method.startswith("is") or method in ("startswith", "endswith", "find", "rfind",
                                                 "index", "rindex", "count"):  # fmt: skip
            return NUMBER
        if method in ("encode",):
            return TOP
        args = [*positional, *keywords.values(), dynamic]
        if method in _FORMAT_METHODS:
            args = [self.stringify_all(a) for a in args]
        chars = tv.str_method_chars(tv.chars_of(base), method, [tv.chars_of(a) for a in args])
        return frozenset({AnyStr(chars, tv.tainted(base) or any(tv.tainted(a) for a in args))})

    def stringify_all(self, value: Value) -> Value:
        return tv.join(
            tv.stringify(value),
            tv.stringify(self.iterate(value)),
            tv.stringify(self.mapping_values(value)),
        )

    def exact_sequence(self, value: Value) -> list[str] | None:
        """The one exact list of strings ``value`` is, if it is exactly one."""
        if len(value) != 1:
            return None
        (atom,) = value
        items: Sequence[Value] | None = None
        if isinstance(atom, Tup):
            items = atom.items
        elif isinstance(atom, Ref):
            box = self.box(atom.site, "list")
            if box.kind == "list" and box.items is not None and not box.elems:
                items = box.items
        elif isinstance(atom, Const) and isinstance(atom.value, str):
            return list(atom.value)
        if items is None:
            return None
        out = []
        for item in items:
            texts = tv.strings(item)
            if texts is None or len(texts) != 1:
                return None
            out.append(texts[0])
        return out

    def from_python(self, value: object) -> Value:
        if isinstance(value, str | int | float | bool) or value is None:
            return tv.const(value)
        if isinstance(value, list | tuple):
            return frozenset({Tup(tuple(self.from_python(v) for v in value))})
        return TOP

    def container_method(
        self,
        ref: Ref,
        method: str,
        positional: list[Value],
        keywords: dict[str, Value],
        dynamic: Value,
    ) -> Value:
        box = self.box(ref.site, "list")
        args = [*positional, *keywords.values(), dynamic]
        if box.kind == "cycler":
            return box.elems if method == "next" else EMPTY
        if box.kind == "list":
            if method in ("index", "count"):
                return NUMBER
            if method in ("pop",):
                self.put(ref.site, Box("list", None, EMPTY, EMPTY))
                return tv.join(box.elems, *(box.items or ()))
            if method == "copy":
                return frozenset({ref})
            if method in ("sort", "reverse", "clear", "remove"):
                self.put(ref.site, Box("list", None, EMPTY, EMPTY))
                return tv.const(None)
            added = tv.join(
                *(a for a in args),
                *(self.iterate(a) for a in args) if method == "extend" else (),
            )
            self.put(ref.site, Box("list", None, added, EMPTY))
            return tv.const(None)
        # dict or namespace
        if method in ("items",):
            return self.items(frozenset({ref}))
        if method in ("keys",):
            return frozenset({Seq(tv.join(box.keys, tv.const_keys(box)))})
        if method in ("values",):
            return frozenset({Seq(box.values())})
        if method in ("get", "pop", "setdefault"):
            if method == "setdefault" and positional:
                self.new_dict(ref.site, [(positional[0], tv.join(*positional[1:2]))])
            keys = tv.strings(positional[0]) if positional else None
            found = (
                tv.join(*(box.field(k) for k in keys), box.elems)
                if keys is not None
                else box.values()
            )
            return tv.join(found, *positional[1:2], tv.const(None))
        if method == "copy":
            return frozenset({ref})
        if method == "update":
            pairs = [(tv.const(k), v) for k, v in keywords.items()]
            for arg in positional:
                pairs.append((self.iterate(arg), self.mapping_values(arg)))
                for atom in arg:
                    if isinstance(atom, Ref):
                        pairs.extend(
                            (tv.const(k), v) for k, v in self.box(atom.site, "dict").fields
                        )
            if dynamic:
                pairs.append((TOP, dynamic))
            self.new_dict(ref.site, pairs)
            return tv.const(None)
        if method in _MUTATORS or args:
            self.new_dict(ref.site, [(TOP, tv.join(*args))])
        return TOP

    def check_format(self, base: Value, node: nodes.Node) -> None:
        """``fmt.format(...)`` reads the attributes its fields name (``{0.__class__}``)."""
        for atom in base:
            if isinstance(atom, Const) and isinstance(atom.value, str):
                for chain in tv.format_fields(atom.value):
                    if any(unsafe_name(key) for key in chain):
                        self.flag(f"format string {atom.value[:80]!r}", node)
            elif isinstance(atom, AnyStr):
                chars = atom.chars
                if atom.tainted and (chars is None or ("{" in chars and "_" in chars)):
                    self.flag("format string computed at render time", node)
            elif isinstance(atom, Obj) and atom.kind == "opaque":
                self.flag("format string computed at render time", node)

    # -- filters ---------------------------------------------------------------------------
    def filter_node(self, node: nodes.Filter, value: Value) -> Value:
        positional, keywords, dynamic = self.args(node)
        return self.apply_filter(node.name, value, positional, keywords, dynamic, node)

    def apply_filter(
        self,
        name: str,
        value: Value,
        positional: list[Value],
        keywords: dict[str, Value],
        dynamic: Value,
        node: nodes.Node,
    ) -> Value:
        attribute: Value | None = None
        if name in _ATTRIBUTE_FILTERS:
            index, keyword = _ATTRIBUTE_FILTERS[name]
            found = [positional[index]] if len(positional) > index else []
            if keyword is not None and keyword in keywords:
                found.append(keywords[keyword])
            if dynamic:
                found.append(dynamic)
            if found:
                attribute = tv.join(*found)
                how = "|attr()" if name == "attr" else f"|{name}(attribute=…)"
                self.check_name(attribute, how, node, path=name != "attr")
        if name == "map":
            return self.map_filter(value, positional, keywords, dynamic, node)
        if name == "attr":
            return self.getattr(value, attribute if attribute is not None else TOP)
        elem = self.iterate(value)
        if name in ("selectattr", "rejectattr", "select", "reject", "reverse", "sort",
                    "unique", "batch", "slice"):  # fmt: skip
            if name == "reverse" and tv.may_be_string(value):
                return tv.join(self.fold_or_chars(name, value, []), frozenset({Seq(elem)}))
            if name in ("batch", "slice"):
                return frozenset({Seq(frozenset({Seq(tv.join(elem, *positional[1:2]))}))})
            return frozenset({Seq(elem)})
        if name in ("first", "last", "random", "min", "max"):
            if name in ("first", "last"):
                exact = self.exact_sequence(value)
                if exact:
                    return tv.const(exact[0] if name == "first" else exact[-1])
            picked = elem
            if attribute is not None:
                picked = self.getattr_path(elem, attribute)
            return tv.join(picked, UNDEFINED)
        if name == "list":
            exact = self.exact_sequence(value)
            if exact is not None:
                return frozenset({Tup(tuple(tv.const(x) for x in exact))})
            return frozenset({Seq(elem)})
        if name == "join":
            return self.join_filter(value, positional, keywords, attribute)
        if name in ("items", "dictsort"):
            return self.items(value)
        if name == "groupby":
            grouper = self.getattr_path(elem, attribute) if attribute is not None else TOP
            return frozenset({Seq(frozenset({Tup((grouper, frozenset({Seq(elem)})))}))})
        if name == "sum":
            picked = self.getattr_path(elem, attribute) if attribute is not None else elem
            start = keywords.get("start", positional[1] if len(positional) > 1 else EMPTY)
            return tv.join(
                NUMBER, frozenset({Seq(tv.join(self.iterate(picked), self.iterate(start)))})
            )
        if name in ("default", "d"):
            return tv.join(value, *positional[:1], keywords.get("default_value", EMPTY))
        if name in ("length", "count", "wordcount", "int", "float", "abs", "round"):
            return NUMBER
        if name in ("string", "upper", "lower", "capitalize", "title", "trim", "replace",
                    "center", "urlencode", "tojson", "format", "e", "escape",
                    "forceescape", "safe", "striptags", "wordwrap", "indent", "truncate",
                    "pprint", "filesizeformat", "xmlattr", "urlize"):  # fmt: skip
            return self.fold_or_chars(name, value, positional, keywords)
        if name == "tojson":
            return self.fold_or_chars(name, value, positional)
        return self._opaque(value, *positional, *keywords.values(), dynamic)

    def fold_or_chars(
        self,
        name: str,
        value: Value,
        positional: list[Value],
        keywords: dict[str, Value] | None = None,
    ) -> Value:
        """A string filter: exact on constants, else the characters it can produce."""
        keywords = keywords or {}
        args = [tv.consts(a) for a in positional]
        out: list[Value] = []
        rest: list[Atom] = []
        if all(a is not None and len(a) == 1 for a in args) and not keywords:
            plain = [a[0] for a in args if a is not None]
            for atom in value:
                if isinstance(atom, Const):
                    try:
                        out.append(tv.const(tv.fold_filter(name, atom.value, plain)))  # type: ignore[arg-type]
                        continue
                    except LookupError:
                        pass  # not foldable: kept as an abstract value
                rest.append(atom)
        else:
            rest = list(value)
        if rest:
            remaining = frozenset(rest)
            text = tv.stringify(remaining, data_tainted=self.data_tainted)
            argument_values = [*positional, *keywords.values()]
            is_tainted = tv.tainted(text) or any(tv.tainted(a) for a in argument_values)
            if name == "format":
                chars = tv.percent_chars(remaining, tv.join(*argument_values))
            elif name in ("replace", "center", "indent", "truncate", "wordwrap"):
                chars = tv.str_method_chars(
                    tv.chars_of(text), "replace", [tv.chars_of(a) for a in argument_values]
                )
                chars = tv.escape_chars(name, chars) if name != "replace" else chars
            elif name in ("upper", "lower", "capitalize", "title"):
                chars = tv.str_method_chars(tv.chars_of(text), name, [])
            elif name in ("pprint", "xmlattr", "urlize", "filesizeformat"):
                chars = None
            else:
                chars = tv.escape_chars(name, tv.chars_of(text))
            if name in ("tojson", "pprint", "xmlattr", "string") and any(
                not _is_text(a) for a in remaining
            ):
                chars = None
            out.append(frozenset({AnyStr(chars, is_tainted)}))
        return tv.join(*out)

    def join_filter(
        self,
        value: Value,
        positional: list[Value],
        keywords: dict[str, Value],
        attribute: Value | None,
    ) -> Value:
        sep = positional[0] if positional else keywords.get("d", EMPTY_STR)
        seps = tv.strings(sep)
        elems = self.iterate(value)
        if attribute is not None:
            elems = self.getattr_path(elems, attribute)
        exact = self.exact_sequence(value) if attribute is None else None
        if exact is not None and seps is not None:
            return tv.join(*(tv.const(s.join(exact)) for s in seps))
        text = tv.stringify(elems, data_tainted=self.data_tainted)
        chars = tv.str_method_chars(tv.chars_of(text), "join", [tv.chars_of(sep)])
        return frozenset({AnyStr(chars, tv.tainted(text) or tv.tainted(sep))})

    def getattr_path(self, elem: Value, attribute: Value) -> Value:
        """What ``map(attribute='a.b')`` and friends read from each element."""
        texts = tv.strings(attribute)
        if texts is None:
            return self.getattr(elem, attribute)
        out: list[Value] = []
        for text in texts:
            current = elem
            for part in _path_parts(text):
                if part.isdigit():
                    current = self.getitem(current, tv.const(int(part)))
                else:
                    current = self.getitem(current, tv.const(part))
            out.append(current)
        return tv.join(*out)

    def map_filter(
        self,
        value: Value,
        positional: list[Value],
        keywords: dict[str, Value],
        dynamic: Value,
        node: nodes.Node,
    ) -> Value:
        elem = self.iterate(value)
        if not positional and ("attribute" in keywords or dynamic):
            attribute = tv.join(keywords.get("attribute", EMPTY), dynamic)
            self.check_name(attribute, "|map(attribute=…)", node, path=True)
            picked = self.getattr_path(elem, attribute)
            return frozenset({Seq(tv.join(picked, keywords.get("default", EMPTY)))})
        if not positional:
            return frozenset({Seq(elem)})
        names = tv.strings(positional[0])
        if names is None:
            if tv.tainted(positional[0]):
                self.flag("|map() applies a filter chosen at render time", node)
            return frozenset({Seq(TOP)})
        results = [
            self.apply_filter(name, elem, positional[1:], keywords, dynamic, node) for name in names
        ]
        return frozenset({Seq(tv.join(*results))})


def _names_in_order(node: nodes.Node) -> Iterator[tuple[str, str]]:
    """(name, "load"/"store"/"param") in the order a render meets them."""
    from jinja2 import nodes

    if isinstance(node, nodes.Name):
        yield node.name, node.ctx
        return
    if isinstance(node, nodes.Assign):
        order: list[object] = [node.node, node.target]
    elif isinstance(node, nodes.AssignBlock):
        order = [*node.body, node.filter, node.target]
    elif isinstance(node, nodes.For):
        order = [node.iter, node.target, node.test, *node.body, *node.else_]
    elif isinstance(node, nodes.Macro | nodes.CallBlock):
        order = [*node.defaults, *node.args, *node.body]
        if isinstance(node, nodes.CallBlock):
            order.insert(0, node.call)
    elif isinstance(node, nodes.With):
        order = [*node.values, *node.targets, *node.body]
    else:
        order = list(node.iter_child_nodes())
    for child in order:
        if isinstance(child, nodes.Node):
            yield from _names_in_order(child)


def _path_parts(text: str) -> list[str]:
    """The names Jinja's attribute getters look up for ``text`` (``sort`` splits on
    commas, every getter on dots)."""
    return [part for piece in text.split(",") for part in piece.split(".")]


def _is_text(atom: Atom) -> bool:
    return isinstance(atom, AnyStr) or (isinstance(atom, Const) and isinstance(atom.value, str))


def _is_number(atom: Atom) -> bool:
    return (
        isinstance(atom, Const) and isinstance(atom.value, int | float) and atom.value is not None
    )


def _is_seq(atom: Atom) -> bool:
    return isinstance(atom, Tup | Seq | Ref)


def _is_opaque(atom: Atom) -> bool:
    return isinstance(atom, Obj) and atom.kind in ("opaque", "data")


def _dunder_text(text: str) -> bool:
    import re

    return re.search(r"__\w+__", text) is not None


_DUNDER_TEXT: Final[Callable[[str], bool]] = _dunder_text
