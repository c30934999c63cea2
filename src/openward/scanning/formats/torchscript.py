"""TorchScript archives: the code under ``code/`` is what runs, not the pickle's names.

``torch.jit.save`` writes a zip with ``code/**/*.py`` (TorchScript source, a
Python subset), ``data.pkl`` and ``constants.pkl``; ``torch.load`` hands any
zip with ``constants.pkl`` to ``torch.jit.load``, which compiles that source
and unpickles ``data.pkl`` with TorchScript's own unpickler. The
``__torch__.*`` classes a pickle names are the classes of ``code/``, chosen
by whoever wrote the archive: the name vouches for nothing, the code is
judged. Their ``__setstate__`` runs while the archive loads, and TorchScript
can reach the file system through a few operators (found by listing every
schema of torch 2.13's operator registry, ``torch._C._jit_get_all_schemas()``,
for file, path and URL arguments): ``aten::from_file`` maps any file and, with
``shared=True``, creates it and writes through the mapping; ``aten::save``
pickles a value to any path. ``torch.ops.<ns>`` and ``torch.classes.<ns>``
outside PyTorch's own namespaces call native code from a library that is
not in the file. The lite-interpreter ``bytecode.pkl`` lists its operators by
name and is checked the same way.

Sources are parsed with :mod:`ast` (never compiled); what Python's parser
refuses is searched token by token and reported as unparsable.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError
from openward.artifacts.pickle import PickleOpcodeReader
from openward.scanning.context import Location, ScanContext

__all__ = [
    "TorchScriptReport",
    "analyse_bytecode_operators",
    "analyse_torchscript_source",
    "scan_torchscript_archive",
    "torchscript_prefixes",
]

# Operator namespaces of PyTorch itself (torch 2.13's registry) and of the
# libraries of the PyTorch project whose ops published models use.
KNOWN_OP_NAMESPACES: Final = frozenset(
    {
        "aten", "prim", "prims", "quantized", "_quantized", "quantized_decomposed",
        "quantization", "mkldnn", "mkldnn_prepacked", "mkl", "onednn", "sparse", "profiler",
        "c10d", "_c10d_functional", "_c10d_functional_autograd", "symm_mem", "_dtensor",
        "inductor", "inductor_prims", "rngprims", "debugprims", "static_runtime", "_native",
        "export", "onnx", "cuda", "xnnpack", "vulkan", "vulkan_prepack", "metal",
        "metal_prepack", "_nnapi", "fbgemm", "_test", "debug_mode_ops",
        "torchvision", "image", "torchaudio", "torchtext",
    }
)  # fmt: skip
# torch.classes.<ns>: the custom classes torch 2.13 registers itself.
KNOWN_CLASS_NAMESPACES: Final = frozenset(
    {
        "quantized", "rnn", "sparse", "mkldnn", "_nnapi", "backendutils", "profiling",
        "c10d", "aten", "dist_rpc", "xnnpack", "vulkan", "metal", "torchvision",
    }
)  # fmt: skip
# Builtins that run while torch.jit.load reads the archive.
_LOAD_TIME_METHODS: Final = frozenset({"__setstate__", "__init__"})
_CODE_MEMBER = re.compile(r"^(?P<prefix>(?:[^/]+/)*)code/(?P<path>.+)\.py$")
_MAX_SHOWN: Final = 160


@dataclass(frozen=True, slots=True)
class TorchScriptIssue:
    """One dangerous operation in TorchScript code."""

    rule_id: str
    evidence: str


@dataclass
class TorchScriptReport:
    """What one ``code/`` source defines and does."""

    issues: list[TorchScriptIssue] = field(default_factory=list)
    classes: set[str] = field(default_factory=set)
    """Qualified names of the classes it defines (``__torch__.pkg.Name``)."""
    custom_classes: set[str] = field(default_factory=set)
    """``__torch__.torch.classes.ns.Name`` it refers to."""
    error: str | None = None


def _module_name(path: str) -> str:
    """``__torch__/torch/nn/modules/linear`` -> ``__torch__.torch.nn.modules.linear``."""
    return path.replace("/", ".")


def _resolve(parts: list[str]) -> tuple[str, str, str] | None:
    """``(kind, namespace, name)`` for an operator or custom-class reference.

    ``torch.X`` is ``aten::X``; ``torch.ops.ns.op`` and ``ops.ns.op`` (how
    serialised code spells it) are ``ns::op``; ``torch.classes.ns.Name`` and
    ``__torch__.torch.classes.ns.Name`` are custom classes.
    """
    if parts[:1] == ["__torch__"]:
        parts = parts[1:]
    if parts[:2] == ["torch", "classes"] and len(parts) >= 3:
        return "class", parts[2], ".".join(parts[3:])
    if parts[:2] == ["torch", "ops"] and len(parts) >= 4:
        return "op", parts[2], parts[3]
    if parts[:1] == ["ops"] and len(parts) >= 3:
        return "op", parts[1], parts[2]
    if parts[:1] == ["torch"] and len(parts) == 2:
        return "op", "aten", parts[1]
    return None


def _judge_op(namespace: str, op: str, shared: bool | None) -> tuple[str, str] | None:
    """``(rule, what)`` for an operator; ``shared`` is from_file's flag (None: unknown)."""
    if namespace == "aten" and op == "from_file":
        if shared is False:
            return "torchscript-file-read", "maps a file into a tensor (torch.from_file)"
        return (
            "torchscript-file-write",
            "creates and writes a file through a shared mapping (torch.from_file, shared=True)",
        )
    if namespace == "aten" and op == "save":
        return "torchscript-file-write", "pickles a value to a file (torch.save)"
    if namespace not in KNOWN_OP_NAMESPACES:
        return "torchscript-custom-op", f"calls the native operator {namespace}::{op}"
    return None


