"""Dotted pickle names resolved through module sources, and the generated list of
library functions that run their caller's commands."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from openward.scanning.pickle_names import module_source, resolve_dotted
from openward.scanning.pickle_policy import classify_global

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("module", "name", "expected"),
    [
        ("posixpath", "os.system", ("os", "system")),
        ("shutil", "os.system", ("os", "system")),
        ("tempfile", "_os.system", ("os", "system")),  # import os as _os
        ("os", "path.join", ("posixpath", "join")),  # the POSIX branch's binding wins
        ("torch", "_utils._rebuild_tensor_v2", ("torch._utils", "_rebuild_tensor_v2")),
        (
            "asyncio",
            "subprocess.create_subprocess_shell",
            ("asyncio.subprocess", "create_subprocess_shell"),
        ),
        ("nosuchmodule", "a.b", ("nosuchmodule", "a.b")),
    ],
)
def test_dotted_names_resolve_through_imports(
    module: str, name: str, expected: tuple[str, str]
) -> None:
    assert resolve_dotted(module, name) == expected


def test_resolution_reads_sources_and_imports_nothing() -> None:
    before = set(sys.modules)
    assert module_source("antigravity") is not None  # opens a browser when imported
    resolve_dotted("antigravity", "webbrowser.open")
    assert "antigravity" not in set(sys.modules) - before


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("posixpath", "os.system"),  # the outside run's protocol-4 case
        ("some.unknown.module", "os.system"),  # no source: a dangerous segment still counts
        ("mailcap", "findmatch"),
        ("pydoc", "pipepager"),
        ("torch.utils.collect_env", "run"),
        ("platform", "_syscmd_file"),
    ],
)
def test_command_runners_and_resolved_primitives_are_critical(module: str, name: str) -> None:
    verdict = classify_global(module, name)
    assert verdict.status == "dangerous", verdict


def test_dotted_names_are_never_allowed_whatever_they_resolve_to() -> None:
    assert classify_global("torch", "_utils._rebuild_tensor_v2").status != "allowed"


def _finder():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "find_command_runners", ROOT / "scripts" / "find_command_runners.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_runner_list_matches_the_installed_sources() -> None:
    """Re-run the generator's analysis on a few modules of this machine's
    standard library and torch: whatever it finds must be in the shipped list."""
    finder = _finder()
    modules = ["mailcap", "pydoc", "platform", "uuid", "torch.utils.collect_env"]
    files = {m: module_source(m) for m in modules}
    found = finder.find_runners({m: p for m, p in files.items() if p is not None})
    shipped = json.loads((ROOT / "src/openward/scanning/data/command_runners.json").read_text())[
        "entries"
    ]
    listed = {(e["module"], e["name"]) for e in shipped}
    assert ("mailcap", "findmatch") in found
    assert ("torch.utils.collect_env", "run") in found
    assert set(found) <= listed
