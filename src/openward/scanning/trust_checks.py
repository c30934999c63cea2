"""Is a library class inert when a pickle builds it? Checked against the installed library.

This module backs the trust list (``data/trusted_globals.json``): the generator
(``scripts/build_trust_list.py``) runs it over every class of the libraries it
covers, and the tests re-run it over the shipped list against whatever of those
libraries is installed. It is never used while scanning: it *imports* the
libraries it checks, which is right for trusted, installed code and unthinkable
for a file under scan.

What a pickle can make a class do
---------------------------------
A pickle never runs a class's methods by name; the unpickler runs a fixed set
of hooks, and those are what is checked:

- construction: ``NEWOBJ``/``copyreg.__newobj__`` run ``cls.__new__(cls, *args)``,
  ``copyreg._reconstructor(cls, object, None)`` runs ``object.__new__(cls)``;
  ``REDUCE`` on the class runs ``cls(*args)``: the metaclass ``__call__``,
  ``__new__`` and ``__init__``;
- ``BUILD`` runs ``__setstate__`` (when the class has one) or puts a dict state
  into ``__dict__``; a slot state goes through ``setattr``, so ``__setattr__``
  and property setters;
- ``APPEND(S)``, ``SETITEM(S)``, ``ADDITEMS`` on an instance call its
  ``append``/``extend``, ``__setitem__`` and ``add``;
- an instance used as a dict key or set member has ``__hash__``/``__eq__``
  called; ``BUILD``'s lookup of ``__setstate__`` reaches ``__getattr__``; and
  ``__del__`` runs when the object is collected, with whatever state the pickle gave it.

Each hook the class defines in Python is read (``inspect``/``ast``) and checked
with a small taint analysis: every parameter, ``self`` included, carries data
the pickle chose. A hook fails when it passes such data to a primitive (the
pickle policy's denylist, the generated command runners, and the file,
network and loader functions below), when it calls a value the data supplies
(``state['f']()``, ``self.f()`` for an ``f`` the class does not define,
``callback(x)`` for a parameter), when it looks up an attribute or imports a
module by a name the data supplies, or when it calls a dangerous method
(``write``, ``unlink``, ``load``...) of an object the data supplies. Calls into
Python functions of the same library are followed (to a bounded depth), calls
into other libraries are judged by the primitive list only. Hooks written in
C or Cython are ``native``: their source is not available, so they are
trusted only for the libraries the list names. Generated methods (dataclass
and attrs ``__init__``, namedtuple ``__new__``) only assign their arguments.

The analysis is deliberately small, and its approximations are these: it does
not follow what a state object's own methods do (those are the code of a class
the pickle policy judged on its own), so a function the pickle puts into a
trusted object's state must still be judged by the policy even when the
pickle never calls it itself; a value counts as "the pickle's" when it flows
from the data by assignment, subscript, attribute or iteration, or is
returned by a followed function that may return such a value, but not when a
library function, a library object's method (``_cache.get(key)``) or a library
class computes it; calls deeper than :data:`MAX_DEPTH` are not examined; a
method the class defines is assumed not to be shadowed by an instance
attribute of the same name. Reviews (see :func:`check_class`) record where a
person judged a flagged call inert.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import enum
import hashlib
import inspect
import re
import textwrap
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from openward.scanning.pickle_names import attribute_chain

__all__ = [
    "ClassCheck",
    "FunctionCheck",
    "Problem",
    "check_class",
    "check_function",
    "source_digest",
]

MAX_DEPTH: Final = 8
"""How many calls deep the analysis follows a library's own functions; deeper calls
are not examined (neither what they call nor what they return counts)."""

HOOKS: Final = ("__setstate__", "__getattribute__", "__del__")
"""Hooks every load of an instance may run: ``BUILD`` looks ``__setstate__`` up
(through ``__getattribute__``) and calls it, the collector calls ``__del__``.
``__getattr__`` joins them when the class has no ``__setstate__`` (the lookup falls
through to it)."""

OPCODE_HOOKS: Final[dict[str, str]] = {
    "__setattr__": "BUILD with a slot state",
    "__setitem__": "SETITEM(S) on the instance",
    "append": "APPEND(S) on the instance",
    "extend": "APPENDS on the instance",
    "add": "ADDITEMS on the instance",
    "__getattr__": "APPEND(S)/ADDITEMS on an instance without append/extend/add",
    "__hash__": "the instance as a dict key or set member",
    "__eq__": "the instance as a dict key or set member",
}
"""Hooks only some opcodes reach on an instance, each with what reaches it: a class
whose ``OPCODE_HOOKS`` fail is still trusted, with them listed as ``unsafe_hooks``
so that the pickle machine can flag a stream that drives them."""

_NAME_FROM_UNPICKLER: Final = frozenset({"__getattr__", "__getattribute__"})
"""Hooks whose arguments the unpickler chooses (the attribute name it looks up):
only ``self`` carries the pickle's data."""

