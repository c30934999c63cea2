"""Configs that make their loader import and call names: Hydra, NeMo, hyperpyyaml, MLflow.

Config-driven loaders turn strings into code. Hydra's ``instantiate`` imports
whatever ``_target_`` names and calls it with ``_args_`` and the other keys
(NeMo restores every model this way, from the ``model_config.yaml`` inside a
``.nemo`` archive, and also honours Hydra 0.x's ``cls``/``target`` with
``params``); jsonargparse and LightningCLI do the same with ``class_path``;
SpeechBrain's hyperpyyaml builds ``!new:``, calls ``!apply:`` and
``!applyref:``, binds ``!name:`` and imports ``!module:`` while it parses
``hyperparams.yaml`` (with an unsafe YAML loader, so ``!!python/object/apply:``
runs too, also from a string like ``(!!python/...)`` that hyperpyyaml re-reads
as a tuple, and from one assembled by ``!ref`` interpolation); MLflow imports a
model's ``loader_module`` and puts its ``code`` directory on ``sys.path``.

Configs are read as data: YAML with a SafeLoader that keeps every tag as a
:class:`TaggedValue` and constructs nothing, JSON with :mod:`json`. Each name
found is judged by :mod:`openward.scanning.config_policy`; a config that does
not parse is searched lexically, so a file a lenient loader accepts is never
skipped.
"""

from __future__ import annotations

import ast
import contextlib
import glob
import json
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from openward.artifacts.blob import Blob
from openward.scanning.config_policy import TargetVerdict, judge_target
from openward.scanning.context import Location, ScanContext
from openward.scanning.interface import Severity

__all__ = [
    "MAX_CONFIG_BYTES",
    "ConfigAnalysis",
    "ConfigReference",
    "TaggedValue",
    "find_references",
    "is_config_name",
    "load_yaml_keeping_tags",
    "scan_config_file",
    "scan_embedded_config",
]

MAX_CONFIG_BYTES: Final = 4 << 20
"""Configs up to this size are parsed; larger ones are searched lexically
(names and tags found by pattern), so size never hides a target."""
MAX_LEXICAL_BYTES: Final = 256 << 20
"""Beyond this even the lexical search stops, with a scan-limit-reached finding."""
MAX_CONFIG_NODES: Final = 2_000_000
"""Distinct values walked in one config (YAML aliases are walked once)."""
_MAX_REF_DEPTH: Final = 16
_SHOWN: Final = 8

_YAML_SUFFIXES: Final = (".yaml", ".yml")
_COMPILED_SUFFIXES: Final = (".pyc", ".pyd", ".so")
"""Modules Python imports without source (bytecode next to no .py, extension modules)."""
_MLMODEL: Final = "MLmodel"
_PICKLE_MODULE_INFO: Final = "pickle_module_info.txt"
_NEMO_CONFIG: Final = "model_config.yaml"
# Bytes without which a file cannot hold anything this module looks for.
_MARKERS: Final = (
    b"target", b"class_path", b"_component_", b"cls", b"!", b"flavors", b"python/", b"pipeline",
    b"\\",  # escapes in quoted keys: "_t\x61rget_" is _target_
    b"eval", b"exec",  # ${eval:...} resolvers
)  # fmt: skip
# A JSON file is parsed only when it names one of these keys, or spells an
# ASCII character with an escape ("\u005ftarget_": encoders never escape
# printable ASCII). Data files such as tokenizer.json hold "target" and "cls"
# as vocabulary and non-ASCII escapes by the thousand: they are not parsed.
_JSON_KEYS: Final = (b'"_target_"', b'"class_path"', b'"_component_"', b'"pyref"')
_ASCII_ESCAPE: Final = re.compile(rb"\\u00[2-7][0-9a-fA-F]")

_PY_TAG: Final = "tag:yaml.org,2002:python/"
# PyYAML python/ tags that build plain data, not objects.
_PY_DATA_TAGS: Final = frozenset(
    {"none", "bool", "str", "unicode", "bytes", "int", "long", "float", "complex", "list"}
    | {"tuple", "dict"}
)
_HYPER_CALLS: Final = {"!new:": True, "!apply:": True, "!applyref:": True}
_HYPER_REFS: Final = {"!name:": False, "!module:": False}
_TUPLE: Final = re.compile(r"^\(.*\)$", re.DOTALL)
_REF: Final = re.compile(r"<[^>]*>")
_OC_INTERP: Final = re.compile(r"\$\{([^${}]*)\}")
_HYDRA_KEYS: Final = frozenset(
    {"_target_", "_args_", "_partial_", "_recursive_", "_convert_", "_component_"}
)
_TRUTHY: Final = (True, 1, "true", "True", "yes", "1")


