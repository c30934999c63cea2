"""What a dotted pickle global really is, found by reading module sources, never importing.

Protocol 4 resolves ``STACK_GLOBAL`` names attribute by attribute, so
``posixpath`` + ``os.system`` is ``os.system``: ``posixpath`` imports ``os``
and the unpickler walks through it. To judge such a name by what it reaches,
this module reads the named module's source (located with the import
system's path finder, which runs no module code) and follows the names it
binds by ``import``/``from ... import``/plain assignment of an imported name.
When no source can be found, a path segment that names a module on the
denylist (``x.os.system``) still counts.

The result only ever makes a verdict stricter: a dotted name stays off the
allowlist whatever it resolves to, because the installed module is not
necessarily the one on the machine that loads the file.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Final

__all__ = ["attribute_chain", "module_source", "resolve_dotted"]

_MAX_SOURCE: Final = 4 << 20
_MAX_HOPS: Final = 8


@lru_cache(maxsize=1024)
def module_source(module: str) -> Path | None:
    """The ``.py`` file of ``module`` on this machine, found without importing anything."""
    parts = module.split(".")
    if not all(p.isidentifier() for p in parts):
        return None
    search: list[str] | None = None
    origin: str | None = None
    for i in range(len(parts)):
        try:
            spec = PathFinder.find_spec(".".join(parts[: i + 1]), search)
        except (ImportError, ValueError, OSError):
            return None
        if spec is None:
            return None
        origin = spec.origin
        locations = spec.submodule_search_locations
        search = list(locations) if locations is not None else None
        if i < len(parts) - 1 and search is None:
            return None
    if origin is None or not origin.endswith(".py"):
        return None
    path = Path(origin)
    try:
        if path.stat().st_size > _MAX_SOURCE:
            return None
    except OSError:
        return None
    return path


Binding = tuple[str, str | None]
"""``(module, attribute)``; attribute None when the name is the module itself."""


def _absolute(module: str, is_package: bool, target: str | None, level: int) -> str | None:
    if level == 0:
        return target
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level - 1 > len(base):
        return None
    base = base[: len(base) - (level - 1)]
    if target:
        base.append(target)
    return ".".join(base) or None


def attribute_chain(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for anything but names and attributes."""
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    names.append(node.id)
    return names[::-1]


def _statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Module-level statements, including those under ``if``/``try``.

    The first binding of a name wins: platform branches put the POSIX case
    first (``os`` binds ``path`` to ``posixpath`` before ``ntpath``).
    """
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If):
            out += _statements(node.body) + _statements(node.orelse)
        elif isinstance(node, ast.Try):
            out += _statements(node.body) + _statements(node.orelse)
            for handler in node.handlers:
                out += _statements(handler.body)
    return out


@lru_cache(maxsize=512)
def _bindings(module: str) -> dict[str, Binding] | None:
    path = module_source(module)
    if path is None:
        return None
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError, RecursionError, MemoryError):
        return None
    is_package = path.name == "__init__.py"
    found: dict[str, Binding] = {}
    for node in _statements(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found.setdefault(alias.asname, (alias.name, None))
                else:
                    top = alias.name.split(".", 1)[0]
                    found.setdefault(top, (top, None))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.module, node.level)
            if base is None:
                continue
            for alias in node.names:
                if alias.name != "*":
                    found.setdefault(alias.asname or alias.name, (base, alias.name))
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            chain = attribute_chain(node.value)
            if chain and chain[0] in found and len(chain) > 1:
                mod, attr = found[chain[0]]
                rest = ".".join(chain[1:])
                found.setdefault(node.targets[0].id, (mod, f"{attr}.{rest}" if attr else rest))
    return found


def resolve_dotted(module: str, name: str) -> tuple[str, str]:
    """Where ``module`` + dotted ``name`` leads, as far as module sources tell.

    Returns ``(module, name)`` with ``name`` free of dots when every hop was
    resolved, or the furthest point reached.
    """
    for _ in range(_MAX_HOPS):
        if "." not in name:
            break
        head, rest = name.split(".", 1)
        bindings = _bindings(module)
        target = bindings.get(head) if bindings is not None else None
        if target is None or target == (module, head):  # not bound, or `from . import head`
            submodule = f"{module}.{head}"
            if module_source(submodule) is None:
                break
            module, name = submodule, rest
            continue
        bound_module, attr = target
        module, name = bound_module, (f"{attr}.{rest}" if attr else rest)
    return module, name
