"""openward's pickle reading, differentially tested against CPython's own unpickler.

Hand-picked cases did not catch that ``I18`` was read as octal (CPython reads
it as decimal), which let a payload after it scan clean. These tests generate
streams and compare what openward reads with what ``_pickle.Unpickler`` (the C
unpickler behind ``pickle.load`` and ``torch.load``) does with the same bytes,
in each way loaders feed it: ``pickle.loads`` (memory), a real file (a reader
with ``peek()``) and an ``io.BytesIO`` (no ``peek()``: ``torch.load`` of a zip).

The streams only ever name globals of two made-up modules, and the unpickler
under test resolves every global to a harmless class, so nothing here imports
or runs anything a stream names.
"""

from __future__ import annotations

import io
import math
import pickle
import struct
import sys
import types
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from openward.artifacts.blob import Blob
from openward.artifacts.pickle import Span
from openward.scanning.pickle_vm import Persistent, PickleStreamResult, run_pickle


class _Harmless:
    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args = args


class _Recording(pickle.Unpickler):
    """The C unpickler, with every global resolved to :class:`_Harmless`."""

    def __init__(self, file: io.IOBase) -> None:
        super().__init__(file, encoding="latin1")
        self.names: list[tuple[str, str]] = []

    def find_class(self, module: str, name: str) -> type:
        self.names.append((module, name))
        return _Harmless

    def persistent_load(self, pid: object) -> object:
        return ("pid", pid)


class _PythonRecording(pickle._Unpickler):
    """Python's own unpickler (``joblib.load``, pandas' fallback), globals harmless."""

    def __init__(self, file: io.IOBase) -> None:
        super().__init__(file, encoding="latin1")
        self.names: list[tuple[str, str]] = []

    def find_class(self, module: str, name: str) -> type:
        self.names.append((module, name))
        return _Harmless

    def persistent_load(self, pid: object) -> object:
        return ("pid", pid)


def _python(data: bytes) -> tuple[bool, object]:
    """(completed, value or exception type name), as Python's own unpickler loads it."""
    try:
        return True, _PythonRecording(io.BytesIO(data)).load()
    except Exception as exc:
        return False, type(exc).__name__


_FEEDS: dict[str, Callable[[bytes], io.IOBase]] = {
    "buffered": lambda data: io.BufferedReader(io.BytesIO(data)),  # type: ignore[arg-type]
    "bytesio": io.BytesIO,
}


_RESOLVED: list[tuple[str, str]] = []


def _made_up_module(name: str) -> types.ModuleType:
    """A module whose every attribute is :class:`_Harmless`, recording the lookup."""
    module = types.ModuleType(name)

    def lookup(attr: str) -> type:
        if attr.startswith("__"):
            raise AttributeError(attr)
        _RESOLVED.append((name, attr))
        return _Harmless

    module.__getattr__ = lookup  # type: ignore[method-assign]
    return module


@pytest.fixture(autouse=True)
def _made_up_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """``pickle.loads`` has no find_class hook: its globals come from these modules."""
    for name in ("ma", "mb"):
        monkeypatch.setitem(sys.modules, name, _made_up_module(name))


def _cpython(data: bytes, feed: str) -> tuple[bool, object, list[tuple[str, str]]]:
    """(completed, value or exception type name, globals resolved), as CPython loads it."""
    if feed == "memory":
        _RESOLVED.clear()
        try:
            return True, pickle.loads(data, encoding="latin1"), list(_RESOLVED)
        except Exception as exc:
            return False, type(exc).__name__, list(_RESOLVED)
    unpickler: _Recording | _PythonRecording = (
        _PythonRecording(io.BytesIO(data)) if feed == "python" else _Recording(_FEEDS[feed](data))
    )
    try:
        return True, unpickler.load(), unpickler.names
    except Exception as exc:
        return False, type(exc).__name__, unpickler.names


def _openward(data: bytes) -> tuple[bool, set[tuple[str, str]], PickleStreamResult]:
    """(completed in some reading, globals named in any reading, the plain reading)."""
    plain = run_pickle(Blob.of(data), joblib_arrays=False)
    completed = plain.complete and plain.error is None
    names = set(plain.globals)
    if plain.frame_split is not None:
        from_file = run_pickle(Blob.of(data), joblib_arrays=False, file_mode=True)
        completed = completed or (from_file.complete and from_file.error is None)
        names |= set(from_file.globals)
    return completed, names, plain


# -- line arguments ----------------------------------------------------------

_LINE_PIECES = [
    b"0", b"1", b"7", b"8", b"9", b"00", b"0x", b"0X", b"0o", b"0b", b"a", b"f", b"F", b"x",
    b"+", b"-", b"_", b"1_0", b" ", b"\t", b"\r", b"\x0b", b"\x0c", b"\x00", b"L", b".", b"e",
    b"E", b"inf", b"nan", b"infinity", b"'", b'"', b"\\", b"\\x41", b"\\u00e9", b"\xe9",
    b"\xc3\xa9", b"99999999999999999999", b"0777777777777777777777",
]  # fmt: skip
line_text = st.lists(st.sampled_from(_LINE_PIECES), max_size=6).map(b"".join)