@dataclass(eq=False)
class TaggedValue:
    """A YAML value with a tag the safe loader does not know, kept as data."""

    tag: str
    value: Any


class _TagKeepingLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that turns every unknown tag into a :class:`TaggedValue`."""


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> TaggedValue:
    del suffix
    value: Any
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return TaggedValue(node.tag, value)


_TagKeepingLoader.add_multi_constructor("", _construct_tagged)


def load_yaml_keeping_tags(text: str | bytes) -> Any:
    """Parse one YAML document (the first), constructing nothing but data.

    Raises ``ValueError`` when the text is not YAML a safe parser accepts.
    """
    try:
        return yaml.load(text, Loader=_TagKeepingLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.composer.ComposerError:
        # several documents: loaders (OmegaConf, hyperpyyaml) refuse them too,
        # but what each holds is still worth knowing
        try:
            return list(yaml.load_all(text, Loader=_TagKeepingLoader))
        except (yaml.YAMLError, TypeError, ValueError, RecursionError) as exc:
            raise ValueError(str(exc)) from exc
    except (yaml.YAMLError, TypeError, ValueError, RecursionError) as exc:
        raise ValueError(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class ConfigReference:
    """One name a config makes its loader import."""

    target: str
    """The dotted name, or the expression that computes it at load time."""
    where: str
    """Path of the value in the config (``model.encoder._target_``) or ``line N``."""
    how: str
    """The mechanism: ``Hydra _target_``, ``hyperpyyaml !apply:`` and so on."""
    called: bool
    """The loader calls it while loading (not only imports or binds it)."""
    args: str = ""
    """The arguments it is given, rendered briefly."""
    dynamic: bool = False
    """The name is computed at load time (interpolation, environment)."""
    remote_code: bool = False
    """Its arguments turn on ``trust_remote_code``."""


def _render(value: Any, limit: int = 100) -> str:
    try:
        text = json.dumps(value, default=_render_default, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _render_default(value: Any) -> Any:
    if isinstance(value, TaggedValue):
        return {value.tag: value.value}
    return str(value)


class _Walk:
    """Collects references from one parsed config."""

    def __init__(self, doc: Any, *, nemo: bool, budget: int = MAX_CONFIG_NODES) -> None:
        self.doc = doc
        self.nemo = nemo
        self.budget = budget
        self.exhausted = False
        self.refs: list[ConfigReference] = []
        self.includes: list[tuple[str, str]] = []
        """(path in the config, file) of hyperpyyaml ``!include:`` tags."""
        self.evals: list[tuple[str, str]] = []
        """(path in the config, expression) of ``${eval:...}`` that do more than arithmetic."""
        self.built: set[int] = set()
        """Fiddle pyrefs in a ``fn_or_cls`` slot: ``fdl.build`` calls them."""

    def run(self) -> None:
        doc = self.doc
        if self.nemo and isinstance(doc, dict) and isinstance(doc.get("target"), str):
            # NeMo's from_config_dict imports the top-level target class
            self._target(doc, "target", "NeMo target", doc["target"], called=True)
        pipeline = doc.get("pipeline") if isinstance(doc, dict) else None
        if isinstance(pipeline, dict) and isinstance(pipeline.get("name"), str):
            # pyannote.audio's Pipeline.from_pretrained imports pipeline.name
            params = {"params": pipeline.get("params")}
            self._target(params, "pipeline.name", "pyannote pipeline", pipeline["name"], True)
        seen: set[int] = set()
        stack: list[tuple[Any, str]] = [(self.doc, "")]
        while stack:
            node, where = stack.pop()
            if isinstance(node, dict | list | TaggedValue):
                if id(node) in seen:
                    continue
                seen.add(id(node))
            self.budget -= 1
            if self.budget < 0:
                self.exhausted = True
                return
            if isinstance(node, dict):
                self._mapping(node, where)
                for key, value in node.items():
                    stack.append((value, f"{where}.{key}" if where else str(key)))
            elif isinstance(node, list):
                if (
                    len(node) == 2
                    and isinstance(node[0], str)
                    and "fn_or_cls" in node[0]
                    and isinstance(node[1], dict)
                ):
                    self.built.add(id(node[1]))  # ["Attr(name='fn_or_cls')", {pyref}]
                for i, value in enumerate(node):
                    stack.append((value, f"{where}[{i}]"))
            elif isinstance(node, TaggedValue):
                self._tagged(node, where)
                stack.append((node.value, where))
            elif isinstance(node, str):
                if _TUPLE.match(node.strip()):
                    self._tuple_string(node, where)
                if "${" in node and _EVAL_RESOLVER.search(node):
                    self.evals += [(where, e) for e in _unsafe_eval_arguments(node)]

    # -- Hydra, NeMo, jsonargparse ------------------------------------------
    def _mapping(self, node: dict[Any, Any], where: str) -> None:
        prefix = f"{where}." if where else ""
        if node.get("type") == "pyref":
            self._pyref(node, where)
        if "_target_" in node:
            partial = node.get("_partial_") in _TRUTHY
            self._target(node, f"{prefix}_target_", "Hydra _target_", node["_target_"], not partial)
        if "_component_" in node:
            self._target(
                node, f"{prefix}_component_", "torchtune _component_", node["_component_"], True
            )
        if "class_path" in node:
            self._target(
                node, f"{prefix}class_path", "jsonargparse class_path", node["class_path"], True
            )
        if "params" in node:
            for key in ("cls", "target"):
                if key in node:
                    self._target(node, f"{prefix}{key}", f"Hydra 0.x {key}", node[key], True)

    def _pyref(self, node: dict[Any, Any], where: str) -> None:
        """Fiddle's serialised reference (NeMo 2's ``context/io.json``): NeMo's
        ``load_context`` imports every object type with ``pydoc.locate`` and
        ``fdl.build`` calls each ``fn_or_cls``. Only names the policy knows to be
        dangerous are reported: no real ``io.json`` was at hand to vet the rest
        (NeMo, Megatron and PyTorch classes, builtins, Fiddle's own types)."""
        module, name = node.get("module"), node.get("name")
        if not isinstance(module, str) or not isinstance(name, str):
            return
        target = f"{module}.{name}" if module else name
        if judge_target(target).status != "dangerous":
            return
        called = id(node) in self.built
        self.refs.append(ConfigReference(target, where, "Fiddle pyref", called))

    def _target(self, node: dict[Any, Any], where: str, how: str, value: Any, called: bool) -> None:
        args: dict[str, Any] = {
            str(k): v for k, v in node.items() if str(k) not in _HYDRA_KEYS and k != "class_path"
        }
        if "_args_" in node:
            args = {"*": node["_args_"], **args}
        remote = _remote_code(args) or _remote_code(node.get("init_args"))
        if isinstance(value, TaggedValue) and isinstance(value.value, str):
            value = value.value  # a custom tag on the name is read as the plain string
        if not isinstance(value, str):
            self.refs.append(
                ConfigReference(_render(value, 60), where, how, called, _render(args), True, remote)
            )
            return
        resolved = self._interpolate(value)
        dynamic = resolved is None
        self.refs.append(
            ConfigReference(
                value if dynamic else resolved or value,
                where,
                how,
                called,
                _render(args),
                dynamic,
                remote,
            )
        )

    def _interpolate(self, value: str, depth: int = 0) -> str | None:
        """OmegaConf ``${a.b}`` interpolation of a name; None when it cannot be known."""
        if "${" not in value:
            return value
        if depth > _MAX_REF_DEPTH:
            return None

        def replace(match: re.Match[str]) -> str:
            key = match.group(1).strip()
            if ":" in key or key.startswith("."):
                raise LookupError(key)  # resolvers (oc.env, ...) and relative keys
            found = _lookup(self.doc, key.split("."))
            if not isinstance(found, str):
                raise LookupError(key)
            inner = self._interpolate(found, depth + 1)
            if inner is None:
                raise LookupError(key)
            return inner

        try:
            out = _OC_INTERP.sub(replace, value)
        except LookupError:
            return None
        return None if "${" in out else out

    # -- hyperpyyaml and PyYAML tags -------------------------------------------
    def _tagged(self, node: TaggedValue, where: str) -> None:
        tag = node.tag
        args = _render(node.value)
        if tag.startswith(_PY_TAG):
            kind, _, target = tag[len(_PY_TAG) :].partition(":")
            if kind in _PY_DATA_TAGS or not target:
                return
            called = kind in ("object/apply", "object/new", "object")
            self.refs.append(
                ConfigReference(
                    target, where, f"PyYAML !!python/{kind}:", called, args, False,
                    _remote_code(node.value),
                )
            )  # fmt: skip
            return
        for prefix, called in (*_HYPER_CALLS.items(), *_HYPER_REFS.items()):
            if tag.startswith(prefix):
                target = tag[len(prefix) :]
                # !name: with arguments binds them (functools.partial)
                self.refs.append(
                    ConfigReference(
                        target, where, f"hyperpyyaml {prefix}", called, args, False,
                        _remote_code(node.value),
                    )
                )  # fmt: skip
                return
        if tag.startswith("!include:"):
            self.includes.append((where, tag[len("!include:") :]))
        elif tag in ("!ref", "!copy") and isinstance(node.value, str):
            resolved = self._hyper_interpolate(node.value)
            if resolved is not None and _TUPLE.match(resolved.strip()):
                self._tuple_string(resolved, f"{where} (assembled by {tag} {node.value})")
        elif tag == "!tuple" and isinstance(node.value, str):
            self._tuple_string(node.value, where)

    def _hyper_interpolate(self, value: str, depth: int = 0) -> str | None:
        """hyperpyyaml's ``<a[b]>`` string interpolation, on the data as written."""
        if depth > _MAX_REF_DEPTH or not _REF.search(value):
            return value

        def replace(match: re.Match[str]) -> str:
            path = match.group(0).strip("<>").split(".", 1)[0]
            keys = [p.strip("]") for p in path.split("[")]
            found = _lookup(self.doc, keys)
            if isinstance(found, TaggedValue) and found.tag in ("!ref", "!copy"):
                found = found.value
            if isinstance(found, str):
                inner = self._hyper_interpolate(found, depth + 1)
                return match.group(0) if inner is None else inner
            return str(found) if isinstance(found, int | float) else match.group(0)

        return _REF.sub(replace, value)

    def _tuple_string(self, text: str, where: str) -> None:
        """hyperpyyaml reads ``(...)`` scalars as ``[...]`` with PyYAML's unsafe Loader."""
        inner = text.strip()
        if "!" not in inner:
            return
        try:
            doc = load_yaml_keeping_tags("[" + inner[1:-1] + "]")
        except ValueError:
            self.refs.extend(
                ConfigReference(r.target, f"{where} {r.where}", r.how, r.called, r.args)
                for r in lexical_references(inner)
            )
            return
        sub = _Walk(doc, nemo=False, budget=self.budget)
        sub.run()
        self.budget = sub.budget
        self.exhausted |= sub.exhausted
        self.refs.extend(
            ConfigReference(
                r.target, f"{where} (tuple) {r.where}".rstrip(), r.how, r.called, r.args,
                r.dynamic, r.remote_code,
            )
            for r in sub.refs
        )  # fmt: skip


_EVAL_RESOLVER: Final = re.compile(r"\$\{\s*(?:eval|exec)\s*:")
# What an arithmetic ${eval:...} needs; anything else (calls, attributes,
# subscripts, lambdas, comprehensions) is code.
_ARITHMETIC: Final = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Constant,
    ast.Name, ast.Load, ast.Tuple, ast.List, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)  # fmt: skip