# Primitives beyond the pickle policy's denylist: functions that read or write
# files, reach the network or load another model when a state names the path.
_EXTRA_SINK_MODULES: Final[dict[str, str]] = {
    "smart_open": "opens local or remote files",
    "fsspec": "opens local or remote files",
    "h5py": "opens files",
    "safetensors": "reads files",
    "mmap": "maps files",
    "numba.core.serialize": "rebuilds functions from pickled code",
}
_EXTRA_SINK_NAMES: Final = (
    "from_pretrained",
    "cached_file",
    "cached_files",
    "from_single_file",
    "load_from_checkpoint",
    "hf_hub_download",
    "snapshot_download",
)
# Harmless functions in modules the denylist names as a whole.
_HARMLESS: Final = frozenset(
    {
        ("os", "fspath"),
        ("posix", "fspath"),
        ("os", "getpid"),
        ("posix", "getpid"),
        ("os", "cpu_count"),
        ("posix", "cpu_count"),
        ("os", "getenv"),
        ("os", "fsdecode"),
        ("os", "fsencode"),
        ("urllib.request", "url2pathname"),
        ("urllib.request", "pathname2url"),
        ("sys", "getsizeof"),
        ("sys", "getrefcount"),
        ("sys", "intern"),
        ("sys", "getrecursionlimit"),
        ("sys", "exc_info"),
        ("logging", "getLogger"),
        ("threading", "Lock"),
        ("threading", "RLock"),
        ("threading", "local"),
        ("threading", "get_ident"),
        ("_thread", "allocate_lock"),
        ("_thread", "RLock"),
        ("_thread", "get_ident"),
        ("inspect", "signature"),
        ("inspect", "isclass"),
        ("inspect", "isfunction"),
        ("inspect", "ismethod"),
        ("inspect", "getmro"),
        ("inspect", "Parameter"),
        ("io", "BytesIO"),
        ("_io", "BytesIO"),
        ("io", "StringIO"),
        ("_io", "StringIO"),
        ("types", "MappingProxyType"),
        ("types", "MethodType"),
        ("types", "SimpleNamespace"),
        ("copyreg", "__newobj__"),
    }
)
_LOGGING_METHODS: Final = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "isEnabledFor"}
)
DANGEROUS_METHODS: Final = frozenset(
    {
        "write",
        "write_text",
        "write_bytes",
        "writelines",
        "unlink",
        "rmdir",
        "rmtree",
        "touch",
        "mkdir",
        "makedirs",
        "rename",
        "chmod",
        "symlink_to",
        "hardlink_to",
        "open",
        "load",
        "loads",
        "system",
        "popen",
        "exec",
        "eval",
        "save",
        "tofile",
        "to_pickle",
        "read_pickle",
        "load_state_dict_from_url",
    }
)
"""Method names that touch files, run code or load data when called on an object
the pickle supplies (``path.write_text(data)``, ``model.load(path)``)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a hook is not inert."""

    hook: str
    """The hook the unpickler runs (``__setstate__``, ``__init__``...)."""
    where: str
    """The function the problem is in (``module.qualname``), which the hook reaches."""
    what: str
    """What it does with the pickle's data."""
    kind: str = "sink"
    """``sink`` (a primitive), ``calls-value`` (calls a value the pickle supplies),
    ``name`` (attribute or import by a supplied name), ``method`` (a dangerous method
    of a supplied object), ``self-attribute`` (``self.f()`` for an ``f`` the class
    does not define), ``no-source``."""

    def __str__(self) -> str:
        via = "" if self.where.endswith("." + self.hook) else f" (via {self.where})"
        return f"{self.hook}{via}: {self.what}"