def _same_value(ours: object, theirs: object) -> bool:
    if isinstance(theirs, float) and math.isnan(theirs):
        return isinstance(ours, float) and math.isnan(ours)
    return type(ours) is type(theirs) and ours == theirs


@settings(max_examples=1500, deadline=None)
@given(opcode=st.sampled_from(b"ILFSVP"), line=line_text)
def test_line_arguments_are_read_as_cpython_reads_them(opcode: int, line: bytes) -> None:
    """INT, LONG, FLOAT, STRING, UNICODE and PERSID lines: read on wherever the C
    unpickler or Python's own unpickler reads on, with the value it reads."""
    data = bytes([opcode]) + line + b"\n."
    done, value, _ = _cpython(data, "buffered")
    py_done, py_value = _python(data)
    res = run_pickle(Blob.of(data))
    assert (res.complete and res.error is None) == (done or py_done), (data, value, res.error)
    if not done and py_done:
        done, value = py_done, py_value
    if done and not isinstance(res.result, Span):
        ours = res.result.pid if isinstance(res.result, Persistent) else res.result
        theirs = value[1] if opcode == ord("P") else value  # type: ignore[index]
        assert _same_value(ours, theirs), (data, ours, theirs)


@settings(max_examples=1000, deadline=None)
@given(put=line_text, get=line_text)
def test_memo_lines_are_read_as_cpython_reads_them(put: bytes, get: bytes) -> None:
    data = b"N" + b"p" + put + b"\n0" + b"g" + get + b"\n."
    done, outcome, _ = _cpython(data, "buffered")
    # A memo index like 1_01_000001_01_0 (10**11) parses in CPython too, but its memo is an
    # array and the resize raises MemoryError: a limit of the machine, not of the syntax. The
    # scanner reads on (a file the loader cannot finish is still worth reporting on).
    assume(outcome != "MemoryError")
    res = run_pickle(Blob.of(data))
    assert (res.complete and res.error is None) == done, data


@settings(max_examples=1000, deadline=None)
@given(
    opcode=st.sampled_from(b"ci"),
    module=st.sampled_from([b"", b"ma", b"m\xc3\xa9", b"m\xff", b"a.b", b"m\x00a"]),
    name=st.sampled_from([b"", b"f", b"f.g", b"f\xff"]),
    mark=st.booleans(),
)
def test_global_lines_are_read_as_cpython_reads_them(
    opcode: int, module: bytes, name: bytes, mark: bool
) -> None:
    data = (b"(" if mark else b"") + bytes([opcode]) + module + b"\n" + name + b"\n."
    _, _, names = _cpython(data, "buffered")
    res = run_pickle(Blob.of(data))
    assert set(names) <= set(res.globals), data


def test_float_that_only_python_unpickler_reads_does_not_stop_the_stream() -> None:
    """The bypass: joblib.load (Python's unpickler) reads ``F 1.0`` with float(); the
    C unpickler refuses it, and openward, reading as C does, stopped there."""
    res = run_pickle(Blob.of(b"F 1_0.5\n0cposix\nsystem\n(S'true'\ntR."))
    assert res.complete
    assert ("posix", "system") in res.globals
    assert run_pickle(Blob.of(b"F1e999\n.")).result == math.inf


def test_frame_longer_than_the_data_is_read_as_python_reads_it() -> None:
    """The bypass: joblib.load (Python's unpickler) reads a FRAME that claims more
    bytes than the file holds and runs what is in it; the C unpickler refuses it,
    and openward, reading as C does, stopped at the FRAME."""
    data = b"\x80\x04\x95" + struct.pack("<Q", 1 << 20) + b"cposix\nsystem\n(S'true'\ntR."
    assert _python(data)[0]
    res = run_pickle(Blob.of(data))
    assert res.complete and ("posix", "system") in res.globals


def test_inst_without_a_mark_still_names_its_global() -> None:
    """Python's unpickler imports INST's module before it looks for the MARK."""
    data = b"iposix\nsystem\n."
    assert not _python(data)[0]
    assert ("posix", "system") in run_pickle(Blob.of(data)).globals


def test_decimal_int_with_two_digits_is_not_octal() -> None:
    """The bypass: ``I18`` stopped openward's parser while pickle.loads read on."""
    res = run_pickle(Blob.of(b"I18\n0cposix\nsystem\n(S'true'\ntR."))
    assert res.error is None and res.complete
    assert ("posix", "system") in res.globals and res.globals[("posix", "system")].calls == 1
    assert run_pickle(Blob.of(b"I18\n.")).result == 18
    assert run_pickle(Blob.of(b"I017\n.")).result == 15
    assert run_pickle(Blob.of(b"I0x1f\n.")).result == 31