def _resolver_arguments(text: str) -> list[str]:
    """The argument text of each ``${eval:...}`` in ``text`` (nested ``${..}`` kept)."""
    out = []
    for match in _EVAL_RESOLVER.finditer(text):
        depth, i = 1, match.end()
        while i < len(text) and depth:
            if text.startswith("${", i):
                depth, i = depth + 1, i + 2
                continue
            depth -= text[i] == "}"
            i += 1
        out.append(text[match.end() : i - 1 if depth == 0 else i].strip())
    return out


def _unsafe_eval_arguments(text: str) -> list[str]:
    unsafe = []
    for argument in _resolver_arguments(text):
        expression = argument
        if len(expression) >= 2 and expression[0] == expression[-1] and expression[0] in "'\"":
            expression = expression[1:-1]
        expression = re.sub(r"\$\{[^${}]*\}", "x", expression)  # interpolations are values
        try:
            tree = ast.parse(expression.strip(), mode="eval")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            if "${" not in expression:
                unsafe.append(argument)
            continue
        if not all(
            isinstance(n, _ARITHMETIC) and not (isinstance(n, ast.Name) and "__" in n.id)
            for n in ast.walk(tree)
        ):
            unsafe.append(argument)
    return unsafe


def _lookup(doc: Any, keys: list[str]) -> Any:
    node = doc
    for key in keys:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def _remote_code(args: Any) -> bool:
    if isinstance(args, TaggedValue):
        args = args.value
    if isinstance(args, dict):
        return any(str(k) == "trust_remote_code" and v in _TRUTHY for k, v in args.items())
    return False


