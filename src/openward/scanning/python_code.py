"""Python files a loader would run: what they import and what they call.

``trust_remote_code=True`` makes transformers import the modules that
``auto_map`` names (and sentence-transformers, diffusers and
``generate(custom_generate=…)`` do the same with theirs). The source is read
with :mod:`ast` (parsed, never compiled or imported).

Matching call names against a list misses every alias: ``x = os.system;
x(cmd)``, ``sp = __import__("subprocess")``, ``getattr(os, "sys" + "tem")``,
``globals()["__builtins__"]``, ``os.__dict__["system"]``, a
``functools.partial`` or a helper function that returns the callable. So a
small data flow runs over the syntax tree: every name, attribute path and
simple function return is bound to the set of dotted objects it can refer to
(``{"os.system"}``), followed through assignments, attribute access,
subscripts of namespaces (``globals()``, ``vars(m)``, ``m.__dict__``,
``sys.modules``), ``getattr`` and ``importlib.import_module`` with names
folded from constants, to a fixed point. Every call (and every dangerous
callable handed to another call or used as a decorator) is then judged by
what it resolves to. A module attribute or an import whose name the code
computes (``getattr(os, name)``, ``importlib.import_module(var)``) is
reported as dynamic code access: what it reaches is decided at run time.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

__all__ = ["SEVERE", "CodeReport", "analyse_python"]

# Call names (``*`` ends a prefix) and what they touch.
_CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    "process": (
        "os.system", "os.popen", "os.exec*", "os.spawn*", "os.fork", "os.posix_spawn*",
        "posix.system", "posix.popen", "nt.system", "subprocess.*", "pty.spawn",
        "asyncio.create_subprocess_*", "multiprocessing.Process", "commands.getoutput",
        "platform.popen", "pty.fork", "os.forkpty", "os.startfile",
        "uuid._get_command_stdout", "asyncio.subprocess.create_subprocess_*",
        "multiprocessing.util.spawnv_passfds", "_posixsubprocess.fork_exec",
        "pydoc.pipepager", "pydoc.tempfilepager",
    ),
    "code": (
        "eval", "exec", "compile", "__import__", "builtins.eval", "builtins.exec",
        "builtins.compile", "builtins.__import__", "importlib.import_module",
        "importlib.__import__", "importlib.util.spec_from_file_location",
        "importlib.util.module_from_spec", "importlib.machinery.SourceFileLoader", "runpy.*",
        "marshal.loads", "types.FunctionType", "types.CodeType", "ctypes.*", "cffi.*",
        "code.InteractiveInterpreter", "code.InteractiveConsole", "code.interact",
        "pydoc.locate",
        # run Python source or load code files without saying "exec" or "import"
        "timeit.timeit", "timeit.repeat", "timeit.Timer", "timeit.main", "cProfile.run",
        "cProfile.runctx", "profile.run", "profile.runctx", "pdb.run", "pdb.runeval",
        "pdb.runctx", "trace.Trace", "site.addsitedir", "site.addpackage", "imp.load_*",
        "zipimport.zipimporter", "importlib.machinery.SourcelessFileLoader",
        "importlib.machinery.ExtensionFileLoader", "logging.config.fileConfig",
        "logging.config.listen", "torch.utils.cpp_extension.load*", "torch.ops.load_library",
        "torch.utils.benchmark.Timer",
        # breakpoint() imports and calls whatever PYTHONBREAKPOINT names
        "builtins.breakpoint",
    ),
    "network": (
        "socket.*", "urllib.request.*", "urllib3.*", "requests.*", "httpx.*", "http.client.*",
        "aiohttp.*", "ftplib.*", "smtplib.*", "paramiko.*", "webbrowser.*", "telnetlib.*",
    ),
    "deserialisation": (
        "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load*", "cPickle.load*",
        "dill.load*", "cloudpickle.load*", "joblib.load", "shelve.open", "torch.load",
        "yaml.load", "yaml.unsafe_load", "yaml.full_load", "numpy.load", "pandas.read_pickle",
    ),
    "files": ("shutil.rmtree", "os.remove", "os.unlink", "os.rmdir", "shutil.move", "os.chmod"),
}  # fmt: skip
SEVERE: Final = frozenset({"process", "code", "network", "deserialisation", "import-time write"})
# Calls that write files: at import time (module or class body) they are how a
# dropper persists (a ``.pth`` file or ``sitecustomize.py`` runs at every start).
_WRITERS: Final = (
    "builtins.open", "io.open", "codecs.open", "os.open", "os.write", "os.rename",
    "os.replace", "os.symlink", "os.link", "shutil.copy*", "shutil.move",
    "pathlib.Path.write_*", "pathlib.Path.touch",
)  # fmt: skip
_WRITER_METHODS: Final = frozenset(
    {"write_text", "write_bytes", "touch", "symlink_to", "hardlink_to"}
)
# Attributes that hand out a namespace whatever object they are read from.
_GLOBALS_ATTRIBUTES: Final = frozenset({"__globals__", "f_globals", "f_locals", "func_globals"})
_BUILTINS_ATTRIBUTES: Final = frozenset({"__builtins__", "f_builtins"})

# Modules whose attributes include code-execution primitives: looking one of
# their attributes up by a computed name reaches them without naming them.
_DANGEROUS_MODULES: Final = frozenset(
    {"os", "posix", "nt", "subprocess", "builtins", "__builtin__", "importlib", "sys", "pty",
     "runpy", "shutil", "socket", "pickle", "_pickle", "marshal", "ctypes", "code", "codeop",
     "commands", "platform", "multiprocessing", "asyncio", "types", "operator", "functools",
     "webbrowser", "pydoc", "dill", "cloudpickle", "shelve", "io", "posixpath"}
)  # fmt: skip
_SENSITIVE_ATTRIBUTES: Final = frozenset(
    {"system", "popen", "Popen", "run", "call", "check_call", "check_output", "getoutput",
     "execv", "execve", "execl", "execvp", "spawnv", "eval", "exec", "compile", "__import__",
     "import_module", "load", "loads", "open", "__globals__", "__builtins__", "__dict__"}
)  # fmt: skip
_BUILTIN_NAMES: Final = frozenset(dir(builtins))
_DYNAMIC: Final = "<computed>"
"""Marks an object reached through a name the code computes."""
_COMPUTED_VARIABLE: Final = "<computed variable>"
"""``globals()[name]``/``locals()[name]`` with a computed name: reading a
variable by name is common (diffusers' pipelines do ``locals()[k]`` for their
step callbacks), so it counts as code access only where it is called."""
_NAMESPACE: Final = "<namespace>."
"""``<namespace>.os`` is the attribute dictionary of ``os`` (``vars(os)``, ``os.__dict__``)."""
_MAX_TARGETS: Final = 64
_MAX_DOTS: Final = 6
_MAX_PASSES: Final = 12


@dataclass
class CodeReport:
    """What one Python file imports and calls."""

    imports: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    """(category, what it resolves to, line) for every call in a category."""
    relative_imports: list[str] = field(default_factory=list)
    """Modules imported relative to the file (``from .utils import x``): run too."""
    error: str | None = None
    """Why the file could not be parsed, if it could not."""


@lru_cache(maxsize=8192)
def _category(name: str) -> str | None:
    for category, patterns in _CATEGORIES.items():
        for pattern in patterns:
            if name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1])):
                return category
    return None


def _safe_call(name: str, call: ast.Call) -> bool:
    """Calls that are in a category by name but safe as written."""
    if name == "torch.load":
        return any(
            kw.arg == "weights_only"
            and isinstance(kw.value, ast.Constant)
            and kw.value.value is True
            for kw in call.keywords
        )
    if name == "numpy.load":
        return not any(
            kw.arg == "allow_pickle"
            and not (isinstance(kw.value, ast.Constant) and kw.value.value is False)
            for kw in call.keywords
        )
    if name == "yaml.load":
        return any(kw.arg == "Loader" and "Safe" in ast.unparse(kw.value) for kw in call.keywords)
    if name in ("importlib.import_module", "__import__", "builtins.__import__"):
        # A constant module name is resolved and judged like any other import.
        return bool(call.args) and _const_str(call.args[0]) is not None
    return False


def _const_str(node: ast.expr) -> str | None:
    """The string ``node`` always evaluates to, folding constant concatenation,
    f-strings of constants, ``"".join([...])`` and ``%``/``.format`` of constants."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _const_str(node.left), _const_str(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                parts.append(value.value)
            elif isinstance(value, ast.FormattedValue) and value.format_spec is None:
                inner = _const_str(value.value)
                if inner is None:
                    return None
                parts.append(inner)
            else:
                return None
        return "".join(parts)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.List | ast.Tuple)
    ):
        sep = _const_str(node.func.value)
        items = [_const_str(e) for e in node.args[0].elts]
        if sep is not None and all(i is not None for i in items):
            return sep.join(i for i in items if i is not None)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("lower", "upper", "strip")
        and not node.args
    ):
        inner = _const_str(node.func.value)
        return str(getattr(inner, node.func.attr)()) if inner is not None else None
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        inner = _const_str(node.value)
        limits: list[ast.expr | None] = [node.slice.lower, node.slice.upper, node.slice.step]
        bounds = [
            p.value if isinstance(p, ast.Constant) and isinstance(p.value, int) else None
            for p in limits
        ]
        if inner is not None and all(
            p is None or b is not None for p, b in zip(limits, bounds, strict=True)
        ):
            return inner[slice(*bounds)]
    return None


