"""Find the functions of installed libraries that run a caller's command or code.

A pickle that calls ``mailcap.findmatch`` or ``torch.utils.collect_env.run``
runs a shell command as surely as one that calls ``os.system``; the pickle
policy should call such a global what it is (critical), not merely "not on
the allowlist". This script finds them by reading source, never importing
the modules it reads: a function is a *command runner* when it passes one of
its own parameters (directly, or through local variables) to a primitive
that runs commands or code (``os.system``, ``subprocess.Popen``, ``exec``,
...) or to another command runner. Classes whose ``__init__`` does so count
too (a pickle can instantiate them).

It writes ``src/openward/scanning/data/command_runners.json`` with its
provenance (Python and library versions, date). Re-run it when the
interpreter or the libraries move::

    .venv/bin/python scripts/find_command_runners.py

The test suite re-checks the shipped list against the installed sources
(tests/scanning/test_pickle_names.py).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime
import importlib.metadata
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from openward.scanning.pickle_names import module_source  # noqa: E402

OUT = ROOT / "src" / "openward" / "scanning" / "data" / "command_runners.json"

# Third-party libraries whose sources are read (when installed): the ones
# model files are pickled with or that ship next to them.
LIBRARIES = {
    "torch": "torch",
    "numpy": "numpy",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "pandas": "pandas",
    "joblib": "joblib",
    "transformers": "transformers",
    "huggingface_hub": "huggingface_hub",
    "setuptools": "setuptools",
    "pip": "pip",
    "IPython": "ipython",
}

PRIMITIVES = (
    {
        ("os", n)
        for n in [
            "system",
            "popen",
            "execl",
            "execle",
            "execlp",
            "execlpe",
            "execv",
            "execve",
            "execvp",
            "execvpe",
            "spawnl",
            "spawnle",
            "spawnlp",
            "spawnlpe",
            "spawnv",
            "spawnve",
            "spawnvp",
            "spawnvpe",
            "posix_spawn",
            "posix_spawnp",
            "startfile",
        ]
    }
    | {
        ("subprocess", n)
        for n in [
            "Popen",
            "run",
            "call",
            "check_call",
            "check_output",
            "getoutput",
            "getstatusoutput",
        ]
    }
    | {
        ("posix", "system"),
        ("nt", "system"),
        ("pty", "spawn"),
        ("builtins", "exec"),
        ("builtins", "eval"),
        ("asyncio", "create_subprocess_shell"),
        ("asyncio", "create_subprocess_exec"),
        ("asyncio.subprocess", "create_subprocess_shell"),
        ("asyncio.subprocess", "create_subprocess_exec"),
    }
)
_BUILTIN_CALLS = {"exec", "eval"}


def _module_files() -> dict[str, Path]:
    """Module name -> source file, for the standard library and the chosen libraries."""
    found: dict[str, Path] = {}
    stdlib = sys.stdlib_module_names
    tops = sorted(n for n in stdlib if not n.startswith("_") or n == "_osx_support")
    tops += [t for t in LIBRARIES if module_source(t) is not None]
    for top in tops:
        path = module_source(top)
        if path is None:
            continue
        if path.name != "__init__.py":
            found[top] = path
            continue
        base = path.parent
        for file in sorted(base.rglob("*.py")):
            rel = file.relative_to(base).with_suffix("")
            parts = [top, *rel.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if any(p in ("tests", "test", "testing") for p in parts[1:]):
                continue
            if all(p.isidentifier() for p in parts):
                found[".".join(parts)] = file
    return found


class _Function:
    def __init__(self, module: str, name: str, node: ast.FunctionDef | ast.AsyncFunctionDef):
        self.module = module
        self.name = name
        self.node = node
        self.params = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _tainted(fn: _Function) -> set[str]:
    """Parameters and the local names computed from them (two passes, in order)."""
    tainted = set(fn.params) - {"self", "cls"}
    for _ in range(2):
        for node in ast.walk(fn.node):
            if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and node.value:
                if _names(node.value) & tainted:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for t in targets:
                        tainted |= _names(t)
            elif isinstance(node, ast.For | ast.comprehension) and _names(node.iter) & tainted:
                tainted |= _names(node.target)
            elif (
                isinstance(node, ast.withitem)
                and node.optional_vars is not None
                and _names(node.context_expr) & tainted
            ):
                tainted |= _names(node.optional_vars)
    return tainted


def _bindings(module: str, tree: ast.Module, is_package: bool) -> dict[str, tuple[str, str]]:
    from openward.scanning.pickle_names import _absolute

    found: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.asname or alias.name.split(".")[0], (alias.name, ""))
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.module, node.level)
            if base:
                for alias in node.names:
                    found.setdefault(alias.asname or alias.name, (base, alias.name))
    return found


def _callee(call: ast.Call, module: str, binds: dict[str, tuple[str, str]]) -> tuple[str, str]:
    chain: list[str] = []
    node: ast.expr = call.func
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ("", "")
    chain.append(node.id)
    chain.reverse()
    if chain[0] in binds:
        mod, attr = binds[chain[0]]
        rest = chain[1:]
        if attr:
            rest = [attr, *rest]
        if not rest:
            return ("", "")
        return (".".join([mod, *rest[:-1]]), rest[-1])
    if len(chain) == 1:
        if chain[0] in _BUILTIN_CALLS:
            return ("builtins", chain[0])
        return (module, chain[0])
    return ("", "")


def find_runners(files: dict[str, Path]) -> dict[tuple[str, str], str]:
    """Command runners among the top-level functions and classes of ``files``
    (module name -> source), each with the call that makes it one."""
    functions: list[tuple[_Function, list[tuple[ast.Call, tuple[str, str]]]]] = []
    for module, path in files.items():
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        binds = _bindings(module, tree, path.name == "__init__.py")
        defs: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                defs.append((node.name, node))
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        defs.append((node.name, item))
        for name, node in defs:
            fn = _Function(module, name, node)
            calls = [
                (c, _callee(c, module, binds)) for c in ast.walk(node) if isinstance(c, ast.Call)
            ]
            functions.append((fn, calls))
    runners: dict[tuple[str, str], str] = {p: "primitive" for p in PRIMITIVES}
    changed = True
    while changed:
        changed = False
        for fn, calls in functions:
            key = (fn.module, fn.name)
            if key in runners:
                continue
            tainted = _tainted(fn)
            for call, callee in calls:
                if callee not in runners:
                    continue
                used = set().union(
                    *(_names(a) for a in call.args), *(_names(k.value) for k in call.keywords)
                )
                if used & tainted:
                    runners[key] = f"{callee[0]}.{callee[1]}"
                    changed = True
                    break
    return {k: v for k, v in runners.items() if v != "primitive" and not k[1].startswith("__")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    runners = find_runners(_module_files())
    entries = [{"module": m, "name": n, "via": via} for (m, n), via in sorted(runners.items())]
    versions = {}
    for top, dist in LIBRARIES.items():
        if module_source(top) is not None:
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                versions[dist] = importlib.metadata.version(dist)
    doc = {
        "about": "Functions and classes that run a command or code their caller passes in, "
        "found by scripts/find_command_runners.py from the sources of the standard library "
        "and the libraries below. A pickle global naming one is reported as critical.",
        "generated": datetime.date.today().isoformat(),
        "python": sys.version.split()[0],
        "libraries": versions,
        "entries": entries,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    print(f"{len(entries)} command runners -> {args.out}")


if __name__ == "__main__":
    main()