def _shared_flag(call: ast.Call) -> bool | None:
    """from_file(filename, shared=None, size=0): False only when ``shared`` is spelled falsy."""
    value: ast.expr | None = None
    if len(call.args) > 1:
        value = call.args[1]
    for kw in call.keywords:
        if kw.arg == "shared":
            value = kw.value
        elif kw.arg is None:
            return None  # **kwargs
    if value is None:
        return False
    if isinstance(value, ast.Constant) and value.value in (None, False, 0):
        return False
    if isinstance(value, ast.Constant) and value.value in (True, 1):
        return True
    return None


def _dotted(node: ast.expr) -> list[str] | None:
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return parts[::-1]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            # getattr(torch, "from_file"): TorchScript wants a literal name
            parts.append(node.args[1].value)
            node = node.args[0]
        else:
            return None


def _aliases(body: ast.AST) -> dict[str, list[list[str]]]:
    """Local names bound to module or operator values (``t = torch``, ``g = torch.from_file``).

    TorchScript compiles such aliases; each name maps to the dotted chains it
    may stand for (several through ``if``/``else``), resolved to a fixpoint.
    """
    raw: dict[str, list[list[str]]] = {}
    for sub in ast.walk(body):
        value: ast.expr | None = None
        targets: list[ast.expr] = []
        if isinstance(sub, ast.Assign):
            value, targets = sub.value, list(sub.targets)
        elif isinstance(sub, (ast.AnnAssign, ast.NamedExpr)) and sub.value is not None:
            value, targets = sub.value, [sub.target]
        if value is None:
            continue
        chains = [c for c in (_dotted(v) for v in _alternatives(value)) if c is not None]
        for target in targets:
            if isinstance(target, ast.Name) and chains:
                raw.setdefault(target.id, []).extend(chains)
    resolved: dict[str, list[list[str]]] = {}
    for name in raw:
        resolved[name] = _expand_chains(raw[name], raw, depth=0)
    return resolved


def _alternatives(value: ast.expr) -> list[ast.expr]:
    if isinstance(value, ast.IfExp):
        return _alternatives(value.body) + _alternatives(value.orelse)
    if isinstance(value, ast.BoolOp):
        return [v for item in value.values for v in _alternatives(item)]
    return [value]