# -- whole streams -----------------------------------------------------------


_NO_ARGUMENT = b"(.012NRabd}e]lotsu)\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97Q"


def _op(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 60))
    small = draw(st.integers(0, 3))
    table: list[bytes] = [
        b"I" + draw(st.sampled_from([b"1", b"01", b"18", b"0", b"-5", b"00", b"0x10"])) + b"\n",
        b"J" + struct.pack("<i", draw(st.integers(-9, 9))),
        b"K" + bytes([small]),
        b"M" + struct.pack("<H", small),
        b"L" + draw(st.sampled_from([b"1L", b"12", b"0"])) + b"\n",
        b"F1.5\n",
        b"G" + struct.pack(">d", 2.5),
        b"S'ab'\n",
        b"U\x02ab",
        b"T\x02\x00\x00\x00ab",
        b"V" + draw(st.sampled_from([b"ma", b"f", b"ab"])) + b"\n",
        b"X\x02\x00\x00\x00" + draw(st.sampled_from([b"ma", b"ab"])),
        b"\x8c\x02" + draw(st.sampled_from([b"ma", b"mb"])),
        b"\x8c\x01" + draw(st.sampled_from([b"f", b"g"])),
        b"C\x02ab",
        b"B\x02\x00\x00\x00ab",
        b"\x8a\x01\x05",
        b"\x8b\x01\x00\x00\x00\x07",
        b"p" + str(small).encode() + b"\n",
        b"q" + bytes([small]),
        b"r" + struct.pack("<I", small),
        b"g" + str(small).encode() + b"\n",
        b"h" + bytes([small]),
        b"j" + struct.pack("<I", small),
        b"c" + draw(st.sampled_from([b"ma", b"mb"])) + b"\n" + draw(st.sampled_from([b"f", b"g"]))
        + b"\n",
        b"i" + draw(st.sampled_from([b"ma", b"mb"])) + b"\n" + draw(st.sampled_from([b"f", b"g"]))
        + b"\n",
        b"\x80" + bytes([draw(st.integers(0, 6))]),
        b"\x95" + struct.pack("<Q", draw(st.integers(0, 40))),
        b"\x8e" + struct.pack("<Q", 1) + b"z",
        b"\x8d" + struct.pack("<Q", 1) + b"z",
        b"\x96" + struct.pack("<Q", 1) + b"z",
        b"P" + draw(st.sampled_from([b"1", b"ab"])) + b"\n",
        b"\x82\x01",
    ]  # fmt: skip
    if choice < len(table):
        return table[choice]
    return bytes([draw(st.sampled_from(_NO_ARGUMENT))])


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    ops = [_op(draw) for _ in range(draw(st.integers(1, 14)))]
    head = b"\x80" + bytes([draw(st.integers(0, 5))]) if draw(st.booleans()) else b""
    return head + b"".join(ops) + b"."


@pytest.mark.parametrize("feed", ["memory", "buffered", "bytesio", "python"])
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=streams())
def test_streams_never_hide_what_cpython_imports(feed: str, data: bytes) -> None:
    """Whatever global CPython resolves, openward names; whatever CPython loads to
    the end, openward reads to the end (in the reading that loader uses)."""
    done, _, names = _cpython(data, feed)
    completed, ours, _ = _openward(data)
    assert set(names) <= ours, (data, names, ours)
    if done:
        assert completed, data


def test_split_frame_is_read_both_ways() -> None:
    """An argument that runs past a FRAME's end: torch.load (BytesIO) reads it from
    after the frame, pickle.loads across it. The payload only exists for the first."""
    inner = b"X\xff\xff"  # BINUNICODE whose 4-byte length straddles the frame's end
    data = b"\x80\x04\x95" + struct.pack("<Q", len(inner)) + inner
    data += struct.pack("<I", 2) + b"ok" + b"0"
    data += b"\x8c\x02ma\x8c\x01f\x93\x8c\x04true\x85R."
    assert _cpython(data, "bytesio")[2] == [("ma", "f")]
    assert _cpython(data, "memory")[0] is False
    plain = run_pickle(Blob.of(data))
    assert plain.frame_split == 11 and plain.error is not None and not plain.globals
    from_file = run_pickle(Blob.of(data), file_mode=True)
    assert from_file.complete and from_file.globals[("ma", "f")].calls == 1


def test_stop_on_an_empty_stack_is_not_a_pickle() -> None:
    assert _cpython(b".", "memory")[0] is False
    res = run_pickle(Blob.of(b"."))
    assert not res.complete and res.error is not None
    assert not res.ran_code


def test_unregistered_extension_code_stops_the_stream() -> None:
    data = b"\x82\x01cma\nf\n)R."
    done, _, names = _cpython(data, "buffered")
    assert not done and names == []
    res = run_pickle(Blob.of(data))
    assert not res.complete and not res.globals and not res.ran_code