@dataclass(frozen=True, slots=True)
class ConfigAnalysis:
    """What one parsed config makes its loader do."""

    references: list[ConfigReference]
    includes: list[tuple[str, str]]
    """(path in the config, file) of hyperpyyaml ``!include:`` tags."""
    exhausted: bool
    """The walk stopped at :data:`MAX_CONFIG_NODES`."""
    evals: list[tuple[str, str]] = field(default_factory=list)
    """(path in the config, expression) of ``${eval:...}`` that do more than arithmetic."""


def find_references(doc: Any, *, nemo: bool = False) -> ConfigAnalysis:
    """Every name ``doc`` makes a config-driven loader import.

    ``nemo``: the document is a NeMo model config, whose top-level ``target``
    names the model class.
    """
    walk = _Walk(doc, nemo=nemo)
    walk.run()
    return ConfigAnalysis(walk.refs, walk.includes, walk.exhausted, walk.evals)


_ASSIGN: Final = r"""["']?\s*[:=]\s*["']?"""
_PY: Final = r"(?:!!|tag:yaml\.org,2002:)python/"
_NAME: Final = r"([\w.%]+)"  # tags may carry %-escapes (os%2Esystem), decoded below
_KEY_PATTERNS: Final[tuple[tuple[re.Pattern[str], str, bool], ...]] = (
    (re.compile(r"""["']?_target_""" + _ASSIGN + r"([\w.${}:]+)"), "Hydra _target_", True),
    (re.compile(r"""["']?class_path""" + _ASSIGN + _NAME), "jsonargparse class_path", True),
    (re.compile(r"""["']?_component_""" + _ASSIGN + _NAME), "torchtune _component_", True),
)
_TAG_PATTERNS: Final[tuple[tuple[re.Pattern[str], str, bool], ...]] = (
    (re.compile(r"!(new|apply|applyref):" + _NAME), "hyperpyyaml", True),
    (re.compile(r"!(name|module):" + _NAME), "hyperpyyaml", False),
    (re.compile(_PY + r"(object/apply|object/new|object):" + _NAME), "PyYAML !!python/", True),
    (re.compile(_PY + r"(name|module):" + _NAME), "PyYAML !!python/", False),
)
_COMMENT: Final = re.compile(r"(?:^|(?<=\s))#[^\n]*")
_TAG_DIRECTIVE: Final = re.compile(r"^%TAG[ \t]+(\S+)[ \t]+(\S+)", re.MULTILINE)