class _Flow:
    """Names and attribute paths -> the dotted objects they may refer to."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.env: dict[str, set[str]] = {}
        self.returns: dict[str, set[str]] = {}
        self.star_imports: list[str] = []
        self.changed = False
        self.dynamic: list[tuple[str, int]] = []
        # The nodes every pass visits, collected once.
        self.statements = list(_walk_statements(tree.body))
        self.function_returns = {
            id(node): [r for r in ast.walk(node) if isinstance(r, ast.Return) and r.value]
            for node in self.statements
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        nodes = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.NamedExpr | ast.comprehension | ast.Lambda)
        ]
        self.bindings = [n for n in nodes if not isinstance(n, ast.Lambda)]
        self.lambdas = [n for n in nodes if isinstance(n, ast.Lambda)]
        self.risky_classes: set[str] = set()
        self.class_of: dict[int, str] = {}
        """Statements of a class body -> the class: what they bind are class attributes."""
        for node in self.statements:
            if isinstance(node, ast.ClassDef):
                for inner in _class_scope(node.body):
                    self.class_of[id(inner)] = node.name

    # -- binding ---------------------------------------------------------------------
    def bind(self, key: str, targets: Iterable[str]) -> None:
        current = self.env.setdefault(key, set())
        before = len(current)
        for t in targets:
            if len(current) >= _MAX_TARGETS:
                break
            current.add(t)
        if len(current) != before:
            self.changed = True

    def bind_target(self, target: ast.expr, values: set[str]) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, values)
        elif isinstance(target, ast.Attribute):
            path = _path(target)
            if path is not None:
                self.bind(path, values)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self.bind_target(element, values)
        elif isinstance(target, ast.Starred):
            self.bind_target(target.value, values)

    def bind_defaults(self, args: ast.arguments) -> None:
        """A parameter may be its default: ``def run(cmd, sh=os.system): sh(cmd)``."""
        positional = [*args.posonlyargs, *args.args]
        with_defaults = positional[len(positional) - len(args.defaults) :]
        pairs = list(zip(with_defaults, args.defaults, strict=True))
        pairs += [
            (a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None
        ]
        for arg, default in pairs:
            # only what can run code: names are not scoped, and every parameter
            # called ``dtype`` taking ``torch.float32`` would merge needlessly
            values = {v for v in self.resolve(default) if _may_run_code(v)}
            if values:
                self.bind(arg.arg, values)

    def bind_class_attribute(self, node: ast.stmt, target: ast.expr, values: set[str]) -> None:
        """``class C: run = os.system`` makes ``C.run``, ``self.run`` and ``cls.run`` too."""
        owner = self.class_of.get(id(node))
        if owner is None:
            return
        names = [target] if isinstance(target, ast.Name) else []
        if isinstance(target, ast.Tuple | ast.List):
            names = [e for e in target.elts if isinstance(e, ast.Name)]
        for name in names:
            for key in (f"<class>{owner}.{name.id}", f"self.{name.id}", f"cls.{name.id}"):
                self.bind(key, values)

    # -- resolution ------------------------------------------------------------------
    def lookup(self, name: str) -> set[str]:
        if name in self.env:
            return self.env[name]
        if name == "__builtins__":
            return {"builtins"}
        found = {f"{module}.{name}" for module in self.star_imports}
        if name in _BUILTIN_NAMES:
            found.add(f"builtins.{name}")
        return found

    def resolve(self, node: ast.expr, depth: int = 0) -> set[str]:
        """The dotted objects ``node`` may evaluate to (empty when unknown or plain data)."""
        if depth > 40:
            return set()
        if isinstance(node, ast.Name):
            return set(self.lookup(node.id))
        if isinstance(node, ast.Attribute):
            out: set[str] = set()
            path = _path(node)
            if path is not None and path in self.env:
                out |= self.env[path]
            # A function's or frame's namespace, whatever the object (a lambda, a frame
            # from sys._getframe(), any imported function): globals lead to builtins.
            if node.attr in _GLOBALS_ATTRIBUTES:
                out.add("builtins.globals")
            elif node.attr in _BUILTINS_ATTRIBUTES:
                out.add("builtins")
            for base in self.resolve(node.value, depth + 1):
                if base.startswith("<class>"):
                    out |= self.env.get(f"{base}.{node.attr}", set())
                if node.attr == "__self__" and base.startswith("builtins."):
                    out.add("builtins")  # print.__self__ is the builtins module
                elif node.attr == "__dict__":
                    out.add(_NAMESPACE + base)
                elif base.startswith(_NAMESPACE) and node.attr in ("get", "__getitem__"):
                    out.add(f"{base}.{node.attr}")
                elif base.count(".") < _MAX_DOTS and not base.endswith(f".{node.attr}"):
                    # Cycles through unscoped names (dtype = config.dtype) would grow
                    # x.dtype.dtype... one step per pass; no primitive is that deep.
                    out.add(f"{base}.{node.attr}")
            return out
        if isinstance(node, ast.Subscript):
            key = _const_str(node.slice)
            out = set()
            for base in self.resolve(node.value, depth + 1):
                out |= self.subscript(base, key, node)
            return out
        if isinstance(node, ast.Call):
            return self.resolve_call(node, depth)
        if isinstance(node, ast.IfExp):
            return self.resolve(node.body, depth + 1) | self.resolve(node.orelse, depth + 1)
        if isinstance(node, ast.BoolOp):
            out = set()
            for value in node.values:
                out |= self.resolve(value, depth + 1)
            return out
        if isinstance(node, ast.NamedExpr):
            return self.resolve(node.value, depth + 1)
        if isinstance(node, ast.Lambda):
            return {f"<lambda>{id(node)}"}
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            out = set()
            for element in node.elts:
                out |= self.resolve(element, depth + 1)
            return out
        if isinstance(node, ast.Dict):
            out = set()
            for value in node.values:
                out |= self.resolve(value, depth + 1)
            return out
        if isinstance(node, ast.Starred):
            return self.resolve(node.value, depth + 1)
        return set()

    def subscript(self, base: str, key: str | None, node: ast.AST) -> set[str]:
        """``base[key]`` for the namespaces the code can index by name."""
        namespace: str | None = None
        if base in ("builtins.globals", "builtins.locals") or base.endswith(".<globals>"):
            namespace = ""
        elif base.startswith(_NAMESPACE):
            namespace = base[len(_NAMESPACE) :]
        elif base == "builtins":  # __builtins__ is the builtins dict in imported modules
            namespace = "builtins"
        elif base in ("sys.modules",):
            if key is None:
                self.dynamic.append(("sys.modules[…]", getattr(node, "lineno", 0)))
                return {_DYNAMIC}
            return {key}
        if namespace is None:
            # Containers are transparent for what can run code: {"x": os.system}["x"],
            # [os][0]. Other values stop here: names are not scoped, and letting every
            # subscript carry its base made ordinary modeling code converge slowly.
            if _category(_normalise(base)) is not None or base.split(".")[0] in _DANGEROUS_MODULES:
                return {base}
            return set()
        if key is None:
            if not namespace:
                return {_COMPUTED_VARIABLE}
            if namespace.split(".")[0] in _DANGEROUS_MODULES:
                what = f"vars({namespace})[…]" if namespace else "globals()[…]"
                self.dynamic.append((what, getattr(node, "lineno", 0)))
                return {_DYNAMIC}
            return set()
        if not namespace:
            if key == "__builtins__":
                return {"builtins"}
            return set(self.lookup(key))
        return {f"{namespace}.{key}"}

    def resolve_call(self, node: ast.Call, depth: int) -> set[str]:
        out: set[str] = set()
        callees = self.resolve(node.func, depth + 1)
        for callee in callees:
            if callee in ("builtins.__import__", "importlib.import_module", "importlib.__import__"):
                name = _const_str(node.args[0]) if node.args else None
                if name is None:
                    out.add(_DYNAMIC)
                else:
                    out.add(name if callee != "builtins.__import__" else name.split(".")[0])
                    if callee == "builtins.__import__" and _has_fromlist(node):
                        out.add(name)
            elif callee == "builtins.getattr":
                if len(node.args) >= 2:
                    name = _const_str(node.args[1])
                    for base in self.resolve(node.args[0], depth + 1):
                        if name is not None:
                            out.add(f"{base}.{name}")
                        elif _dangerous_base(base):
                            self.dynamic.append((f"getattr({base}, …)", node.lineno))
                            out.add(_DYNAMIC)
            elif callee in ("builtins.vars",):
                if node.args:
                    out |= {_NAMESPACE + b for b in self.resolve(node.args[0], depth + 1)}
                else:
                    out.add("builtins.globals")
            elif callee in ("builtins.globals", "builtins.locals"):
                out.add(callee)
            elif callee in ("functools.partial", "functools.wraps", "builtins.staticmethod",
                            "builtins.classmethod"):  # fmt: skip
                if node.args:
                    out |= self.resolve(node.args[0], depth + 1)
            elif callee in ("operator.attrgetter", "operator.methodcaller"):
                names = [
                    _const_str(a) for a in node.args[: 1 if callee.endswith("caller") else None]
                ]
                if any(n is None or n.split(".")[-1] in _SENSITIVE_ATTRIBUTES for n in names):
                    self.dynamic.append((f"{callee}({', '.join(map(repr, names))})", node.lineno))
                    out.add(_DYNAMIC)
            elif callee.startswith(_NAMESPACE) and callee.endswith((".get", ".__getitem__")):
                key = _const_str(node.args[0]) if node.args else None
                out |= self.subscript(callee.rsplit(".", 1)[0], key, node)
            elif callee.endswith(".__getattribute__"):
                # os.__getattribute__("system"), object.__getattribute__(os, "system")
                owner = callee[: -len(".__getattribute__")]
                unbound = owner in ("builtins.object", "builtins.type")
                args = node.args[1:] if unbound else node.args
                bases = self.resolve(node.args[0], depth + 1) if unbound and node.args else {owner}
                name = _const_str(args[0]) if args else None
                for base in bases:
                    if name is not None:
                        out.add(f"{base}.{name}")
                    elif _dangerous_base(base):
                        self.dynamic.append((f"{base}.__getattribute__(…)", node.lineno))
                        out.add(_DYNAMIC)
            elif callee.startswith("<func>"):
                out |= self.returns.get(callee, set())
            elif callee in self.risky_classes:
                out.add(callee)  # an instance finds its class attributes
        return out

    # -- passes ----------------------------------------------------------------------
    def run(self) -> None:
        for _ in range(_MAX_PASSES):
            self.changed = False
            self.dynamic = []
            self.visit()
            if not self.changed:
                break

    def visit(self) -> None:
        # Classes with a primitive among their attributes: only their instances are
        # followed (following every instance of every class slows modeling code down).
        self.risky_classes = {
            key.split(".", 1)[0]
            for key, values in self.env.items()
            if key.startswith("<class>") and any(_category(_normalise(v)) for v in values)
        }
        for node in self.statements:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.bind(alias.asname, {alias.name})
                    else:
                        self.bind(alias.name.split(".")[0], {alias.name.split(".")[0]})
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    continue
                module = node.module or ""
                for alias in node.names:
                    if alias.name == "*":
                        if module not in self.star_imports:
                            self.star_imports.append(module)
                            self.changed = True
                    else:
                        self.bind(alias.asname or alias.name, {f"{module}.{alias.name}"})
            elif isinstance(node, ast.Assign):
                values = self.resolve(node.value)
                if values:
                    for target in node.targets:
                        self.bind_target(target, values)
                        self.bind_class_attribute(node, target, values)
            elif isinstance(node, ast.AnnAssign | ast.AugAssign):
                if node.value is not None:
                    values = self.resolve(node.value)
                    if values:
                        self.bind_target(node.target, values)
                        self.bind_class_attribute(node, node.target, values)
            elif isinstance(node, ast.ClassDef):
                self.bind(node.name, {f"<class>{node.name}"})
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                key = f"<func>{node.name}"
                for name in (node.name, f"self.{node.name}", f"cls.{node.name}"):
                    self.bind(name, {key})
                owner = self.class_of.get(id(node))
                if owner is not None:
                    self.bind(f"<class>{owner}.{node.name}", {key})
                self.bind_defaults(node.args)
                for inner in self.function_returns.get(id(node), ()):
                    if inner.value is not None:
                        values = self.resolve(inner.value)
                        if values and not values <= self.returns.get(key, set()):
                            self.returns.setdefault(key, set()).update(values)
                            self.changed = True
            elif isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    if item.optional_vars is not None:
                        values = self.resolve(item.context_expr)
                        if values:
                            self.bind_target(item.optional_vars, values)
            elif isinstance(node, ast.For | ast.AsyncFor):
                values = self.resolve(node.iter)
                if values:
                    self.bind_target(node.target, values)
        for lam in self.lambdas:
            self.bind_defaults(lam.args)
        for binding in self.bindings:
            if isinstance(binding, ast.NamedExpr):
                values = self.resolve(binding.value)
                if values:
                    self.bind_target(binding.target, values)
            else:
                values = self.resolve(binding.iter)
                if values:
                    self.bind_target(binding.target, values)


def _walk_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included (function and class bodies too)."""
    for node in body:
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                yield from _walk_statements([child])
            elif isinstance(child, ast.ExceptHandler | ast.match_case):
                yield from _walk_statements(child.body)


