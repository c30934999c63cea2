"""The abstract values a chat template computes with, for :mod:`openward.scanning.templates`.

A template is never rendered; instead every expression is evaluated over
*abstract* values that stand for every value it could take at render time.
What matters for safety is which strings can end up as attribute names, so
strings are tracked exactly while that is cheap (a small set of constants,
folded through concatenation, filters and string methods) and otherwise as
the set of characters they may contain. Whether a string can be influenced
by the template (its constants, the model's special tokens) or only by the
caller's data (the messages) is tracked too: a name the template author
cannot steer is no sandbox escape.

Containers the template can mutate (``[]``, ``{}``, ``dict()``,
``namespace()``) live in a store keyed by the syntax node that creates them,
so ``{% do l.append('__cl') %}`` changes what ``l|join`` can produce.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

__all__ = [
    "ANY_CHARS",
    "DATA",
    "EMPTY",
    "EMPTY_STR",
    "NUMBER",
    "TOP",
    "UNDEFINED",
    "AnyNum",
    "AnyStr",
    "Atom",
    "Bound",
    "Box",
    "Const",
    "MacroRef",
    "Obj",
    "Ref",
    "Seq",
    "Tup",
    "Value",
    "chars_of",
    "concat",
    "const",
    "const_keys",
    "consts",
    "fold_format",
    "fold_percent",
    "join",
    "may_be_string",
    "star",
    "stringify",
    "strings",
    "tainted",
]

MAX_EXACT: Final = 32
"""Exact strings kept per value; beyond that only their characters are tracked."""
MAX_LENGTH: Final = 4096
"""Longest string kept exactly (names are short; long prompts only need their characters)."""
MAX_DEPTH: Final = 6
"""Nesting of sequences kept; deeper structure becomes :data:`TOP`."""
MAX_WIDTH: Final = 4096
"""Widths and counts above this are not folded (``'a' * 10**9``, ``'%999999999s'``)."""

Chars = frozenset[str] | None
"""Characters a string may contain; None when it may contain any."""
ANY_CHARS: Final[Chars] = None


@dataclass(frozen=True, slots=True)
class Const:
    """An exact Python constant: str, int, float, bool or None."""

    value: str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class AnyStr:
    """A string not known exactly."""

    chars: Chars
    """A superset of the characters it can contain (None: any)."""
    tainted: bool
    """True when the template (its constants, the model's tokens, values it cannot
    follow) can influence it; False when only the caller's data can."""


@dataclass(frozen=True, slots=True)
class AnyNum:
    """A number or boolean not known exactly."""


@dataclass(frozen=True, slots=True)
class Tup:
    """An immutable sequence known item by item (tuple literal, ``split`` result)."""

    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Seq:
    """A sequence or iterator of unknown length."""

    elem: Value


@dataclass(frozen=True, slots=True)
class Ref:
    """A mutable container; its contents are in the analysis store under ``site``."""

    site: int


@dataclass(frozen=True, slots=True)
class Obj:
    """Anything else, by kind.

    ``data``: the caller's data (messages, tools) and what is read from it;
    ``opaque``: a value the analysis cannot follow and the template may steer
    (it may be any string); ``undefined``; ``loop``, ``self``, ``caller``;
    ``global:NAME`` for Jinja's and the loaders' globals.
    """

    kind: str


@dataclass(frozen=True, slots=True)
class Bound:
    """An attribute read from a value, kept so that calling it can be modelled
    (``'x'.upper``, ``l.append``, ``'{0.__class__}'.format``)."""

    base: Value
    name: str


@dataclass(frozen=True, slots=True)
class MacroRef:
    """A macro defined in the template (by the id of its node)."""

    node: int


Atom = Const | AnyStr | AnyNum | Tup | Seq | Ref | Obj | Bound | MacroRef
Value = frozenset[Atom]