def _expand_tag_handles(text: str) -> str:
    """Apply ``%TAG !h! prefix`` directives, so ``!h!os.system`` reads as the full tag."""
    for handle, prefix in _TAG_DIRECTIVE.findall(text):
        if handle != "!" and handle.startswith("!") and handle.endswith("!"):
            text = re.sub(re.escape(handle) + r"(?=[\w%])", prefix.replace("\\", "\\\\"), text)
    return text


def lexical_references(text: str, *, tags_only: bool = False) -> list[ConfigReference]:
    """Names found by pattern: in configs that do not parse or are too large,
    and (``tags_only``) tags that a different YAML parser might see where the
    safe one did not."""
    from urllib.parse import unquote

    refs: list[ConfigReference] = []
    patterns = _TAG_PATTERNS if tags_only else (*_KEY_PATTERNS, *_TAG_PATTERNS)
    expanded = _expand_tag_handles(text) if "%TAG" in text else text
    for pattern, how, called in patterns:
        for match in pattern.finditer(expanded):
            target = unquote(match.group(match.lastindex or 1))
            label = (
                f"{how}{'' if how.endswith('/') else ' !'}{match.group(1)}:"
                if (match.lastindex or 0) > 1
                else how
            )
            line = expanded.count("\n", 0, match.start()) + 1
            refs.append(ConfigReference(target, f"line {line}", label, called, "", "${" in target))
    return refs


# -- reporting ----------------------------------------------------------------


def _scan_root(ctx: ScanContext) -> Path | None:
    if ctx.fs_path is None:
        return None
    depth = len(Path(ctx.path).parts)
    parents = ctx.fs_path.parents
    return parents[depth - 1] if 0 < depth <= len(parents) else None


