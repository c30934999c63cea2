"""The symbolic machine: what a stream names, calls and hides, without running it."""

from __future__ import annotations

import collections
import os
import pickle

import pytest

from openward._samples import PickleAsm
from openward.artifacts.blob import Blob
from openward.scanning.pickle_vm import run_pickle


class _Call:
    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, ...]:
        return (self.func, self.args)


@pytest.mark.parametrize("protocol", range(6))
def test_every_protocol_reports_the_call_and_its_arguments(protocol: int) -> None:
    data = pickle.dumps({"a": [1, _Call(os.system, "echo hi")]}, protocol=protocol)
    res = run_pickle(Blob.of(data))
    assert res.complete and res.error is None
    use = res.globals[("posix", "system")]
    assert use.calls == 1
    assert use.call_evidence == "posix.system('echo hi')"


def test_stack_global_names_fetched_from_the_memo() -> None:
    data = (
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
        .unicode("x")
        .tuple1()
        .reduce()
        .stop()
        .bytes()
    )
    res = run_pickle(Blob.of(data))
    assert ("os", "system") in res.globals
    assert res.globals[("os", "system")].via == "STACK_GLOBAL"


def test_computed_module_name_is_a_dynamic_global() -> None:
    data = (
        PickleAsm()
        .proto(4)
        .glob("builtins", "str")
        .unicode("os")
        .tuple1()
        .reduce()
        .unicode("system")
        .stack_global()
        .stop()
        .bytes()
    )
    res = run_pickle(Blob.of(data))
    assert [e.kind for e in res.events] == ["dynamic-global"]


def test_calling_a_call_result_is_a_computed_call() -> None:
    data = (
        PickleAsm()
        .proto(2)
        .glob("builtins", "getattr")
        .mark()
        .glob("builtins", "object")
        .unicode("x")
        .tuple()
        .reduce()
        .mark()
        .tuple()
        .reduce()
        .stop()
        .bytes()
    )
    res = run_pickle(Blob.of(data))
    assert [e.kind for e in res.events] == ["computed-call"]


def test_inst_and_obj_are_calls() -> None:
    inst = PickleAsm().mark().unicode("a").inst("os", "system").stop().bytes()
    obj = PickleAsm().mark().glob("os", "system").unicode("b").obj().stop().bytes()
    assert run_pickle(Blob.of(inst)).globals[("os", "system")].calls == 1
    assert run_pickle(Blob.of(obj)).globals[("os", "system")].call_evidence == "os.system('b')"


def test_payload_before_a_break_is_kept() -> None:
    good = pickle.dumps(_Call(os.system, "x"), protocol=2)
    res = run_pickle(Blob.of(good[:-1] + b"\xff"))
    assert not res.complete and res.error is not None
    assert res.globals[("posix", "system")].calls == 1


def test_benign_data_names_only_containers() -> None:
    data = pickle.dumps(collections.OrderedDict(a=[1.5, b"x", None, {"k": (1, 2)}]), protocol=5)
    res = run_pickle(Blob.of(data))
    assert set(res.globals) == {("collections", "OrderedDict")}
    assert res.events == [] and res.embedded == []


def test_embedded_bytes_of_untrusted_callees_are_kept_for_scanning() -> None:
    inner = pickle.dumps(_Call(os.system, "x"), protocol=2)
    outer = pickle.dumps(_Call(pickle.loads, inner), protocol=4)
    res = run_pickle(Blob.of(outer), interesting=lambda m, n: m != "collections")
    (emb,) = res.embedded
    assert Blob.of(outer).read(emb.span.start, emb.span.length) == inner


def test_joblib_inline_array_bytes_are_skipped() -> None:
    np = pytest.importorskip("numpy")
    joblib = pytest.importorskip("joblib")
    import io

    buf = io.BytesIO()
    # Array bytes that look like opcodes must not be parsed as opcodes.
    joblib.dump(
        {
            "w": np.frombuffer(b"cos\nsystem\n" * 100, dtype=np.uint8),
            "o": np.array([1, "a"], dtype=object),
        },
        buf,
    )
    res = run_pickle(Blob.of(buf.getvalue()))
    assert res.complete and res.error is None
    assert res.inline_arrays == 2
    assert ("os", "system") not in res.globals


