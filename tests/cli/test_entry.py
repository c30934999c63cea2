"""The console entry point's own parser for ``sign`` and ``verify`` (openward.cli.entry).

It must agree with typer: its option tables are compared with the click commands
typer builds, and every line it accepts, from a generated set of some thousands,
must give the parameters click gives (lines it declines go to typer unchanged).
Then real runs through the entry point: signatures that verify, the same errors
and exit codes as typer's path, no hashing thread left behind whatever happens,
and the modules it imports before the threads start.
"""

from __future__ import annotations

import functools
import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import typer

from openward.cli import entry
from openward.cli.main import app
from openward.signing.hashrun import ignored, signature_ignore, walk
from openward.signing.keys import generate_key, write_key_pair


@functools.cache
def _command(name: str) -> Any:
    """The click command typer builds (typer vendors its own click: duck-typed here)."""
    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["sign", "verify"])
def test_option_tables_are_typers(name: str) -> None:
    command = _command(name)
    table: dict[str, tuple[str, bool, bool]] = {}
    defaults: dict[str, object] = {}
    for param in command.params:
        assert param.name is not None
        if param.param_type_name == "argument":
            assert param.name == "model"
            continue
        assert param.param_type_name == "option"
        for opt in param.opts:
            table[opt] = (param.name, not param.is_flag, param.multiple)
        for opt in param.secondary_opts:
            table[opt] = (param.name, False, False)
        default = param.default
        defaults[param.name] = str(default) if isinstance(default, Path) else default
        if param.is_flag:
            for opt in param.opts:
                assert entry.FLAGS[opt] is True
            for opt in param.secondary_opts:
                assert entry.FLAGS[opt] is False
    table.pop("--help", None)
    table.pop("-h", None)
    defaults.pop("help", None)
    assert entry.OPTIONS[name] == table
    assert {k: v if v != () else None for k, v in defaults.items()} == entry.DEFAULTS[name]


def _click_params(name: str, args: list[str]) -> dict[str, object] | None:
    command = _command(name)
    try:
        ctx = command.make_context(name, list(args), resilient_parsing=False)
    except Exception as exc:  # click's usage errors and its Exit (for --help)
        assert type(exc).__name__ in {"NoSuchOption", "BadOptionUsage", "MissingParameter",
                                      "UsageError", "BadParameter", "Exit"}, exc  # fmt: skip
        return None
    out: dict[str, object] = {}
    for key, value in ctx.params.items():
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, (list, tuple)):
            value = [str(v) for v in value] or None
        out[key] = value
    return out


def _lines(name: str, count: int) -> list[list[str]]:
    rnd = random.Random(7)
    opts = list(entry.OPTIONS[name])
    words = ["m", "model/", "./x y", "-", "k.pem", "a=b", "--", "-x", "--help", "-h", "é"]
    lines: list[list[str]] = []
    for _ in range(count):
        line: list[str] = []
        for _ in range(rnd.randint(0, 6)):
            roll = rnd.random()
            if roll < 0.5:
                opt = rnd.choice(opts)
                takes = entry.OPTIONS[name][opt][1]
                form = rnd.random()
                if takes and form < 0.3 and opt.startswith("--"):
                    line.append(f"{opt}={rnd.choice(words)}")
                elif takes and form < 0.45 and not opt.startswith("--"):
                    line.append(opt + rnd.choice(words))
                else:
                    line.append(opt)
                    if takes and rnd.random() < 0.9:
                        line.append(rnd.choice(words))
            elif rnd.random() < 0.3:
                line.append(rnd.choice(words))
        if rnd.random() < 0.8:
            line.insert(rnd.randint(0, len(line)), rnd.choice(["m", "./x y", "-"]))
        lines.append(line)
    return lines


@pytest.mark.parametrize("name", ["sign", "verify"])
def test_every_line_it_takes_click_parses_the_same(name: str) -> None:
    taken = 0
    for line in _lines(name, 1500):
        mine = entry.parse(name, line)
        if mine is None:
            continue
        taken += 1
        theirs = _click_params(name, line)
        assert theirs is not None, line
        mine = {k: (str(v) if isinstance(v, Path) else v) for k, v in mine.items()}
        assert mine == theirs, line
    assert taken > 300  # the generator reaches the forms the parser takes


@pytest.mark.parametrize(
    "line",
    [
        ["--help"],
        ["m", "-h"],
        ["m", "--", "-k"],
        ["m", "n", "-k", "k"],
        ["-k", "k"],
        ["m", "-k", "a", "-k", "b"],
        ["m", "--json=1"],
        ["m", "-k", "-o"],
        ["m", "--kee", "k"],
    ],
)
def test_lines_left_to_typer(line: list[str]) -> None:
    assert entry.parse("sign", line) is None or entry.parse("verify", line) is None


# --- the light walk against pathlib --------------------------------------------------


def test_parts_and_ignored_match_purepath() -> None:
    rnd = random.Random(3)
    alphabet = ["/", "a", "b", ".", "..", "//", "///", "c/", "./", "x.y"]
    for _ in range(5000):
        rel = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 6)))
        item = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 5)))
        want = (
            PurePosixPath(rel).parts[: len(PurePosixPath(item).parts)] == PurePosixPath(item).parts
        )
        assert ignored(rel, [item]) == want, (rel, item)