EMPTY: Final[Value] = frozenset()
EMPTY_STR: Final[Value] = frozenset({Const("")})
NUMBER: Final[Value] = frozenset({AnyNum()})
DATA: Final[Value] = frozenset({Obj("data")})
UNDEFINED: Final[Value] = frozenset({Obj("undefined")})
TOP: Final[Value] = frozenset({Obj("opaque")})
"""Any value at all, possibly steered by the template: absorbs everything it is joined with."""

_DIGITS: Final = frozenset("0123456789")
_NUMBER_CHARS: Final = frozenset("0123456789-+.eEinfatTrueFlsN")


@dataclass(frozen=True, slots=True)
class Box:
    """The contents of one mutable container, joined over every way it is filled."""

    kind: str
    """``list``, ``dict``, ``namespace``, ``cycler`` or ``joiner``."""
    items: tuple[Value, ...] | None
    """A list's items while they are known exactly (never mutated); None after."""
    elems: Value
    """List items, or dict/namespace values stored under keys not known exactly."""
    keys: Value
    """Dict/namespace keys."""
    fields: tuple[tuple[str, Value], ...] = ()
    """Values stored under constant string keys, sorted by key."""

    def field(self, key: str) -> Value:
        for name, value in self.fields:
            if name == key:
                return value
        return EMPTY

    def values(self) -> Value:
        return join(self.elems, *(v for _, v in self.fields))

    def merge(self, other: Box) -> Box:
        items = self.items if self.items == other.items else None
        elems = join(self.elems, other.elems)
        if items is None:
            elems = join(elems, *(self.items or ()), *(other.items or ()))
        fields = dict(self.fields)
        for name, value in other.fields:
            fields[name] = join(fields.get(name, EMPTY), value)
        return Box(
            self.kind,
            items,
            elems,
            join(self.keys, other.keys),
            tuple(sorted(fields.items())),
        )


def const_keys(box: Box) -> Value:
    """The constant keys of a dict or namespace."""
    return join(*(const(name) for name, _ in box.fields))


def const(value: str | int | float | bool | None) -> Value:
    if isinstance(value, str) and len(value) > MAX_LENGTH:
        return frozenset({AnyStr(frozenset(value), True)})
    return frozenset({Const(value)})


def _depth(atom: Atom) -> int:
    if isinstance(atom, Tup):
        return 1 + max((_value_depth(v) for v in atom.items), default=0)
    if isinstance(atom, Seq):
        return 1 + _value_depth(atom.elem)
    if isinstance(atom, Bound):
        return 1 + _value_depth(atom.base)
    return 0


def _value_depth(value: Value) -> int:
    return max((_depth(a) for a in value), default=0)


def join(*values: Iterable[Atom]) -> Value:
    """The least value covering all of ``values``, widened to stay small."""
    present = [v for v in values if v]
    if not present:
        return EMPTY
    if len(present) <= 2 and all(isinstance(v, frozenset) for v in present):
        # Values built here are already normal: joining one into a superset is free.
        first, last = present[0], present[-1]
        if last <= first:  # type: ignore[operator]
            return first  # type: ignore[return-value]
        if first <= last:  # type: ignore[operator]
            return last  # type: ignore[return-value]
    atoms: set[Atom] = set()
    for value in values:
        atoms.update(value)
    if Obj("opaque") in atoms:
        return TOP
    texts = [a for a in atoms if isinstance(a, Const) and isinstance(a.value, str)]
    loose = [a for a in atoms if isinstance(a, AnyStr)]
    if len(texts) > MAX_EXACT:
        chars: set[str] = set()
        for t in texts:
            chars.update(str(t.value))
        atoms.difference_update(texts)
        loose.append(AnyStr(frozenset(chars), True))
    if len(loose) > 1:
        atoms.difference_update([a for a in atoms if isinstance(a, AnyStr)])
        for flag in (True, False):
            group = [a for a in loose if a.tainted is flag]
            if group:
                atoms.add(AnyStr(_union_chars(a.chars for a in group), flag))
    seqs = [a for a in atoms if isinstance(a, Seq)]
    if len(seqs) > 1:
        atoms.difference_update(seqs)
        atoms.add(Seq(join(*(s.elem for s in seqs))))
    if any(isinstance(a, Tup | Seq | Bound) and _depth(a) > MAX_DEPTH for a in atoms):
        return TOP
    return frozenset(atoms)