def _class_scope(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run in a class's namespace (not inside its methods)."""
    for node in body:
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                yield from _class_scope([child])
            elif isinstance(child, ast.ExceptHandler | ast.match_case):
                yield from _class_scope(child.body)


def _has_fromlist(node: ast.Call) -> bool:
    if len(node.args) >= 4:
        return True
    return any(kw.arg == "fromlist" for kw in node.keywords)


def _path(node: ast.expr) -> str | None:
    """``self.fn`` -> "self.fn": attribute paths used as binding keys."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _dangerous_base(base: str) -> bool:
    """Whether a computed attribute of ``base`` can reach a code-execution primitive."""
    if base.startswith(_NAMESPACE):
        base = base[len(_NAMESPACE) :]
    if base in ("builtins.globals", "builtins.locals", "builtins", _DYNAMIC, _COMPUTED_VARIABLE):
        return True
    return base.split(".")[0] in _DANGEROUS_MODULES and base.count(".") <= 1


def _may_run_code(value: str) -> bool:
    """A value worth following: a primitive, a module that holds some, or code."""
    return (
        _category(_normalise(value)) is not None
        or value.split(".")[0] in _DANGEROUS_MODULES
        or value.startswith(("<func>", "<lambda>", "<class>", _DYNAMIC, _COMPUTED_VARIABLE))
        or value in ("builtins", "builtins.globals", "builtins.locals")
    )


def _normalise(name: str) -> str:
    """``builtins.__import__`` and ``__import__`` name the same thing; so do
    ``posix.system`` and ``os.system`` for this purpose."""
    if name.startswith("builtins."):
        rest = name[len("builtins.") :]
        if rest in ("eval", "exec", "compile", "__import__"):
            return rest
    if name.startswith(_NAMESPACE):
        return name[len(_NAMESPACE) :]
    if name.startswith(("posix.", "nt.")):
        return "os." + name.split(".", 1)[1]  # what os re-exports
    return name


_CONSTANT_NAME: Final = frozenset(
    {"PIPE", "STDOUT", "DEVNULL", "TimeoutExpired", "CalledProcessError", "CompletedProcess",
     "SubprocessError"}
)  # fmt: skip


def analyse_python(source: str | bytes) -> CodeReport:
    report = CodeReport()
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        report.error = f"{type(exc).__name__}: {exc}"
        return report
    imports: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                report.relative_imports.append("." * node.level + (node.module or ""))
            else:
                imports.add(node.module or "")
    report.imports = sorted(imports)
    flow = _Flow(tree)
    try:
        flow.run()
        report.calls = _calls(tree, flow)
    except RecursionError:
        report.error = "RecursionError: nested too deeply to analyse"
    return report


def _calls(tree: ast.Module, flow: _Flow) -> list[tuple[str, str, int]]:
    seen: set[tuple[str, str, int]] = set()
    out: list[tuple[str, str, int]] = []

    def record(category: str, name: str, line: int) -> None:
        key = (category, name, line)
        if key not in seen:
            seen.add(key)
            out.append(key)

    def judge(node: ast.expr, line: int, call: ast.Call | None) -> None:
        for target in sorted(flow.resolve(node)):
            name = _normalise(target)
            if name == _DYNAMIC:
                continue
            if name.startswith(_COMPUTED_VARIABLE):
                if call is not None:
                    record("code", "globals()[…] called (attribute chosen at run time)", line)
                continue
            category = _category(name)
            if category is None or name.rsplit(".", 1)[-1] in _CONSTANT_NAME:
                continue
            if call is not None and _safe_call(name, call):
                continue
            record(category, name, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            judge(node.func, node.lineno, node)
            # A dangerous callable handed to another call runs there
            # (threading.Thread(target=os.system), map(os.system, …), atexit).
            for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                if isinstance(arg, ast.Name | ast.Attribute | ast.Subscript):
                    for target in flow.resolve(arg):
                        category = _category(_normalise(target))
                        last = target.rsplit(".", 1)[-1]
                        if category in ("process", "code") and last not in _CONSTANT_NAME:
                            record(category, _normalise(target), node.lineno)
            if isinstance(node.func, ast.Attribute):
                introspection = _introspection(node.func)
                if introspection is not None:
                    record("code", introspection, node.lineno)
                if node.func.attr in ("subprocess_shell", "subprocess_exec"):
                    record("process", f"event loop .{node.func.attr}()", node.lineno)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name in ("__reduce__", "__reduce_ex__"):
                # copy.copy, copy.deepcopy and pickle call what __reduce__ returns
                for value in flow.returns.get(f"<func>{node.name}", ()):
                    category = _category(_normalise(value))
                    if category in ("process", "code"):
                        record(
                            category, f"{_normalise(value)} (returned by {node.name})", node.lineno
                        )
            for decorator in node.decorator_list:
                judge(decorator.func if isinstance(decorator, ast.Call) else decorator,
                      decorator.lineno, None)  # fmt: skip
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            _stored(node, flow, record)
    for what, line in flow.dynamic:
        record("code", f"{what} (attribute chosen at run time)", line)
    for call, what in _import_time_writes(tree, flow):
        record("import-time write", what, call.lineno)
    return sorted(out, key=lambda c: (c[2], c[1]))


def _introspection(func: ast.Attribute) -> str | None:
    """Calls that rebuild or find code by walking the interpreter's own objects."""
    if func.attr == "__subclasses__":
        base = ast.unparse(func.value)
        if base in ("object", "type") or any(
            part in base for part in ("__base__", "__mro__", "__bases__")
        ):
            return f"{base}.__subclasses__() (walks every class to reach a primitive)"
    if (
        func.attr == "replace"
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "__code__"
    ):
        return "__code__.replace() (builds new bytecode)"
    return None


def _stored(
    node: ast.Assign | ast.AnnAssign | ast.AugAssign,
    flow: _Flow,
    record: Callable[[str, str, int], None],
) -> None:
    """A primitive stored into an attribute or an item runs wherever it is read
    (``sys.breakpointhook = os.system``); new bytecode stored into ``__code__``
    runs when the function is called."""
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    stored = [t for t in targets if isinstance(t, ast.Attribute | ast.Subscript)]
    if not stored or node.value is None:
        return
    for target in stored:
        if isinstance(target, ast.Attribute) and target.attr == "__code__":
            record(
                "code", f"{ast.unparse(target)} = … (replaces a function's bytecode)", node.lineno
            )
    for value in flow.resolve(node.value):
        name = _normalise(value)
        category = _category(name)
        if category in ("process", "code") and name.rsplit(".", 1)[-1] not in _CONSTANT_NAME:
            record(category, name, node.lineno)


def _import_time(tree: ast.Module) -> Iterator[ast.Call]:
    """Calls that run when the module is imported: module and class bodies,
    decorators and default values, not function bodies."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack += node.decorator_list
            stack += [d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None]
            continue
        if isinstance(node, ast.Lambda):
            stack += [d for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None]
            continue
        if isinstance(node, ast.Call):
            yield node
        stack += list(ast.iter_child_nodes(node))


def _import_time_writes(tree: ast.Module, flow: _Flow) -> Iterator[tuple[ast.Call, str]]:
    for call in _import_time(tree):
        if isinstance(call.func, ast.Attribute) and call.func.attr in _WRITER_METHODS:
            yield call, f"{ast.unparse(call.func)[:80]}() at import time"
            continue
        for target in flow.resolve(call.func):
            name = _normalise(target)
            if not any(
                name == w or (w.endswith("*") and name.startswith(w[:-1])) for w in _WRITERS
            ):
                continue
            if name in ("builtins.open", "io.open", "codecs.open") and not _writes_mode(call):
                continue
            yield call, f"{name}() at import time"
            break


def _writes_mode(call: ast.Call) -> bool:
    """Whether ``open(...)`` may write: a mode with w, a, x or +, or one not known."""
    mode: ast.expr | None = call.args[1] if len(call.args) > 1 else None
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    if mode is None:
        return False
    text = _const_str(mode)
    return text is None or any(c in text for c in "wax+")