def _expand_chains(
    chains: list[list[str]], aliases: dict[str, list[list[str]]], depth: int
) -> list[list[str]]:
    out: list[list[str]] = []
    for chain in chains:
        head = chain[0]
        if head in aliases and depth < 8 and aliases[head] is not chains:
            for base in _expand_chains(aliases[head], aliases, depth + 1):
                out.append(base + chain[1:])
        else:
            out.append(chain)
    return out[:64]


class _Visitor(ast.NodeVisitor):
    def __init__(self, report: TorchScriptReport, module: str, source: str, file: str) -> None:
        self.report = report
        self.module = module
        self.source = source
        self.file = file
        self.context: list[str] = []
        self.aliases: dict[str, list[list[str]]] = {}
        self.reported_lines: set[tuple[str, int]] = set()

    def _where(self, line: int) -> str:
        where = ".".join([self.module, *self.context]) if self.context else self.module
        note = (
            " (runs while torch.jit.load reads the archive)"
            if self.context and self.context[-1] in _LOAD_TIME_METHODS
            else ""
        )
        return f"in {where}{note}, {self.file} line {line}"

    def _add(self, rule: str, what: str, node: ast.expr) -> None:
        line = getattr(node, "lineno", 0)
        if (rule, line) in self.reported_lines:
            return
        self.reported_lines.add((rule, line))
        self.report.issues.append(
            TorchScriptIssue(rule, f"{self._shown(node)} {what} {self._where(line)}")
        )

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if not self.context:
            self.report.classes.add(f"{self.module}.{node.name}")
        self.context.append(node.name)
        self.generic_visit(node)
        self.context.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        saved = self.aliases
        self.aliases = {**saved, **_aliases(node)}
        self.context.append(node.name)
        self.generic_visit(node)
        self.context.pop()
        self.aliases = saved

    def visit_Module(self, node: ast.Module) -> None:
        self.aliases = _aliases(node)
        self.generic_visit(node)

    def _shown(self, node: ast.expr) -> str:
        text = ast.get_source_segment(self.source, node) or ast.dump(node)[:_MAX_SHOWN]
        text = " ".join(text.split())
        return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "…"

    def _targets(self, expr: ast.expr) -> list[tuple[str, str, str]]:
        """What a callee or attribute chain may refer to, through local aliases."""
        parts = _dotted(expr)
        if parts is None:
            return []
        chains = _expand_chains([parts], self.aliases, depth=0)
        out = []
        for chain in chains:
            if chain == ["from_file"]:
                chain = ["torch", "from_file"]
            resolved = _resolve(chain)
            if resolved is not None:
                out.append(resolved)
        return out

    def visit_Call(self, node: ast.Call) -> None:
        targets = [t for t in self._targets(node.func) if t[0] == "op"]
        for _, namespace, op in targets:
            shared = _shared_flag(node) if op == "from_file" else None
            verdict = _judge_op(namespace, op, shared)
            if verdict is not None:
                self._add(verdict[0], verdict[1], node)
        if targets:
            # the callee chain is judged; its attributes are not judged again
            for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                self.visit(arg)
            return
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        targets = self._targets(node)
        for target in targets:
            self._reference(target, node)
        if node.attr == "from_file" and not targets and _root(node) != "self":
            # from_file means nothing else in TorchScript: a reference we could
            # not resolve (an alias through a container, say) is still one
            self._add("torchscript-file-write", "refers to torch.from_file", node)
        if not targets:
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "from_file":
            self._add("torchscript-file-write", "refers to torch.from_file", node)

    def _reference(self, resolved: tuple[str, str, str], node: ast.expr) -> None:
        kind, namespace, name = resolved
        if kind == "class":
            self.report.custom_classes.add(f"__torch__.torch.classes.{namespace}.{name}")
            if namespace not in KNOWN_CLASS_NAMESPACES:
                self._add(
                    "torchscript-custom-op",
                    f"uses the native class torch.classes.{namespace}.{name}",
                    node,
                )
            return
        verdict = _judge_op(namespace, name, None)
        if verdict is not None:
            self._add(verdict[0], verdict[1], node)


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _token_chains(source: str) -> Iterator[tuple[list[str], int]]:
    """Dotted names (``a.b.c``) of source that Python's parser refuses."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        for number, text in enumerate(source.splitlines(), 1):
            for word in re.findall(r"[A-Za-z_][\w.]*", text):
                yield word.split("."), number
        return
    chain: list[str] = []
    line = 0
    after_dot = False
    for tok in tokens:
        if tok.type == tokenize.NAME:
            if chain and after_dot:
                chain.append(tok.string)
            else:
                if chain:
                    yield chain, line
                chain, line = [tok.string], tok.start[0]
            after_dot = False
        elif tok.type == tokenize.OP and tok.string == "." and chain and not after_dot:
            after_dot = True
        else:
            if chain:
                yield chain, line
            chain, after_dot = [], False
    if chain:
        yield chain, line


_GETATTR_LITERAL = re.compile(
    r"""getattr\s*\(\s*([A-Za-z_][\w.]*)\s*,\s*(['"])([A-Za-z_]\w*)\2\s*\)"""
)
_LEADING_BLANKS = re.compile(r"^[ \t]+", re.MULTILINE)


def _getattr_chains(source: str) -> Iterator[tuple[list[str], int]]:
    """``getattr(torch, "from_file")`` as the chain it stands for (TorchScript takes a
    literal name), for source that only the token search reads."""
    for m in _GETATTR_LITERAL.finditer(source):
        yield [*m.group(1).split("."), m.group(3)], source.count("\n", 0, m.start()) + 1


def _torchscript_indentation(source: str) -> str:
    """The source with every leading blank one column wide, as TorchScript's lexer
    measures indentation (a tab is one column there; Python's tokenizer refuses
    a block that mixes tabs and spaces, which TorchScript compiles)."""
    return _LEADING_BLANKS.sub(lambda m: " " * len(m.group()), source)


def analyse_torchscript_source(source: str, module: str, file: str) -> TorchScriptReport:
    """What one ``code/`` file defines and what its code does to the machine."""
    report = TorchScriptReport()
    try:
        tree = ast.parse(source)
    except IndentationError:
        try:
            source = _torchscript_indentation(source)
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            return _search_tokens(report, source, file, exc)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return _search_tokens(report, source, file, exc)
    _Visitor(report, module, source, file).visit(tree)
    return report


def _search_tokens(
    report: TorchScriptReport, source: str, file: str, exc: BaseException
) -> TorchScriptReport:
    """Source Python's parser refuses: dotted names and getattr literals, token by token."""
    report.error = f"{type(exc).__name__}: {exc}"
    for parts, line in [*_token_chains(source), *_getattr_chains(source)]:
        resolved = _resolve(parts if parts != ["from_file"] else ["torch", "from_file"])
        if resolved is None:
            continue
        kind, namespace, name = resolved
        verdict = _judge_op(namespace, name, None) if kind == "op" else None
        if kind == "class" and namespace not in KNOWN_CLASS_NAMESPACES:
            verdict = ("torchscript-custom-op", f"uses the native class {namespace}.{name}")
        if verdict is not None:
            report.issues.append(
                TorchScriptIssue(verdict[0], f"{'.'.join(parts)} {verdict[1]}, {file} line {line}")
            )
    return report


def analyse_bytecode_operators(names: Iterable[str], file: str) -> list[TorchScriptIssue]:
    """The lite interpreter's operator table: ``ns::op`` strings."""
    issues: list[TorchScriptIssue] = []
    for name in sorted(set(names)):
        namespace, _, op = name.partition("::")
        verdict = _judge_op(namespace, op.split(".", 1)[0], None)
        if verdict is not None:
            issues.append(TorchScriptIssue(verdict[0], f"operator {name} {verdict[1]}, in {file}"))
    return issues


_OPERATOR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*::[A-Za-z_][A-Za-z0-9_.]*$")


def _pickle_strings(blob: Blob, tick: object) -> Iterator[str]:
    reader = PickleOpcodeReader(blob)
    while reader.pos < blob.size:
        if callable(tick):
            tick()
        try:
            code, arg, _ = reader.read_op()
        except ArtifactFormatError:
            return
        if isinstance(arg, str):
            yield arg
        if code == 0x2E:  # STOP
            return


def _torch_class_globals(blob: Blob, tick: object) -> set[str]:
    """``__torch__.torch.classes.<ns>.<Name>`` a TorchScript pickle names (GLOBAL).

    TorchScript's unpickler resolves these in the registry of native classes,
    never from ``code/``: a dynamically quantized Linear's packed parameters
    (``quantized.LinearPackedParamsBase``) appear only there.
    """
    reader = PickleOpcodeReader(blob)
    found: set[str] = set()
    while reader.pos < blob.size:
        if callable(tick):
            tick()
        try:
            code, arg, _ = reader.read_op()
        except ArtifactFormatError:
            break
        if code == 0x63 and isinstance(arg, tuple) and len(arg) == 2:  # GLOBAL
            module, name = arg
            if isinstance(module, str) and module.startswith("__torch__.torch.classes."):
                found.add(f"{module}.{name}")
        if code == 0x2E:  # STOP
            break
    return found


def torchscript_prefixes(names: Iterable[str]) -> set[str]:
    """Archive prefixes (``"model/"``) that ``torch.load`` treats as TorchScript.

    ``torch.serialization._is_torchscript_zip`` looks for ``constants.pkl``;
    ``torch.jit.load`` needs the ``code/`` directory too.
    """
    names = set(names)
    prefixes = {
        n[: -len("constants.pkl")] for n in names if n.rsplit("/", 1)[-1] == "constants.pkl"
    }
    prefixes |= {m.group("prefix") for n in names if (m := _CODE_MEMBER.match(n))}
    return prefixes


def scan_torchscript_archive(
    ctx: ScanContext, loc: Location, members: list[tuple[str, Blob]], prefixes: set[str]
) -> set[str]:
    """Analyse the ``code/`` sources and ``bytecode.pkl`` of an archive's TorchScript.

    ``members`` are ``(name, data)`` of the archive's ``.py``, ``bytecode.pkl``,
    ``data.pkl`` and ``constants.pkl`` members. Returns the ``module.name``
    globals its pickles may name without being unknown: the classes its code
    defines, and PyTorch's own custom classes it or its pickles refer to.
    """
    defined: set[str] = set()
    custom: set[str] = set()
    for name, data in members:
        ctx.tick()
        mloc = (*loc, name)
        m = _CODE_MEMBER.match(name)
        if m is not None and m.group("prefix") in prefixes:
            source = data.read(0, data.size).decode("utf-8", "replace")
            report = analyse_torchscript_source(source, _module_name(m.group("path")), name)
            if report.error is not None:
                ctx.add("torchscript-unparsable", mloc, None, report.error)
            for issue in report.issues:
                ctx.add(issue.rule_id, mloc, None, issue.evidence)
            # TorchScript qualifies every class of code/ under __torch__, and only its
            # own unpickler resolves that namespace. A class defined in code/os.py
            # is "os.system" by path alone: vouching for it let data.pkl call the
            # real os.system when torch.load read the archive as a checkpoint.
            defined |= {c for c in report.classes if c.startswith("__torch__.")}
            custom |= report.custom_classes
        elif name.rsplit("/", 1)[-1] in ("data.pkl", "constants.pkl"):
            custom |= _torch_class_globals(data, ctx.tick)
        elif name.rsplit("/", 1)[-1] == "bytecode.pkl":
            operators = [s for s in _pickle_strings(data, ctx.tick) if _OPERATOR_NAME.match(s)]
            for issue in analyse_bytecode_operators(operators, name):
                ctx.add(issue.rule_id, mloc, None, issue.evidence)
    known_custom = {
        c for c in custom if c.split(".")[3] in KNOWN_CLASS_NAMESPACES
    }  # __torch__.torch.classes.<ns>.<Name>
    return defined | known_custom