def _union_chars(sets: Iterable[Chars]) -> Chars:
    out: set[str] = set()
    for chars in sets:
        if chars is None:
            return None
        out.update(chars)
    return frozenset(out)


def consts(value: Value) -> list[str | int | float | bool | None] | None:
    """Every value ``value`` can take, when all are exact constants."""
    out = []
    for atom in value:
        if not isinstance(atom, Const):
            return None
        out.append(atom.value)
    return out


def strings(value: Value) -> list[str] | None:
    """Every string ``value`` can be, when all are exact strings."""
    items = consts(value)
    if items is None or not all(isinstance(v, str) for v in items):
        return None
    return [str(v) for v in items]


def may_be_string(value: Value) -> bool:
    return any(
        isinstance(a, AnyStr)
        or (isinstance(a, Const) and isinstance(a.value, str))
        or (isinstance(a, Obj) and a.kind in ("data", "opaque"))
        for a in value
    )


def tainted(value: Value) -> bool:
    """Whether anything but the caller's data can influence ``value``."""
    for atom in value:
        if isinstance(atom, AnyStr):
            if atom.tainted:
                return True
        elif isinstance(atom, Obj):
            if atom.kind != "data" and atom.kind != "undefined":
                return True
        elif isinstance(atom, Const):
            if isinstance(atom.value, str) and atom.value:
                return True
        elif isinstance(atom, Tup):
            if any(tainted(v) for v in atom.items):
                return True
        elif isinstance(atom, Seq):
            if tainted(atom.elem):
                return True
        elif not isinstance(atom, AnyNum):
            return True
    return False


def chars_of(value: Value) -> Chars:
    """The characters ``value`` may contain once turned into a string."""
    out: set[str] = set()
    for atom in stringify(value):
        if isinstance(atom, Const):
            out.update(str(atom.value))
        elif isinstance(atom, AnyStr):
            if atom.chars is None:
                return None
            out.update(atom.chars)
    return frozenset(out)


def stringify(value: Value, *, data_tainted: bool = False) -> Value:
    """``value|string``: exact for constants, characters otherwise."""
    out: set[Atom] = set()
    for atom in value:
        if isinstance(atom, Const):
            if atom.value is None or isinstance(atom.value, str):
                out.update(const("None" if atom.value is None else atom.value))
            else:
                out.add(Const(str(atom.value)))
        elif isinstance(atom, AnyStr):
            out.add(atom)
        elif isinstance(atom, AnyNum):
            out.add(AnyStr(_NUMBER_CHARS, False))
        elif isinstance(atom, Obj) and atom.kind == "undefined":
            out.add(Const(""))
        elif isinstance(atom, Obj) and atom.kind == "data":
            out.add(AnyStr(None, data_tainted))
        else:
            # The repr of a function, class or container: "<function
            # generate_lorem_ipsum at 0x…>" hands the template underscores.
            out.add(AnyStr(None, True))
    return join(out)


def concat(left: Value, right: Value) -> Value:
    """``left ~ right`` over strings."""
    a, b = stringify(left), stringify(right)
    exact_a = [x for x in a if isinstance(x, Const)]
    exact_b = [x for x in b if isinstance(x, Const)]
    out: set[Atom] = set()
    if len(exact_a) * len(exact_b) <= MAX_EXACT:
        for x in exact_a:
            for y in exact_b:
                out.update(const(str(x.value) + str(y.value)))
    elif exact_a and exact_b:
        out.add(
            AnyStr(_union_chars([chars_of(frozenset(exact_a)), chars_of(frozenset(exact_b))]), True)
        )
    loose_a = [x for x in a if isinstance(x, AnyStr)]
    loose_b = [x for x in b if isinstance(x, AnyStr)]
    for loose, others in ((loose_a, b), (loose_b, a)):
        for piece in loose:
            chars = _union_chars([piece.chars, chars_of(others)])
            out.add(AnyStr(chars, piece.tainted or tainted(others)))
    return join(out)