def test_signature_ignore_inside_and_outside(tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / "sub").mkdir(parents=True)
    assert signature_ignore(model, model / "sub" / "s.sig") == ["sub/s.sig"]
    assert signature_ignore(str(model) + "/", "m/../m/s.sig") == []  # relative to cwd
    assert signature_ignore(model, tmp_path / "s.sig") == []
    assert signature_ignore(model, tmp_path / "m2" / "s.sig") == []  # a sibling prefix
    assert signature_ignore(model, None) == []


def test_a_link_back_into_its_folder_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / "a").mkdir(parents=True)
    (model / "a" / "f").write_text("x")
    (model / "a" / "loop").symlink_to(model / "a")
    with pytest.raises(Exception, match="back into a folder"):
        walk(model, [], True)
    (model / "a" / "loop").unlink()
    (model / "b").symlink_to(model / "a")  # a second way to the same files is fine
    assert [n for n, _, _ in walk(model, [], True)] == ["a/f", "b/f"]


# --- real runs ----------------------------------------------------------------------


@pytest.fixture
def model_and_keys(tmp_path: Path) -> tuple[Path, Path, Path]:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    rnd = random.Random(5)
    for i in range(3):
        (model / f"w{i}.safetensors").write_bytes(rnd.randbytes(3 * 1024 * 1024 + i))
    (model / "sub" / "config.json").write_text("{}")
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_text("ref")
    key, pub = tmp_path / "k.pem", tmp_path / "k.pub"
    write_key_pair(generate_key(), key, pub)
    return model, key, pub


def _no_hash_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("openward-hash")]


def test_sign_and_verify_through_the_entry_point(
    tmp_path: Path,
    model_and_keys: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, key, pub = model_and_keys
    sig = tmp_path / "m.sig"
    assert entry.fast(["sign", str(model), "-k", str(key), "-o", str(sig)]) == 0
    assert _no_hash_threads()
    assert f"signed {model} -> {sig}" in capsys.readouterr().err
    files = json.loads(sig.read_text())  # a bundle, and it verifies through typer's path
    assert "dsseEnvelope" in files
    assert entry.fast(["verify", str(model), f"--signature={sig}", f"-k{pub}", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is True and doc["files"] == 4
    (model / "w1.safetensors").write_bytes(b"changed")
    assert entry.fast(["verify", str(model), "-s", str(sig), "-k", str(pub)]) == 1
    assert "w1.safetensors: content changed since signing" in capsys.readouterr().err
    assert _no_hash_threads()


def test_errors_are_typers_errors(
    tmp_path: Path,
    model_and_keys: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    model, key, pub = model_and_keys
    sig = tmp_path / "m.sig"
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    assert entry.fast(["sign", str(model), "-k", str(bad), "-o", str(sig)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("openward: error: ") and not sig.exists()
    assert _no_hash_threads()
    assert entry.fast(["sign", str(tmp_path / "nope"), "-k", str(key), "-o", str(sig)]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (model / "link").symlink_to(model / "sub")
    assert entry.fast(["sign", str(model), "-k", str(key), "-o", str(sig)]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert entry.fast(["sign", str(model), "--allow-symlinks", "-k", str(key), "-o", str(sig)]) == 0
    capsys.readouterr()
    other = tmp_path / "other.pem"
    write_key_pair(generate_key(), other, tmp_path / "other.pub")
    assert (
        entry.fast(["verify", str(model), "-s", str(sig), "-k", str(tmp_path / "other.pub")]) == 1
    )
    assert "verification FAILED" in capsys.readouterr().err
    assert entry.fast(["verify", str(model), "-s", str(tmp_path / "none.sig"), "-k", str(pub)]) == 2
    assert "cannot read signature" in capsys.readouterr().err
    assert _no_hash_threads()


def test_lines_it_declines_go_to_typer(capsys: pytest.CaptureFixture[str]) -> None:
    assert entry.fast(["sign", "--help"]) is None
    assert entry.fast(["sign", "m"]) is None  # no key: typer's path says so
    assert entry.fast(["scan", "m"]) is None
    assert entry.fast([]) is None


_PROBE = """
import json, sys, threading
import openward.signing.hashrun as h
seen = {}
start = h.HashRun.__init__
def init(self, *a, **k):
    seen["modules"] = sorted(m for m in sys.modules if not m.startswith("_"))
    start(self, *a, **k)
h.HashRun.__init__ = init
from openward.cli.entry import run
sys.argv = ["openward", *sys.argv[1:]]
try:
    run()
except SystemExit as exc:
    seen["code"] = exc.code
print(json.dumps(seen))
"""


def test_hashing_starts_before_the_heavy_imports(
    tmp_path: Path, model_and_keys: tuple[Path, Path, Path]
) -> None:
    model, key, _ = model_and_keys
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, "sign", str(model), "-k", str(key), "-o",
         str(tmp_path / "s.sig")],
        capture_output=True, text=True, check=False, env={**os.environ, "CI": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0
    modules = set(seen["modules"])
    for heavy in ("typer", "click", "cryptography", "pathlib", "typing", "dataclasses",
                  "openward.signing.oms", "openward.cli.main"):  # fmt: skip
        assert heavy not in modules, heavy