def _shipped_module(ctx: ScanContext, loc: Location, target: str) -> str | None:
    """The file of the scanned tree that importing ``target`` would run, if any.

    Loaders put the script's or the model's folder on ``sys.path``; a module
    shipped next to the config (or in a folder above it, up to the scanned
    root) is what they import.
    """
    if loc or ctx.fs_path is None:
        return None
    root = _scan_root(ctx)
    parts = target.split(".")
    folder = ctx.fs_path.parent
    while root is not None:
        candidates = [folder / f"{parts[0]}.py", folder / parts[0] / "__init__.py"]
        if len(parts) > 1:  # a namespace package: the submodule itself
            candidates += [folder / parts[0] / f"{parts[1]}.py", folder / parts[0] / parts[1]]
        # what the import finds when there is no source: bytecode, extension modules
        candidates += [folder / f"{parts[0]}{suffix}" for suffix in _COMPILED_SUFFIXES]
        with contextlib.suppress(OSError):  # name.cpython-311-x86_64-linux-gnu.so and kin
            for suffix in (".so", ".pyd"):
                candidates += sorted(folder.glob(f"{glob.escape(parts[0])}.*{suffix}"))
        for candidate in candidates:
            if candidate.exists():
                return candidate.relative_to(root).as_posix()
        if folder == root or root not in folder.parents:
            break
        folder = folder.parent
    return None


def report_references(ctx: ScanContext, refs: list[ConfigReference], loc: Location) -> None:
    """Findings for the names one config makes its loader import."""
    benign: dict[str, list[str]] = {}
    for ref in refs:
        ctx.tick()
        shown = f"{ref.where}: {ref.how} {ref.target}" + (f" {ref.args}" if ref.args else "")
        if ref.remote_code:
            ctx.add(
                "config-remote-code",
                loc,
                None,
                f"{shown} (trust_remote_code is on)",
            )
        if ref.dynamic:
            ctx.add(
                "config-target-dynamic",
                loc,
                None,
                shown,
                severity=None if ref.called else Severity.MEDIUM,
            )
            continue
        verdict = judge_target(ref.target, ctx.allow)
        if verdict.status == "dangerous":
            ctx.add(
                "config-target-dangerous",
                loc,
                None,
                f"{shown} ({verdict.reason})",
                message=None
                if ref.called
                else "Config binds a dangerous primitive (not called "
                "while loading: whoever calls it runs it)",
                severity=None if ref.called else Severity.HIGH,
            )
        elif verdict.status == "unlisted":
            if not _report_unlisted(ctx, loc, ref, shown, verdict):
                benign.setdefault(ref.how, []).append(f"{ref.target} (module import)")
        elif verdict.status in ("trusted", "allowed"):
            note = " (loads another model)" if verdict.loads_model else ""
            benign.setdefault(ref.how, []).append(ref.target + note)
    if benign:
        parts = []
        for how, targets in sorted(benign.items()):
            unique = sorted(set(targets))
            more = f" and {len(unique) - _SHOWN} more" if len(unique) > _SHOWN else ""
            parts.append(f"{how}: {', '.join(unique[:_SHOWN])}{more}")
        ctx.add("config-instantiation", loc, None, "; ".join(parts))


def _report_unlisted(
    ctx: ScanContext, loc: Location, ref: ConfigReference, shown: str, verdict: TargetVerdict
) -> bool:
    """Report a name outside the trusted libraries; False when it needs no finding.

    Code shipped with the model is low: it is among the scanned files, and
    what it does is reported by the Python analysis. A class of a package
    outside the standard library is low too: it exists only if the user
    installed that package, and constructing objects from config data is
    what these loaders are for (the packages' known primitives are on the
    denylist). Functions and standard-library names are high when called
    (medium when only bound): that is where gadgets such as file writers
    live. A bare name is a plain import of an installed top-level module
    (the call that follows fails): not worth a finding unless the denylist
    knows it.
    """
    shipped = _shipped_module(ctx, loc, ref.target)
    if shipped is not None and shipped.endswith(_COMPILED_SUFFIXES):
        ctx.add(
            "config-target-unlisted",
            loc,
            None,
            f"{shown}: imports {shipped}, compiled code shipped with the model (it cannot be read)",
            message="Config makes its loader import compiled code shipped with the model",
            severity=Severity.HIGH if ref.called else Severity.MEDIUM,
        )
        return True
    if shipped is not None:
        ctx.add(
            "config-target-unlisted",
            loc,
            None,
            f"{shown}: imports {shipped}, shipped with the model (its code is analysed as Python)",
            message="Config makes its loader import code shipped with the model",
            severity=Severity.LOW,
        )
        return True
    if "." not in ref.target:
        return False
    if verdict.third_party_class:
        severity = Severity.LOW
    else:
        severity = Severity.HIGH if ref.called else Severity.MEDIUM
    ctx.add(
        "config-target-unlisted",
        loc,
        None,
        f"{shown} ({verdict.reason})",
        message=None if ref.called else "Config binds a name outside well-known ML libraries",
        severity=severity,
    )
    return True