def star(value: Value) -> Value:
    """Zero or more repetitions of ``value`` (a loop's output)."""
    text = stringify(value)
    if text <= EMPTY_STR:
        return EMPTY_STR
    return join(EMPTY_STR, frozenset({AnyStr(chars_of(text), tainted(text))}), text)


# -- folding pure string operations on exact constants ----------------------------------

_FOLDABLE_STR_METHODS: Final = frozenset(
    {
        "upper", "lower", "title", "capitalize", "swapcase", "casefold", "strip", "lstrip",
        "rstrip", "replace", "split", "rsplit", "splitlines", "startswith", "endswith",
        "find", "rfind", "count", "removeprefix", "removesuffix", "partition", "rpartition",
        "center", "ljust", "rjust", "zfill", "expandtabs", "isalpha", "isdigit", "isalnum",
        "isspace", "islower", "isupper", "istitle", "isidentifier", "isdecimal", "isnumeric",
        "join",
    }
)  # fmt: skip
_CASE_METHODS: Final = frozenset({"upper", "lower", "title", "capitalize", "swapcase", "casefold"})


def _sized(args: Iterable[object]) -> bool:
    return all(not isinstance(a, int) or abs(a) <= MAX_WIDTH for a in args)


def fold_str_method(text: str, method: str, args: Sequence[object]) -> object:
    """``text.method(*args)`` for pure methods on exact arguments; raises LookupError
    when it cannot or should not be computed (unknown method, huge result)."""
    if method not in _FOLDABLE_STR_METHODS or not _sized(args):
        raise LookupError(method)
    if method == "replace" and len(args) >= 2 and isinstance(args[0], str):
        old, new = str(args[0]), str(args[1])
        if (text.count(old) if old else len(text) + 1) * len(new) + len(text) > MAX_LENGTH * 4:
            raise LookupError(method)
    if method == "join":
        if len(args) != 1 or not isinstance(args[0], list | tuple):
            raise LookupError(method)
        if not all(isinstance(x, str) for x in args[0]):
            raise LookupError(method)
    try:
        result = getattr(text, method)(*args)
    except (TypeError, ValueError, OverflowError) as exc:
        raise LookupError(method) from exc
    if isinstance(result, str) and len(result) > MAX_LENGTH * 4:
        raise LookupError(method)
    return result


def str_method_chars(base: Chars, method: str, arg_chars: list[Chars]) -> Chars:
    """Characters of ``base.method(...)``'s string result when the base is not exact."""
    if base is None:
        return None
    if method in _CASE_METHODS:
        out: set[str] = set()
        for c in base:
            out.update(c + c.upper() + c.lower() + c.casefold())
        return frozenset(out)
    if method in ("replace", "join", "center", "ljust", "rjust", "format", "format_map"):
        return _union_chars([base, *arg_chars, frozenset(" ")])
    if method == "zfill":
        return base | _DIGITS | {"-", "+"}
    if method == "expandtabs":
        return base | {" "}
    return base


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-+ #0]*(\d*)(?:\.(\d*))?([a-zA-Z%])")


def fold_percent(fmt: str, args: object) -> str:
    """``fmt % args`` for exact arguments, refusing huge widths; LookupError if not."""
    for m in _PERCENT_SPEC.finditer(fmt):
        width, precision = m.group(1) or "0", m.group(2) or "0"
        if int(width) > MAX_WIDTH or int(precision) > MAX_WIDTH:
            raise LookupError(fmt)
    if "*" in fmt:
        raise LookupError(fmt)
    try:
        result = fmt % args
    except (TypeError, ValueError, OverflowError, KeyError) as exc:
        raise LookupError(fmt) from exc
    if len(result) > MAX_LENGTH * 4:
        raise LookupError(fmt)
    return result