def test_opcode_limit_raises() -> None:
    from openward.artifacts.errors import ArtifactLimitError

    data = b"\x80\x04" + b"N0" * 10_000 + b"N."
    with pytest.raises(ArtifactLimitError):
        run_pickle(Blob.of(data), max_opcodes=4096)


def _findings(data: bytes, tmp_path: object, name: str = "x.pkl") -> set[tuple[str, str]]:
    import openward

    path = tmp_path / name  # type: ignore[operator]
    path.write_bytes(data)
    return {(f.rule_id, f.severity.value) for f in openward.scan(path).findings}


class _Plain:
    pass


def test_newobj_and_copyreg_constructors_instantiate_without_calling() -> None:
    """NEWOBJ and copyreg's constructors run cls.__new__, not __init__: instantiations."""
    for protocol in range(6):
        res = run_pickle(Blob.of(pickle.dumps(_Plain(), protocol=protocol)))
        use = res.globals[(__name__, "_Plain")]
        assert (use.calls, use.instantiations) == (0, 1), protocol


def test_reconstructor_with_a_base_other_than_object_calls_the_base() -> None:
    data = (
        PickleAsm()
        .proto(2)
        .glob("copyreg", "_reconstructor")
        .mark()
        .glob("m", "Cls")
        .glob("m", "Base")
        .unicode("state")
        .tuple()
        .reduce()
        .stop()
        .bytes()
    )
    res = run_pickle(Blob.of(data))
    assert res.globals[("m", "Cls")].instantiations == 1
    assert res.globals[("m", "Base")].calls == 1


def test_a_function_only_stored_is_a_low_reference(tmp_path: object) -> None:
    data = PickleAsm().proto(2).glob("mylib.helpers", "callback").stop().bytes()
    assert _findings(data, tmp_path) == {("pickle-global-reference", "low")}
    called = PickleAsm().proto(2).glob("mylib.helpers", "callback").empty_tuple().reduce()
    assert _findings(called.stop().bytes(), tmp_path) == {("pickle-unlisted-global", "high")}


def test_a_dangerous_reference_stays_critical(tmp_path: object) -> None:
    data = PickleAsm().proto(2).glob("os", "system").stop().bytes()
    assert ("pickle-dangerous-global", "critical") in _findings(data, tmp_path)


def _planted(function: tuple[str, str], argument: str) -> bytes:
    """argparse.Namespace() whose __dict__ gets __setstate__ = function; a second BUILD calls it."""
    return (
        PickleAsm()
        .proto(2)
        .glob("argparse", "Namespace")
        .empty_tuple()
        .newobj()
        .empty_dict()
        .unicode("__setstate__")
        .glob(*function)
        .setitem()
        .build()
        .unicode(argument)
        .build()
        .stop()
        .bytes()
    )


def test_a_planted_setstate_is_called_by_the_next_build(tmp_path: object) -> None:
    res = run_pickle(Blob.of(_planted(("m", "f"), "arg")))
    assert res.globals[("m", "f")].calls == 1
    assert res.globals[("m", "f")].call_evidence == "m.f('arg')"
    found = _findings(_planted(("m", "f"), "arg"), tmp_path)
    assert ("pickle-unlisted-global", "high") in found
    assert ("pickle-build-dunder", "high") in found


def test_planted_setstate_is_live_in_cpython(tmp_path: object) -> None:
    """The technique is real: pickle.loads calls the planted __setstate__."""
    import subprocess
    import sys

    marker = tmp_path / "planted.marker"  # type: ignore[operator]
    path = tmp_path / "planted.pkl"  # type: ignore[operator]
    path.write_bytes(_planted(("os", "system"), f"touch {marker}"))
    found = _findings(path.read_bytes(), tmp_path, "scanned.pkl")
    assert ("pickle-dangerous-global", "critical") in found
    assert not marker.exists()
    subprocess.run(
        [sys.executable, "-c", "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))", path],
        check=False,
        capture_output=True,
    )
    assert marker.exists()