def _scan_includes(
    ctx: ScanContext,
    includes: list[tuple[str, str]],
    loc: Location,
    folder: Path | None,
    depth: int,
) -> None:
    """Analyse the files hyperpyyaml's ``!include:`` would read, whatever their names.

    hyperpyyaml opens an included file relative to the including one and
    constructs its tags like its own, so ``!include:labels.txt`` is a config
    even though no loader would find ``labels.txt`` by its name. YAML-named
    files are analysed on their own; escapes are reported by
    :func:`_report_includes` and never read. Only files on disk under the
    scanned root are read (not members of archives, where hyperpyyaml does
    not look either).
    """
    root = _scan_root(ctx)
    if root is None or ctx.fs_path is None or (loc and folder is None):
        return
    base = folder or ctx.fs_path.parent
    for where, target in includes:
        target = target.strip()
        if not target or _basename(target).endswith(_YAML_SUFFIXES):
            continue
        if depth >= _MAX_REF_DEPTH:
            ctx.add(
                "scan-limit-reached",
                loc,
                None,
                f"{where}: !include:{target} nested more than {_MAX_REF_DEPTH} deep (not followed)",
            )
            continue
        try:
            path = (base / target).resolve()
            inside = path.is_relative_to(root.resolve()) and path.is_file()
        except (OSError, ValueError, RuntimeError):
            continue
        if not inside:
            continue  # escapes are config-include-escape; missing files stop the loader
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_LEXICAL_BYTES + 1)
        except OSError:
            continue
        label = f"<!include:{target}>"
        _scan_yaml(
            ctx,
            Blob.of(data),
            (*loc, label),
            label,
            mlmodel=False,
            nemo=False,
            folder=path.parent,
            depth=depth + 1,
        )


def _report_includes(
    ctx: ScanContext, includes: list[tuple[str, str]], loc: Location, name: str
) -> None:
    base_dir = posixpath.dirname(name.replace("\\", "/")) if loc else posixpath.dirname(ctx.path)
    for where, target in includes:
        target = target.strip()
        joined = posixpath.normpath(posixpath.join(base_dir, target))
        if target.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", target):
            why = "an absolute path"
        elif joined == ".." or joined.startswith("../"):
            why = "a path that leaves the scanned folder"
        else:
            continue
        ctx.add(
            "config-include-escape",
            loc,
            None,
            f"{where}: !include:{target} is {why}",
        )


# -- entry points ---------------------------------------------------------------


def _basename(name: str) -> str:
    return posixpath.basename(name.replace("\\", "/"))


def is_config_name(name: str) -> bool:
    base = _basename(name)
    return base.endswith(_YAML_SUFFIXES) or base in (_MLMODEL, _PICKLE_MODULE_INFO)