@dataclass(frozen=True, slots=True)
class ClassCheck:
    """How a pickle can build a class and whether doing so runs anything the pickle supplies."""

    construct: tuple[str, ...]
    """Ways a pickle may build it safely: ``newobj`` (``cls.__new__(cls, *args)``),
    ``reconstructor`` (``copyreg._reconstructor(cls, object, None)``), ``call``
    (``cls(*args)``: ``__init__`` checked), ``enum`` (``cls(value)`` is a member lookup)."""
    new: str
    """``object``, ``builtin`` (a built-in type's), ``native`` (C/Cython), ``python-checked``,
    ``generated`` (namedtuple), ``enum``."""
    setstate: str
    """``none`` (a dict state goes into ``__dict__``), ``python-checked``, ``native``,
    ``reviewed``."""
    init_checked: bool
    """Calling the class (``REDUCE``) is safe too: its ``__init__`` (and metaclass
    ``__call__``) passed the same checks."""
    problems: tuple[str, ...] = ()
    """Why it cannot be trusted at all (empty: trusted to be built without ``__init__``)."""
    init_problems: tuple[str, ...] = ()
    """Why calling it is not safe (empty when ``init_checked``)."""
    unsafe_hooks: tuple[tuple[str, str], ...] = ()
    """``(hook, why)`` for the hooks of :data:`OPCODE_HOOKS` that failed: the class is
    trusted, but a stream that drives one of them (``APPENDS`` on the instance, a slot
    state...) is not."""
    reviewed: tuple[str, ...] = ()
    """Functions (``module.qualname``) whose flagged calls a person reviewed and
    accepted (the generator's spec says why); a review lapses when the source changes."""

    @property
    def trusted(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class FunctionCheck:
    """Whether a function a pickle calls at load is inert given data arguments."""

    is_function: bool
    """A Python function or a built-in (C) function."""
    native: bool
    problems: tuple[str, ...] = ()
    calls_arguments: bool = False
    """It calls one of its arguments (``__randomstate_ctor(name, ctor)`` calls ``ctor``):
    a global passed to it is called, not merely referenced."""

    @property
    def trusted(self) -> bool:
        return self.is_function and not self.problems


def source_digest(obj: object) -> str | None:
    """SHA-256 (first 16 hex digits) of an object's source, to pin a human review to it."""
    try:
        source = inspect.getsource(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()[:16]


# -- resolving what a call calls --------------------------------------------------


def _top(module: str | None) -> str:
    return (module or "").split(".", 1)[0]


def _spelling(obj: object) -> tuple[str, str] | None:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if isinstance(obj, types.ModuleType):
        return (obj.__name__, "")
    if isinstance(module, str) and isinstance(qualname, str):
        return (module, qualname)
    if isinstance(qualname, str):
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, types.ModuleType):
            return (owner.__name__, qualname)
    return None


@lru_cache(maxsize=1)
def _policy() -> Callable[[str, str], str | None]:
    from openward.scanning.pickle_policy import _primitive_reason

    return _primitive_reason


_BUILTIN_SINKS: Final = frozenset(
    {"eval", "exec", "execfile", "compile", "open", "file", "__import__", "input", "breakpoint"}
)
_HARMLESS_MODULES: Final = frozenset({"posixpath", "ntpath", "genericpath", "urllib.parse"})
_DUNDER: Final = re.compile(r"^__\w+__$")


def _harmless(module: str, name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    if module in _HARMLESS_MODULES or (module, name) in _HARMLESS or (module, last) in _HARMLESS:
        return True
    if module.startswith("os.path") or module.startswith("urllib.parse"):
        return True
    return _top(module) == "logging" and last in _LOGGING_METHODS


def _policy_name(name: str) -> str:
    """``Class.__setattr__`` -> ``Class``: a Python-level dunder of a class the code
    names is a method, not the pickle-level "attribute traversal" the policy means."""
    parts = name.split(".")
    for i, part in enumerate(parts):
        if i > 0 and _DUNDER.match(part):
            return ".".join(parts[:i])
    return name


def sink_reason(obj: object, spelled: tuple[str, str] | None) -> str | None:
    """Why calling ``obj`` (written ``spelled`` in the source) with pickle data is
    dangerous, or None. Both its own name and the spelling count (``np.load`` is
    ``numpy.lib._npyio_impl.load``), unless either is known to be harmless."""
    candidates: list[tuple[str, str]] = []
    spelling = _spelling(obj)
    if spelling is not None:
        candidates.append(spelling)
    if spelled is not None and spelled[1]:
        candidates.append(spelled)
    if any(_harmless(m, n) for m, n in candidates):
        return None
    for module, name in candidates:
        if name.rsplit(".", 1)[-1] in _EXTRA_SINK_NAMES:
            return "loads another model or downloads files"
        for prefix, why in _EXTRA_SINK_MODULES.items():
            if module == prefix or module.startswith(prefix + "."):
                return why
        name = _policy_name(name)
        if module == "builtins" and name.split(".")[0] not in _BUILTIN_SINKS:
            # getattr/setattr are judged by their name argument (see _Analysis._call);
            # vars(self) or object.__setattr__ in library code reach nothing new
            continue
        reason = _policy()(module, name)
        if reason is None and "." in name:
            reason = _policy()(module, name.split(".", 1)[0])
        if reason is not None:
            return reason
    return None


def _unwrap(obj: object) -> object:
    if isinstance(obj, staticmethod | classmethod):
        obj = obj.__func__
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if callable(obj):
        with contextlib.suppress(ValueError):
            obj = inspect.unwrap(obj)
    return obj


def _lookup_static(cls: type, name: str, after: type | None = None) -> tuple[object, type] | None:
    """``name`` as the class (or its MRO after ``after``) defines it, without descriptors."""
    mro = cls.__mro__
    if after is not None and after in mro:
        mro = mro[mro.index(after) + 1 :]
    for klass in mro:
        if name in vars(klass):
            return vars(klass)[name], klass
    return None


def _bound_offset(value: object) -> int:
    """How many parameters of the function behind ``value`` come before the call's
    arguments: 1 for bound methods and classmethods (self/cls), else 0."""
    return int(isinstance(value, types.MethodType | classmethod))


def _is_generated(func: types.FunctionType) -> bool:
    """dataclass/attrs/namedtuple methods: compiled from generated source that only assigns."""
    filename = func.__code__.co_filename
    return filename.startswith("<") and filename != "<stdin>"


# -- the analysis ---------------------------------------------------------------


@lru_cache(maxsize=4096)
def _parse(func: types.FunctionType) -> ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | None:
    try:
        lines, _ = inspect.getsourcelines(func)
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return node
    return None


def _calls(func: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> Iterator[ast.Call]:
    """The calls a function makes when it runs: nested functions and classes count
    only when the function calls them by name (a closure returned for later is not
    run at load)."""
    called = {
        c.func.id
        for c in ast.walk(func)
        if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
    }
    todo: list[ast.AST] = [func.body] if isinstance(func, ast.Lambda) else list(func.body)
    while todo:
        node = todo.pop()
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.name not in called
        ):
            todo.extend(node.decorator_list)
            continue
        if isinstance(node, ast.Call):
            yield node
        todo.extend(ast.iter_child_nodes(node))


_Returns = bool | tuple[bool, ...]


def _any(returns: _Returns) -> bool:
    return any(returns) if isinstance(returns, tuple) else returns


def _own_nodes(func: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> Iterator[ast.AST]:
    """The nodes of a function's own body, not those of functions nested in it."""
    todo: list[ast.AST] = [func.body] if isinstance(func, ast.Lambda) else list(func.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        todo.extend(ast.iter_child_nodes(node))


def _bound_names(target: ast.AST) -> set[str]:
    """Names an assignment to ``target`` binds or changes: ``a, b = ...`` binds a and
    b; ``d[k] = ...`` and ``o.x = ...`` change d and o (not k)."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Tuple | ast.List):
        return set().union(*(_bound_names(e) for e in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    if isinstance(target, ast.Attribute | ast.Subscript):
        return _bound_names(target.value)
    return set()


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[str]:
    a = node.args
    names = [p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]]
    if a.vararg:
        names.append(a.vararg.arg)
    if a.kwarg:
        names.append(a.kwarg.arg)
    return names


def _targets(node: ast.AST) -> Iterator[ast.expr]:
    if isinstance(node, ast.Assign):
        yield from node.targets
    elif isinstance(
        node,
        ast.AugAssign | ast.AnnAssign | ast.NamedExpr | ast.For | ast.AsyncFor | ast.comprehension,
    ):
        yield node.target
    elif isinstance(node, ast.withitem) and node.optional_vars is not None:
        yield node.optional_vars


def _source_of_binding(node: ast.AST) -> ast.expr | None:
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.NamedExpr):
        return node.value
    if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
        return node.iter
    if isinstance(node, ast.withitem):
        return node.context_expr
    return None


def _attribute_of(expr: ast.expr, tainted: set[str]) -> str | None:
    """``x.name`` or ``getattr(x, "name")`` on a tainted ``x``: the attribute name."""
    if isinstance(expr, ast.Attribute) and _names(expr.value) & tainted:
        return expr.attr
    if (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Name)
        and expr.func.id == "getattr"
        and len(expr.args) >= 2
        and _names(expr.args[0]) & tainted
    ):
        name = expr.args[1]
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            return name.value
        if not (_names(name) & tainted):
            return ""  # a method whose name the code (not the pickle) chose
    return None


@dataclass
class _Frame:
    """One function being analysed."""

    func: types.FunctionType
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    owner: type | None
    """The class ``self`` is an instance of (the class under check), for ``self.m()``."""
    defined_in: type | None
    """The class whose body defines ``func``, for ``super()``."""
    tainted: set[str] = field(default_factory=set)
    locals: set[str] = field(default_factory=set)
    values: set[str] = field(default_factory=set)
    """Names that may hold a value the pickle supplied *itself* (not one the library
    computed from it): calling one calls the pickle's value."""
    methods_of_state: dict[str, str] = field(default_factory=dict)
    """Local names bound to ``x.attr`` of a tainted ``x`` that is not ``self``: a method."""
    self_name: str | None = None
    depth: int = 0


_Key = tuple[object, "type | None", frozenset[str]]


@dataclass
class _Record:
    """What the analysis found in one function (called with some parameters tainted)."""

    returns: _Returns = True
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    """``(where, what, kind)`` found in this function's own body."""
    accepted: set[str] = field(default_factory=set)
    callees: dict[_Key, None] = field(default_factory=dict)
    depth: int = 0
    cut: bool = False
    """Something below it was not examined (the depth limit)."""
    done: bool = False


_STORES: dict[tuple[frozenset[str], tuple[tuple[str, str], ...]], dict[_Key, _Record]] = {}
"""Analysed functions, shared by every check with the same followed libraries and
reviews: a library's classes reach the same helpers over and over."""


class _Analysis:
    """Taint analysis of the Python functions one hook reaches."""

    def __init__(
        self, hook: str, library_tops: frozenset[str], reviewed: dict[str, str] | None = None
    ) -> None:
        self.hook = hook
        self.library_tops = library_tops
        self.reviewed = reviewed or {}
        self.store = _STORES.setdefault((library_tops, tuple(sorted(self.reviewed.items()))), {})
        self.stack: list[_Key] = []
        self.roots: dict[_Key, None] = {}

    def _reachable(self) -> Iterator[_Record]:
        seen: set[_Key] = set()
        todo = list(self.roots)
        while todo:
            key = todo.pop()
            if key in seen or key not in self.store:
                continue
            seen.add(key)
            record = self.store[key]
            yield record
            todo.extend(record.callees)

    @property
    def problems(self) -> list[Problem]:
        """Everything found in the functions the hook reaches."""
        found = {
            Problem(self.hook, where, what, kind): None
            for record in self._reachable()
            for where, what, kind in record.problems
        }
        return list(found)

    @property
    def accepted(self) -> set[str]:
        """Reviewed functions whose findings were accepted."""
        return set().union(*(r.accepted for r in self._reachable()))

    def problem(self, frame: _Frame, what: str, kind: str = "sink") -> None:
        where = f"{frame.func.__module__}.{frame.func.__qualname__}"
        record = self.store[self.stack[-1]]
        if where in self.reviewed:
            digest = source_digest(frame.func)
            if digest == self.reviewed[where]:
                record.accepted.add(where)
                return
            what = f"{what} (a review of {where} lapsed: its source changed, digest {digest})"
        record.problems.append((where, what, kind))

    def follows(self, func: object) -> bool:
        return _top(getattr(func, "__module__", None)) in self.library_tops

    def run(
        self,
        func: object,
        owner: type | None,
        defined_in: type | None,
        tainted_params: frozenset[str] | None,
        depth: int = 0,
    ) -> _Returns:
        """Analyse ``func``; whether it may return a value the pickle supplied (per
        element when every ``return`` is a tuple of the same length)."""
        func = _unwrap(func)
        if not isinstance(func, types.FunctionType):
            return True
        key: _Key = (func.__code__, owner, tainted_params or frozenset({"*"}))
        if self.stack:
            self.store[self.stack[-1]].callees[key] = None
        else:
            self.roots[key] = None
        record = self.store.get(key)
        if record is not None and (not record.done or not record.cut or record.depth <= depth):
            return record.returns  # done, or in progress (a cycle: assume the worst)
        record = self.store[key] = _Record(depth=depth)
        if depth > MAX_DEPTH:
            # not examined: neither its calls nor its result count against the hook
            record.returns, record.cut, record.done = False, True, True
            return False
        if _is_generated(func):
            record.returns, record.done = False, True
            return False
        node = _parse(func)
        if node is None:
            record.problems.append(
                (f"{func.__module__}.{func.__qualname__}", "source not found", "no-source")
            )
            record.done = True
            return True
        self.stack.append(key)
        try:
            record.returns = self._analyse(func, node, owner, defined_in, tainted_params, depth)
        finally:
            self.stack.pop()
        record.done = True
        record.cut = any(self.store[c].cut for c in record.callees if c in self.store)
        return record.returns

    def _analyse(
        self,
        func: types.FunctionType,
        node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
        owner: type | None,
        defined_in: type | None,
        tainted_params: frozenset[str] | None,
        depth: int,
    ) -> _Returns:
        params = _params(node)
        frame = _Frame(func, node, owner, defined_in, depth=depth)
        frame.tainted = set(params) if tainted_params is None else set(tainted_params)
        if owner is not None and params:
            raw = inspect.getattr_static(defined_in or owner, func.__name__, None)
            if not isinstance(raw, staticmethod):
                frame.self_name = params[0]
            if isinstance(raw, classmethod) or func.__name__ == "__new__":
                # ``cls``: the class the pickle named, not data
                frame.tainted.discard(params[0])
        frame.values = set(frame.tainted)
        frame.locals = set(params)
        self._propagate(frame)
        for call in _calls(node):
            self._call(frame, call, depth)
        results = [
            r.value for r in _own_nodes(node) if isinstance(r, ast.Return) and r.value is not None
        ]
        lengths = {len(r.elts) if isinstance(r, ast.Tuple) else -1 for r in results}
        if len(lengths) == 1 and -1 not in lengths:
            mask = [False] * lengths.pop()
            for r in results:
                assert isinstance(r, ast.Tuple)
                for i, elt in enumerate(r.elts):
                    mask[i] = mask[i] or _any(self._value(frame, elt))
            return tuple(mask)
        return any(_any(self._value(frame, r)) for r in results)

    def _propagate(self, frame: _Frame) -> None:
        bindings = [n for n in _own_nodes(frame.node) if _source_of_binding(n) is not None]
        for n in bindings:
            for target in _targets(n):
                frame.locals |= _bound_names(target)
        for _ in range(3):
            for n in bindings:
                value = _source_of_binding(n)
                assert value is not None
                if not (_names(value) & frame.tainted):
                    continue
                attr = _attribute_of(value, frame.tainted)
                base_is_self = (
                    isinstance(value, ast.Attribute)
                    and isinstance(value.value, ast.Name)
                    and value.value.id == frame.self_name
                )
                is_value = self._value(frame, value)
                for target in _targets(n):
                    frame.tainted |= _bound_names(target)
                    if (
                        isinstance(is_value, tuple)
                        and isinstance(target, ast.Tuple | ast.List)
                        and len(target.elts) == len(is_value)
                    ):
                        for elt, flag in zip(target.elts, is_value, strict=True):
                            if flag:
                                frame.values |= _bound_names(elt)
                    elif _any(is_value):
                        frame.values |= _bound_names(target)
                    if attr is not None and not base_is_self and isinstance(target, ast.Name):
                        frame.methods_of_state.setdefault(target.id, attr)

    def _value(self, frame: _Frame, expr: ast.expr) -> _Returns:
        """Whether ``expr`` may be a value the pickle supplied, as opposed to one the
        library computed or looked up from it (``klass = get_block_type(dtype)``)."""
        if isinstance(expr, ast.Name):
            return expr.id in frame.values
        if isinstance(expr, ast.Attribute):
            base = expr.value
            if isinstance(base, ast.Name) and base.id == frame.self_name and frame.owner:
                return _lookup_static(frame.owner, expr.attr) is None
            return _any(self._value(frame, base))
        if isinstance(expr, ast.Subscript):
            return _any(self._value(frame, expr.value))
        if isinstance(expr, ast.Starred | ast.NamedExpr):
            return self._value(frame, expr.value)
        if isinstance(expr, ast.IfExp):
            return _any(self._value(frame, expr.body)) or _any(self._value(frame, expr.orelse))
        if isinstance(expr, ast.BoolOp):
            return any(_any(self._value(frame, v)) for v in expr.values)
        if isinstance(expr, ast.Tuple):
            return tuple(_any(self._value(frame, e)) for e in expr.elts)
        if isinstance(expr, ast.List | ast.Set):
            return any(_any(self._value(frame, e)) for e in expr.elts)
        if isinstance(expr, ast.Dict):
            return any(_any(self._value(frame, v)) for v in expr.values if v is not None)
        if isinstance(expr, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            return bool(_names(expr) & frame.values)
        if isinstance(expr, ast.Call):
            return self._call_value(frame, expr)
        return False

    def _call_value(self, frame: _Frame, call: ast.Call) -> _Returns:
        args = [*call.args, *(k.value for k in call.keywords)]
        any_arg = any(_any(self._value(frame, a)) for a in args)
        func = call.func
        if isinstance(func, ast.Name) and func.id not in frame.locals:
            if func.id in ("getattr", "next", "iter", "reversed") and call.args:
                return _any(self._value(frame, call.args[0]))
            resolved = self._resolve_global(frame, [func.id])
            if resolved is None:
                return any_arg
            value = resolved[0]
            if isinstance(value, type):
                return False if self.follows(value) else any_arg
            target = _unwrap(value)
            if isinstance(target, types.FunctionType) and self.follows(target):
                tainted = self._tainted_params(frame, target, call, _bound_offset(value))
                return self.run(target, None, None, tainted, frame.depth + 1)
            return any_arg
        if isinstance(func, ast.Attribute):
            base = func.value
            if isinstance(base, ast.Name) and base.id == frame.self_name and frame.owner:
                found = _lookup_static(frame.owner, func.attr)
                if found is None:
                    return True
                target = _unwrap(found[0])
                if isinstance(target, types.FunctionType) and self.follows(target):
                    offset = 0 if isinstance(found[0], staticmethod) else 1
                    tainted = self._tainted_params(frame, target, call, offset)
                    return self.run(target, frame.owner, found[1], tainted, frame.depth + 1)
                return any_arg
            chain = attribute_chain(func)
            if chain is not None and chain[0] not in frame.locals:
                owner_value = self._resolve_global(frame, chain[:-1])
                if owner_value is not None and not isinstance(
                    owner_value[0], types.ModuleType | type
                ):
                    # a method of a library object (``_cache.get(key)``): its result
                    # comes from that object, not from the arguments
                    return False
                resolved = self._resolve_global(frame, chain)
                if resolved is not None:
                    value = resolved[0]
                    if isinstance(value, type):
                        return False if self.follows(value) else any_arg
                    target = _unwrap(value)
                    if isinstance(target, types.FunctionType) and self.follows(target):
                        tainted = self._tainted_params(frame, target, call, _bound_offset(value))
                        return _any(self.run(target, None, None, tainted, frame.depth + 1))
                    return any_arg
            return any_arg or _any(self._value(frame, base))
        return any_arg or _any(self._value(frame, func))

    # -- one call ------------------------------------------------------------------

    def _resolve_global(
        self, frame: _Frame, chain: list[str]
    ) -> tuple[object, tuple[str, str]] | None:
        """What a global name (and attributes of it) is, and how the source spells it
        as ``(module, dotted name)``."""
        func = frame.func
        head = chain[0]
        if head in frame.locals:
            return None
        closure = dict(zip(func.__code__.co_freevars, func.__closure__ or (), strict=False))
        value: object
        if head in closure:
            try:
                value = closure[head].cell_contents
            except ValueError:
                return None
            module = func.__module__
        elif head in func.__globals__:
            value = func.__globals__[head]
            module = func.__globals__.get("__name__", "")
        elif hasattr(builtins, head):
            value = getattr(builtins, head)
            module = "builtins"
        else:
            return None
        names = [head]
        if isinstance(value, types.ModuleType):
            module, names = value.__name__, []
        for attr in chain[1:]:
            try:
                value = inspect.getattr_static(value, attr)
            except AttributeError:
                try:
                    value = getattr(value, attr)
                except Exception:
                    return None
            if isinstance(value, types.ModuleType) and not names:
                module = value.__name__
            else:
                names.append(attr)
        return value, (module, ".".join(names))

    def _call(self, frame: _Frame, call: ast.Call, depth: int) -> None:
        func_expr = call.func
        arg_nodes: list[ast.expr] = [*call.args, *(k.value for k in call.keywords)]
        tainted_args = any(_names(a) & frame.tainted for a in arg_nodes)

        # getattr/setattr/hasattr/delattr/__import__: only the *name* argument matters
        if isinstance(func_expr, ast.Name) and func_expr.id not in frame.locals:
            name = func_expr.id
            if name in ("getattr", "hasattr", "setattr", "delattr") and len(call.args) >= 2:
                target, attr = call.args[0], call.args[1]
                on_self = isinstance(target, ast.Name) and target.id == frame.self_name
                if _names(attr) & frame.tainted and not on_self:
                    self.problem(
                        frame, f"{name}() with an attribute name the pickle supplies", "name"
                    )
                return
            if name in ("isinstance", "issubclass", "len", "type", "super", "id", "repr", "str"):
                return

        chain: list[str] = []
        node: ast.expr = func_expr
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        chain.reverse()

        # super().m(...)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "super"
            and len(chain) == 1
        ):
            if frame.owner is not None:
                found = _lookup_static(frame.owner, chain[0], after=frame.defined_in)
                if found is not None:
                    self._follow_method(frame, found[0], found[1], chain[0], depth, call)
            return

        # self.m(...), type(self).m(...), self.__class__.m(...)
        on_self = isinstance(node, ast.Name) and node.id == frame.self_name
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "type"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id == frame.self_name
        ):
            on_self = True
        if on_self and chain and chain[0] == "__class__":
            chain = chain[1:]
        if chain and chain[0].startswith("__") and not chain[0].endswith("__"):
            # private names are mangled with the name of the class that spells them
            definer = frame.defined_in or frame.owner
            if definer is not None:
                chain = [f"_{definer.__name__.lstrip('_')}{chain[0]}", *chain[1:]]
        if on_self and frame.owner is not None and not chain:
            # self(...): the class's own __call__
            found = _lookup_static(frame.owner, "__call__")
            if found is not None:
                self._follow_method(frame, found[0], found[1], "__call__", depth, call)
            return
        if on_self and frame.owner is not None and len(chain) == 1:
            found = _lookup_static(frame.owner, chain[0])
            if found is None:
                self.problem(
                    frame,
                    f"calls self.{chain[0]}(), which the class does not define: "
                    "the object's state supplies it",
                    "self-attribute",
                )
                return
            self._follow_method(frame, found[0], found[1], chain[0], depth, call)
            return
        if on_self and len(chain) > 1:
            # a method of an attribute: class code of an object the state supplies
            if chain[-1] in DANGEROUS_METHODS:
                self.problem(
                    frame, f"calls .{chain[-1]}() of an object the pickle supplies", "method"
                )
            return

        if isinstance(node, ast.Name):
            if node.id in frame.locals:
                if not chain:
                    if node.id in frame.methods_of_state:
                        method = frame.methods_of_state[node.id]
                        if method in DANGEROUS_METHODS:
                            self.problem(
                                frame,
                                f"calls .{method}() of an object the pickle supplies",
                                "method",
                            )
                        return
                    if node.id in frame.values:
                        self.problem(
                            frame, f"calls {node.id}(), a value the pickle supplies", "calls-value"
                        )
                    return
                if node.id in frame.tainted and chain[-1] in DANGEROUS_METHODS:
                    self.problem(
                        frame, f"calls .{chain[-1]}() of an object the pickle supplies", "method"
                    )
                return
            resolved = self._resolve_global(frame, [node.id, *chain])
            if resolved is None:
                return
            value, spelled = resolved
            reason = sink_reason(value, spelled)
            if reason is not None:
                if tainted_args:
                    where = ".".join(p for p in spelled if p)
                    self.problem(frame, f"passes the pickle's data to {where} ({reason})")
                return
            if tainted_args:
                self._follow_callable(frame, value, call, depth)
            return

        # anything else: a call of a computed value (subscript, call result...)
        if (
            not chain
            and isinstance(func_expr, ast.Call)
            and isinstance(func_expr.func, ast.Name)
            and func_expr.func.id == "getattr"
            and len(func_expr.args) >= 2
        ):
            # getattr(obj, name)(...): a method of obj (a supplied name is reported
            # where getattr is called)
            name_arg = func_expr.args[1]
            if (
                isinstance(name_arg, ast.Constant)
                and name_arg.value in DANGEROUS_METHODS
                and _names(func_expr.args[0]) & frame.tainted
            ):
                self.problem(
                    frame, f"calls .{name_arg.value}() of an object the pickle supplies", "method"
                )
            return
        if not chain and _any(self._value(frame, func_expr)):
            self.problem(frame, "calls a value the pickle supplies", "calls-value")
        elif chain and _names(node) & frame.tainted and chain[-1] in DANGEROUS_METHODS:
            self.problem(frame, f"calls .{chain[-1]}() of an object the pickle supplies", "method")

    def _tainted_params(
        self, frame: _Frame, func: types.FunctionType, call: ast.Call, offset: int
    ) -> frozenset[str] | None:
        """The parameters of ``func`` that receive the pickle's data in ``call``.

        ``offset`` parameters come before the call's arguments (``self``/``cls``);
        the first of them is tainted when it is the pickle-built object (``offset`` 1
        on an instance method).
        """
        node = _parse(func)
        if node is None:
            return None
        a = node.args
        positional = [p.arg for p in [*a.posonlyargs, *a.args]]
        keyword = [p.arg for p in a.kwonlyargs]
        everything = set(positional) | set(keyword)
        if a.vararg:
            everything.add(a.vararg.arg)
        if a.kwarg:
            everything.add(a.kwarg.arg)
        out: set[str] = set()
        for i, arg in enumerate(call.args):
            tainted = bool(_names(arg) & frame.tainted)
            if isinstance(arg, ast.Starred):
                if tainted:
                    out |= set(positional[i + offset :])
                    if a.vararg:
                        out.add(a.vararg.arg)
                break
            if not tainted:
                continue
            if i + offset < len(positional):
                out.add(positional[i + offset])
            elif a.vararg:
                out.add(a.vararg.arg)
        for kw in call.keywords:
            if not (_names(kw.value) & frame.tainted):
                continue
            if kw.arg is None:
                out |= everything
            elif kw.arg in everything:
                out.add(kw.arg)
            elif a.kwarg:
                out.add(a.kwarg.arg)
        return frozenset(out)

    def _follow_method(
        self,
        frame: _Frame,
        raw: object,
        klass: type,
        name: str,
        depth: int,
        call: ast.Call,
        bound_to_self: bool = True,
    ) -> None:
        if isinstance(raw, property):
            return
        func = _unwrap(raw)
        if isinstance(func, types.FunctionType):
            if not (self.follows(func) or func.__module__ == frame.func.__module__):
                reason = sink_reason(func, None)
                if reason is not None:
                    self.problem(frame, f"reaches {func.__module__}.{func.__qualname__} ({reason})")
                return
            if isinstance(raw, staticmethod):
                tainted = self._tainted_params(frame, func, call, 0)
            else:
                tainted = self._tainted_params(frame, func, call, 1)
                node = _parse(func)
                if tainted is not None and node is not None and bound_to_self:
                    first = _params(node)[:1]
                    if not isinstance(raw, classmethod):
                        tainted = tainted | frozenset(first)
            self.run(func, frame.owner, klass, tainted, depth + 1)
            return
        if callable(func):
            reason = sink_reason(func, None)
            if reason is not None:
                self.problem(frame, f"calls self.{name} ({reason})")

    def _follow_callable(self, frame: _Frame, value: object, call: ast.Call, depth: int) -> None:
        if isinstance(value, type):
            if value.__module__ == "builtins" or not self.follows(value):
                return
            for hook in ("__new__", "__init__", "__post_init__"):
                found = _lookup_static(value, hook)
                if found is None or found[1] is object:
                    continue
                func = _unwrap(found[0])
                if not isinstance(func, types.FunctionType):
                    continue
                tainted = (
                    None if hook == "__post_init__" else self._tainted_params(frame, func, call, 1)
                )
                self.run(func, value, found[1], tainted, depth + 1)
            return
        func = _unwrap(value)
        if isinstance(func, types.FunctionType) and self.follows(func):
            tainted = self._tainted_params(frame, func, call, _bound_offset(value))
            self.run(func, None, None, tainted, depth + 1)


# -- classes ----------------------------------------------------------------------


def _kind_of(raw: object, klass: type) -> str:
    """``object``, ``builtin``, ``native`` or ``python`` for a hook found on ``klass``."""
    if klass is object:
        return "object"
    if klass.__module__ == "builtins":
        return "builtin"
    func = _unwrap(raw)
    if isinstance(func, types.FunctionType):
        return "python"
    return "native"


def _is_namedtuple(cls: type) -> bool:
    return issubclass(cls, tuple) and hasattr(cls, "_fields") and hasattr(cls, "_make")


class _Judge:
    """Runs hook analyses for one class and collects what reviews accepted."""

    def __init__(self, tops: frozenset[str], reviewed: dict[str, str]) -> None:
        self.tops = tops
        self.reviewed = reviewed
        self.accepted: set[str] = set()

    def analyse(
        self,
        hook: str,
        func: object,
        owner: type | None,
        defined_in: type | None,
        extra_tops: frozenset[str] = frozenset(),
        tainted: frozenset[str] | None = None,
    ) -> list[str]:
        analysis = _Analysis(hook, self.tops | extra_tops, self.reviewed)
        analysis.run(func, owner, defined_in, tainted)
        self.accepted |= analysis.accepted
        return list(dict.fromkeys(str(p) for p in analysis.problems))

    def hook(self, cls: type, name: str) -> tuple[str, list[str]]:
        """(kind, problems) of the hook ``name`` as ``cls`` resolves it."""
        found = _lookup_static(cls, name)
        if found is None:
            return "none", []
        raw, klass = found
        kind = _kind_of(raw, klass)
        if kind != "python":
            return kind, []
        tainted: frozenset[str] | None = None
        func = _unwrap(raw)
        if name in _NAME_FROM_UNPICKLER and isinstance(func, types.FunctionType):
            node = _parse(func)
            tainted = frozenset(_params(node)[:1]) if node is not None else None
        return "python-checked", self.analyse(
            name, raw, cls, klass, frozenset({_top(klass.__module__)}), tainted
        )


def check_class(
    cls: object,
    *,
    library_tops: frozenset[str] = frozenset(),
    native_ok: bool = True,
    reviewed: dict[str, str] | None = None,
) -> ClassCheck:
    """Check one class (see the module docstring for what is checked).

    ``library_tops``: top-level packages whose Python code the analysis follows
    (the class's own is always followed). ``native_ok``: trust hooks written in
    C/Cython (only for the libraries the trust list names). ``reviewed``:
    ``module.qualname`` of a function -> digest of the source a person reviewed;
    what the analysis flags inside it is accepted while the source is unchanged.
    """
    if not isinstance(cls, type):
        return ClassCheck((), "", "", False, problems=("not a class",))
    if issubclass(cls, type):
        return ClassCheck((), "", "", False, problems=("a metaclass: calling it creates classes",))
    tops = frozenset(library_tops) | {_top(cls.__module__)}
    judge = _Judge(tops, reviewed or {})
    problems: list[str] = []

    # construction without __init__
    is_enum = isinstance(cls, enum.EnumMeta)
    new_found = _lookup_static(cls, "__new__")
    new_kind = "object"
    if is_enum:
        new_kind = "enum"
    elif _is_namedtuple(cls) and new_found is not None and _kind_of(*new_found) == "python":
        new_kind = "generated"
    elif new_found is not None:
        new_kind = _kind_of(new_found[0], new_found[1])
        if new_kind == "python":
            problems += judge.analyse("__new__", new_found[0], cls, new_found[1])
            new_kind = "python-checked"
        elif new_kind == "native" and not native_ok:
            problems.append("__new__ is native code of a library the list does not name")

    # BUILD, attribute lookup, collection
    setstate_kind = "none"
    fatal = HOOKS if _lookup_static(cls, "__setstate__") else (*HOOKS, "__getattr__")
    for hook in fatal:
        kind, found = judge.hook(cls, hook)
        if hook == "__setstate__":
            setstate_kind = kind
            if kind == "native" and not native_ok:
                problems.append("__setstate__ is native code of a library the list does not name")
        problems += found

    # hooks only some opcodes reach
    unsafe: dict[str, str] = {}
    for hook in OPCODE_HOOKS:
        if hook in fatal:
            continue
        _, found = judge.hook(cls, hook)
        if found:
            unsafe[hook] = found[0]
    for attr, raw in _class_properties(cls):
        if isinstance(raw.fset, types.FunctionType):
            found = judge.analyse(f"{attr}.setter", raw.fset, cls, None)
            if found and "__setattr__" not in unsafe:
                unsafe["__setattr__"] = found[0]

    # REDUCE: cls(*args) runs the metaclass __call__, __new__ and __init__
    init_problems: list[str] = []
    if is_enum:
        init_problems += judge.hook(cls, "_missing_")[1]
    else:
        meta_call = _lookup_static(type(cls), "__call__")
        if meta_call is not None and meta_call[1] not in (type, object):
            kind = _kind_of(meta_call[0], meta_call[1])
            if kind == "python":
                init_problems += judge.analyse(
                    "metaclass __call__",
                    meta_call[0],
                    None,
                    None,
                    frozenset({_top(type(cls).__module__)}),
                )
            elif not native_ok:
                init_problems.append("metaclass __call__ is native code")
        init_found = _lookup_static(cls, "__init__")
        if init_found is not None:
            kind = _kind_of(init_found[0], init_found[1])
            if kind == "python":
                init_problems += judge.analyse("__init__", init_found[0], cls, init_found[1])
                post = _lookup_static(cls, "__post_init__")
                if dataclasses.is_dataclass(cls) and post is not None:
                    init_problems += judge.analyse("__post_init__", post[0], cls, post[1])
            elif kind == "native" and not native_ok:
                init_problems.append("__init__ is native code")
    problems = list(dict.fromkeys(problems))
    init_checked = not init_problems and not problems
    construct: tuple[str, ...]
    if problems:
        construct = ()
    elif is_enum:
        construct = ("enum",) if init_checked else ()
    else:
        construct = ("newobj", "reconstructor") + (("call",) if init_checked else ())
    return ClassCheck(
        construct=construct,
        new=new_kind,
        setstate=setstate_kind,
        init_checked=init_checked,
        problems=tuple(problems),
        init_problems=tuple(dict.fromkeys(init_problems)),
        unsafe_hooks=tuple(sorted(unsafe.items())),
        reviewed=tuple(sorted(judge.accepted)),
    )


def _class_properties(cls: type) -> Iterator[tuple[str, property]]:
    seen: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or klass.__module__ == "builtins":
            continue
        for attr, raw in vars(klass).items():
            if attr not in seen and isinstance(raw, property):
                seen.add(attr)
                yield attr, raw


# -- functions --------------------------------------------------------------------


def check_function(
    func: object, *, library_tops: frozenset[str] = frozenset(), native_ok: bool = True
) -> FunctionCheck:
    """Check a function a pickle calls (a reducer) or stores (an activation, a scorer).

    Every argument is pickle data. Calling one of them is recorded
    (``calls_arguments``) rather than failed: the policy judges the global passed in.
    """
    unwrapped = _unwrap(func)
    if isinstance(unwrapped, types.FunctionType):
        analysis = _Analysis(
            unwrapped.__name__, frozenset(library_tops) | {_top(unwrapped.__module__)}
        )
        analysis.run(unwrapped, None, None, None)
        calls_args = [p for p in analysis.problems if p.kind == "calls-value"]
        other = [str(p) for p in analysis.problems if p.kind != "calls-value"]
        return FunctionCheck(True, False, tuple(other), bool(calls_args))
    if isinstance(unwrapped, types.BuiltinFunctionType | types.BuiltinMethodType) or (
        callable(unwrapped)
        and type(unwrapped).__name__ in ("cython_function_or_method", "fused_cython_function")
    ):
        if not native_ok:
            return FunctionCheck(True, True, ("native code of a library the list does not name",))
        return FunctionCheck(True, True)
    return FunctionCheck(False, False, ("not a function",))