def test_library_dunder_keys_of_a_dict_state_are_data(tmp_path: object) -> None:
    """sklearn_crfsuite keeps its model under __FILE_RESOURCE_DATA__: not a finding."""
    data = (
        PickleAsm()
        .proto(2)
        .glob("argparse", "Namespace")
        .empty_tuple()
        .newobj()
        .empty_dict()
        .unicode("__FILE_RESOURCE_DATA__")
        .unicode("bytes")
        .setitem()
        .build()
        .stop()
        .bytes()
    )
    assert _findings(data, tmp_path) == set()


def test_slot_state_dunders_still_change_the_object(tmp_path: object) -> None:
    data = (
        PickleAsm()
        .proto(2)
        .glob("argparse", "Namespace")
        .empty_tuple()
        .newobj()
        .raw(b"N")
        .empty_dict()
        .unicode("__class__")
        .glob("collections", "OrderedDict")
        .setitem()
        .tuple2()
        .build()
        .stop()
        .bytes()
    )
    assert ("pickle-build-dunder", "high") in _findings(data, tmp_path)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("model.pkl_01.npy", set()),
        ("../../etc/evil.npy", {("pickle-side-file", "high")}),
        ("/tmp/evil.npy", {("pickle-side-file", "high")}),
    ],
)
def test_joblib_side_files_outside_the_folder(
    tmp_path: object, filename: str, expected: set[tuple[str, str]]
) -> None:
    data = (
        PickleAsm()
        .proto(2)
        .glob("joblib.numpy_pickle", "NDArrayWrapper")
        .empty_tuple()
        .newobj()
        .empty_dict()
        .unicode("filename")
        .unicode(filename)
        .setitem()
        .build()
        .stop()
        .bytes()
    )
    assert _findings(data, tmp_path) == expected


def _stack_global_of(module_value: PickleAsm) -> bytes:
    return (
        module_value.unicode("system")
        .stack_global()
        .unicode("true")
        .tuple1()
        .reduce()
        .stop()
        .bytes()
    )


def _scan_rules(tmp_path: object, data: bytes) -> set[tuple[str, str]]:
    import pathlib

    import openward

    path = pathlib.Path(str(tmp_path)) / "s.pkl"
    path.write_bytes(data)
    return {(f.rule_id, str(f.severity)) for f in openward.scan(path).findings}


def test_stack_global_of_an_estimator_stops_like_cpython(tmp_path: object) -> None:
    """A benign sklearn ColumnTransformer saved by joblib was critical: the plain
    (pickle.load) reading of its array bytes met STACK_GLOBAL with an estimator as
    the module, where CPython stops ("STACK_GLOBAL requires str")."""
    data = _stack_global_of(
        PickleAsm().proto(4).glob("collections", "OrderedDict").mark().tuple().reduce()
    )
    with pytest.raises(pickle.UnpicklingError, match="requires str"):
        pickle.loads(data)
    rules = _scan_rules(tmp_path, data)
    assert ("pickle-dynamic-global", "critical") not in rules
    assert ("pickle-malformed", "medium") in rules
    assert _scan_rules(tmp_path, _stack_global_of(PickleAsm().proto(4).binint(3))) == {
        ("pickle-malformed", "medium")
    }


@pytest.mark.parametrize(
    "module_value",
    [
        PickleAsm()
        .proto(4)
        .glob("_codecs", "encode")
        .mark()
        .unicode("bf")
        .unicode("rot13")
        .tuple()
        .reduce(),
        PickleAsm().proto(4).glob("builtins", "str").unicode("os").tuple1().reduce(),
        PickleAsm()
        .proto(2)
        .glob("copyreg", "_reconstructor")
        .mark()
        .glob("__builtin__", "str")
        .glob("__builtin__", "str")
        .unicode("os")
        .tuple()
        .reduce(),
    ],
    ids=["codecs-rot13", "str", "copyreg-reconstructor-str"],
)
def test_names_computed_by_allowlisted_helpers_stay_dynamic(
    tmp_path: object, module_value: PickleAsm
) -> None:
    """Allowlisted helpers that can return a str still make a dynamic global (CPython
    resolves each of these to os.system)."""
    data = _stack_global_of(module_value)
    resolved: list[tuple[str, str]] = []

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            resolved.append((module, name))
            if (module, name) == ("os", "system"):
                return len  # harmless stand-in
            return super().find_class(module, name)

    import io

    _Unpickler(io.BytesIO(data)).load()
    assert ("os", "system") in resolved
    assert ("pickle-dynamic-global", "critical") in _scan_rules(tmp_path, data)