def scan_config_file(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str | None:
    """Analyse a repository file as a config, by name.

    Returns the format label when the file is a YAML config, an MLflow
    ``MLmodel`` or a torch pickle-module pointer (fully handled here), or None
    (JSON files are analysed for targets and then left to the caller).
    """
    base = _basename(name)
    if base == _PICKLE_MODULE_INFO:
        from openward.scanning.formats.mlflow import scan_pickle_module_info

        scan_pickle_module_info(ctx, blob, loc)
        return "text"
    if base.endswith(_YAML_SUFFIXES) or base == _MLMODEL:
        return _scan_yaml(ctx, blob, loc, name, mlmodel=base == _MLMODEL, nemo=base == _NEMO_CONFIG)
    if blob.size <= MAX_LEXICAL_BYTES:
        _scan_json_targets(ctx, blob, loc, name)
    return None


def _read_text(ctx: ScanContext, blob: Blob, loc: Location) -> str | None:
    if blob.size > MAX_LEXICAL_BYTES:
        ctx.add(
            "scan-limit-reached",
            loc,
            None,
            f"config of {blob.size} bytes not searched "
            f"(limit MAX_LEXICAL_BYTES={MAX_LEXICAL_BYTES})",
        )
        return None
    data = blob.read(0, blob.size)
    ctx.charge_read(len(data))
    if not any(m in data for m in _MARKERS):
        return None
    return data.decode("utf-8", "replace")


def _scan_yaml(
    ctx: ScanContext,
    blob: Blob,
    loc: Location,
    name: str,
    *,
    mlmodel: bool,
    nemo: bool,
    folder: Path | None = None,
    depth: int = 0,
) -> str:
    """``folder``: where an included file lives (its own includes are relative to it)."""
    text = _read_text(ctx, blob, loc)
    if text is None:
        return "yaml"
    doc = _parse_yaml(ctx, text, loc, name)
    if doc is _UNPARSED:
        return "yaml"
    if isinstance(doc, dict) and not nemo and "nemo_version" in doc:
        nemo = True
    analysis = find_references(doc, nemo=nemo)
    _finish(ctx, loc, name, analysis)
    _scan_includes(ctx, analysis.includes, loc, folder, depth)
    # hyperpyyaml parses with ruamel, not PyYAML: a tag the two read differently
    # (or one in text the safe parser took for a plain string) is still reported
    seen = {r.target for r in analysis.references}
    unseen = [
        ConfigReference(r.target, f"{r.where} (found by pattern)", r.how, r.called)
        for r in lexical_references(_COMMENT.sub("", text), tags_only=True)
        if r.target not in seen
    ]
    report_references(ctx, unseen, loc)
    if mlmodel and isinstance(doc, dict) and isinstance(doc.get("flavors"), dict):
        from openward.scanning.formats.mlflow import scan_mlmodel

        scan_mlmodel(ctx, doc, loc, name)
        return "mlflow-mlmodel"
    return "yaml"


_UNPARSED: Final = object()


def _parse_yaml(ctx: ScanContext, text: str, loc: Location, name: str) -> Any:
    """The parsed document, or ``_UNPARSED`` after a lexical search was reported."""
    if len(text) <= MAX_CONFIG_BYTES:
        try:
            return load_yaml_keeping_tags(text)
        except ValueError:
            pass  # searched by pattern below
    # Too large, or YAML PyYAML refuses (loaders such as ruamel accept more):
    # search it by pattern rather than skip it.
    report_references(ctx, lexical_references(text), loc)
    return _UNPARSED


def _finish(ctx: ScanContext, loc: Location, name: str, analysis: ConfigAnalysis) -> None:
    report_references(ctx, analysis.references, loc)
    _report_includes(ctx, analysis.includes, loc, name)
    for where, expression in analysis.evals:
        ctx.add(
            "config-target-dangerous",
            loc,
            None,
            f"{where}: ${{eval:{expression}}} (calls, attributes or names beyond arithmetic)",
            message="Config interpolation runs Python through an eval resolver (applications "
            "such as lightning-hydra-template register Python's eval under that name)",
            severity=Severity.HIGH,
        )
    if analysis.exhausted:
        ctx.add(
            "scan-limit-reached",
            loc,
            None,
            f"config has more than {MAX_CONFIG_NODES} values (limit MAX_CONFIG_NODES)",
        )


def _scan_json_targets(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> None:
    data = blob.read(0, blob.size)
    if not any(key in data for key in _JSON_KEYS) and not _ASCII_ESCAPE.search(data):
        return
    text = data.decode("utf-8", "replace")
    doc: Any = _UNPARSED
    if blob.size <= MAX_CONFIG_BYTES:
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            doc = _UNPARSED
    if doc is _UNPARSED:
        report_references(ctx, lexical_references(text), loc)
        return
    _finish(ctx, loc, name, find_references(doc))


def scan_embedded_config(ctx: ScanContext, text: str, loc: Location) -> None:
    """A config stored as a string inside another format (safetensors metadata)."""
    data = text.encode("utf-8", "replace")
    if not any(m in data for m in (b"target", b"class_path", b"_component_", b"\\", b"!")):
        return
    stripped = text.lstrip()
    doc: Any = _UNPARSED
    if stripped[:1] in ("{", "["):
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError):
            doc = _UNPARSED
    if doc is _UNPARSED and len(text) <= MAX_CONFIG_BYTES:
        try:
            doc = load_yaml_keeping_tags(text)
        except ValueError:
            doc = _UNPARSED
    if doc is _UNPARSED:
        report_references(ctx, lexical_references(text), loc)
        return
    if not isinstance(doc, dict | list):
        return  # a plain string value
    _finish(ctx, loc, "", find_references(doc))