def percent_chars(fmt: Value, args: Value) -> Chars:
    """Characters of ``fmt % args`` when not exact: ``%c`` makes any character."""
    texts = strings(fmt)
    if texts is not None and not any(
        "c" in m.group(3) for t in texts for m in _PERCENT_SPEC.finditer(t)
    ):
        return _union_chars([chars_of(fmt), chars_of(args), _NUMBER_CHARS | {" ", "x", "X", "o"}])
    return None


class _FieldError(Exception):
    """A format field that cannot be resolved statically."""


class _PlainFormatter(string.Formatter):
    """str.format for fields without attribute or index access (those are
    checked as names, never evaluated)."""

    def get_field(self, field_name: str, args: object, kwargs: object) -> tuple[object, object]:
        if "." in field_name or "[" in field_name:
            raise _FieldError(field_name)
        field: tuple[object, object] = super().get_field(field_name, args, kwargs)  # type: ignore[arg-type]
        return field

    def format_field(self, value: object, format_spec: str) -> str:
        if any(int(n) > MAX_WIDTH for n in re.findall(r"\d+", format_spec)):
            raise _FieldError(format_spec)
        return str(super().format_field(value, format_spec))


def format_fields(fmt: str) -> Iterator[tuple[str, ...]]:
    """The attribute and key chains of every replacement field of ``fmt``
    (``'{0.__class__[x]}'`` gives ``('__class__', 'x')``), nested specs included."""
    import _string  # type: ignore[import-not-found]  # the parser str.format itself uses

    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return
    for _, field_name, spec, _ in parsed:
        if field_name is None:
            continue
        try:
            _, rest = _string.formatter_field_name_split(field_name)
            yield tuple(str(key) for _, key in rest)
        except ValueError:
            yield (field_name,)
        if spec:
            yield from format_fields(spec)


def fold_format(fmt: str, args: Sequence[object], kwargs: Mapping[str, object]) -> str:
    """``fmt.format(*args, **kwargs)`` for plain fields; LookupError if not."""
    try:
        result = _PlainFormatter().vformat(fmt, args, kwargs)
    except (_FieldError, ValueError, IndexError, KeyError, TypeError, OverflowError) as exc:
        raise LookupError(fmt) from exc
    if len(result) > MAX_LENGTH * 4:
        raise LookupError(fmt)
    return result


def fold_filter(name: str, value: object, args: list[object]) -> object:
    """Pure Jinja filters on exact values (same results as Jinja's own); LookupError if not."""
    if not _sized(args):
        raise LookupError(name)
    if isinstance(value, str):
        if name in ("upper", "lower", "capitalize", "title"):
            return str(getattr(value, name)())
        if name == "trim":
            return value.strip(*[str(a) for a in args[:1] if isinstance(a, str)])
        if name == "reverse":
            return value[::-1]
        if name in ("string", "e", "escape", "forceescape", "safe"):
            if name in ("e", "escape", "forceescape"):
                from markupsafe import escape

                return str(escape(value))
            return value
        if name == "replace" and len(args) >= 2:
            return fold_str_method(value, "replace", [str(args[0]), str(args[1]), *args[2:3]])
        if name == "center":
            return fold_str_method(value, "center", [args[0] if args else 80])
        if name == "urlencode":
            return quote(value, safe="/")
        if name == "tojson":
            return json.dumps(value, ensure_ascii=False)
        if name == "format":
            return fold_percent(value, tuple(args))
    if name == "string" and (value is None or isinstance(value, int | float | bool)):
        return str(value)
    raise LookupError(name)


def escape_chars(name: str, base: Chars) -> Chars:
    """Characters of a character-mapping filter's result when its input is not exact."""
    if base is None:
        return None
    extra = {
        "e": "&#;0123456789ltgamp",
        "escape": "&#;0123456789ltgamp",
        "forceescape": "&#;0123456789ltgamp",
        "urlencode": "%0123456789ABCDEF+",
        "tojson": '"\\u0123456789abcdefnrt',
        "trim": "",
        "reverse": "",
        "string": "",
        "safe": "",
        "striptags": " ",
        "wordwrap": " \n",
        "indent": " \n",
        "truncate": ".",
    }.get(name)
    if extra is None:
        return None
    return base | frozenset(extra)