def test_bit_generator_helper_calls_the_type_it_is_given() -> None:
    """numpy's __bit_generator_ctor(cls) returns cls(): the class is called, not
    only imported (it was reported as 'imported, not called')."""
    data = (
        PickleAsm()
        .proto(2)
        .glob("numpy.random._pickle", "__bit_generator_ctor")
        .glob("ma", "Payload")
        .tuple1()
        .reduce()
        .stop()
        .bytes()
    )
    res = run_pickle(Blob.of(data))
    assert res.globals[("ma", "Payload")].calls == 1


def test_calling_a_constant_stops_the_stream_as_cpython_does() -> None:
    """REDUCE of a number is a TypeError in CPython: nothing is called, nothing
    follows. Raw array bytes read as opcodes made such 'computed calls' (high)."""
    data = PickleAsm().proto(2).binint(7).mark().tuple().reduce().stop().bytes()
    with pytest.raises(TypeError):
        pickle.loads(data)
    res = run_pickle(Blob.of(data))
    assert res.error is not None and res.events == []


def test_methods_a_trusted_class_is_not_vouched_for_are_reported(tmp_path: object) -> None:
    """pandas.DataFrame is on the trust list for being built from its state; a
    stream that drives its __setitem__ (SETITEM on the instance) is not."""
    built = PickleAsm().proto(2).glob("pandas", "DataFrame").empty_tuple().newobj()
    assert _findings(built.stop().bytes(), tmp_path) == set()
    driven = (
        PickleAsm()
        .proto(2)
        .glob("pandas", "DataFrame")
        .empty_tuple()
        .newobj()
        .unicode("col")
        .unicode("x")
        .setitem()
        .stop()
        .bytes()
    )
    assert _findings(driven, tmp_path) == {("pickle-unlisted-global", "high")}


def _file_resource(**state: object) -> bytes:
    asm = (
        PickleAsm()
        .proto(2)
        .glob("sklearn_crfsuite._fileresource", "FileResource")
        .empty_tuple()
        .newobj()
        .empty_dict()
    )
    for key, value in state.items():
        asm.unicode(key)
        if value is None:
            asm.raw(b"N")
        elif isinstance(value, bytes):
            asm.bytes_(value)
        else:
            asm.unicode(str(value))
        asm.setitem()
    return asm.build().stop().bytes()


def test_crfsuite_file_resource_is_judged_by_its_state(tmp_path: object) -> None:
    """sklearn-crfsuite writes its model to mkstemp(suffix, prefix) at load and
    deletes ``name`` when collected: safe as the library writes it, not otherwise."""
    model = b"crfsuite model bytes"
    as_written = _file_resource(
        name=None, prefix="crf", suffix=".crfsuite", __FILE_RESOURCE_DATA__=model
    )
    assert _findings(as_written, tmp_path) == set()
    escaping = _file_resource(
        name=None, prefix="../../site-packages/x", suffix=".pth", __FILE_RESOURCE_DATA__=model
    )
    assert _findings(escaping, tmp_path) == {("pickle-unlisted-global", "high")}
    deleting = _file_resource(name="/home/user/.bashrc", prefix="", suffix="")
    assert _findings(deleting, tmp_path) == {("pickle-unlisted-global", "high")}


def test_partial_stores_its_function_and_calling_it_is_a_computed_call(tmp_path: object) -> None:
    stored = (
        PickleAsm()
        .proto(2)
        .glob("functools", "partial")
        .glob("mylib.helpers", "normalize")
        .tuple1()
        .reduce()
        .stop()
        .bytes()
    )
    assert _findings(stored, tmp_path) == {("pickle-global-reference", "low")}
    called = (
        PickleAsm()
        .proto(2)
        .glob("functools", "partial")
        .glob("mylib.helpers", "normalize")
        .tuple1()
        .reduce()
        .unicode("x")
        .tuple1()
        .reduce()
        .stop()
        .bytes()
    )
    assert ("pickle-computed-call", "high") in _findings(called, tmp_path)
