"""A symbolic pickle machine: what a stream *would* import and call.

The machine runs the opcode stream over symbolic values instead of real
objects. It never imports a module or calls anything; it records which
globals the stream names (``GLOBAL``, ``STACK_GLOBAL`` with names built on the
stack or fetched through ``PUT``/``GET``/``MEMOIZE``, ``INST``), which of
them it calls (``REDUCE``, ``OBJ``, ``INST``, ``NEWOBJ``, ``NEWOBJ_EX``) and
with which arguments, and the constructs an allowlist cannot vouch for:
names computed at load time, calls of values that are not globals,
``BUILD`` on a global, extension codes.

Everything recorded before a malformed opcode is kept, so a stream that
breaks right after its payload still reports the payload.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import Final, cast

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError
from openward.artifacts.pickle import (
    MAX_INLINE_STR,
    OP,
    FileModePickleReader,
    PickleOpcodeReader,
    Span,
    is_identifier_path,
)

__all__ = [
    "EmbeddedBytes",
    "GlobalUse",
    "PickleEvent",
    "PickleStreamResult",
    "merge_results",
    "run_pickle",
]


class _Mark:
    __slots__ = ()


class Global:
    """A global the stream resolves: ``module.name``."""

    __slots__ = ("key", "module", "name", "offset")

    def __init__(self, module: str, name: str, offset: int) -> None:
        self.module = module
        self.name = name
        self.offset = offset
        self.key = (module, name)


class Call:
    """The result of calling or instantiating ``func`` with ``args``."""

    __slots__ = ("args", "builds", "func", "offset", "planted_setstate", "state", "via")

    def __init__(self, func: object, args: object, offset: int, via: str = "REDUCE") -> None:
        self.func = func
        self.args = args
        self.offset = offset
        self.via = via
        """The opcode that made it: REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, INST (or BUILD,
        for a ``__setstate__`` planted in the instance's ``__dict__``)."""
        self.state: object = None
        """The state of its last BUILD."""
        self.builds: list[object] | None = None
        """Every BUILD state, in order (kept for joblib array wrappers only: each
        BUILD adds to the instance's ``__dict__``, none replaces it)."""
        self.planted_setstate: object = None
        """A ``__setstate__`` a BUILD put into the instance's ``__dict__``."""


class Persistent:
    """The result of a persistent-id lookup (torch storages)."""

    __slots__ = ("pid",)

    def __init__(self, pid: object) -> None:
        self.pid = pid


class Unknown:
    """A value the machine cannot know (extension codes, out-of-band buffers)."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what


_KEEP: Final = 32  # container items kept for evidence and joblib metadata
_U16: Final = struct.Struct("<H").unpack_from
_U32: Final = struct.Struct("<I").unpack_from
_I32: Final = struct.Struct("<i").unpack_from
_F64: Final = struct.Struct(">d").unpack_from


class SymList:
    __slots__ = ("cap", "items")

    def __init__(self, cap: int, items: list[object] | None = None) -> None:
        self.cap = cap
        self.items = [] if items is None else items[:cap]

    def extend(self, items: list[object]) -> None:
        room = self.cap - len(self.items)
        if room > 0:
            self.items.extend(items[:room])


_ALWAYS_KEPT: Final = frozenset(
    {
        # joblib's array wrapper attributes, a planted __setstate__, a side file's name
        "shape",
        "dtype",
        "order",
        "allow_mmap",
        "numpy_array_alignment_bytes",
        "subclass",
        "__setstate__",
        "filename",
    }
)


class SymDict:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: dict[object, object] = {}

    def set(self, key: object, value: object) -> None:
        if not isinstance(key, str | int | bytes | bool | None):
            return
        if len(self.items) < _KEEP or key in _ALWAYS_KEPT:
            self.items[key] = value


class SymSet:
    __slots__ = ()


class GlobalUse:
    """One global named by a stream, with how it is used."""

    __slots__ = (
        "call_evidence",
        "calls",
        "hooks",
        "importable",
        "instantiations",
        "module",
        "name",
        "offset",
        "references",
        "states",
        "via",
    )

    def __init__(
        self, module: str, name: str, offset: int, via: str, *, importable: bool = True
    ) -> None:
        self.module = module
        self.name = name
        self.offset = offset
        """Offset of the first opcode that names it."""
        self.via = via
        """The opcode that named it first: GLOBAL, STACK_GLOBAL or INST."""
        self.references = 1
        self.calls = 0
        """Calls with arguments (REDUCE, OBJ, INST): a function or a class's ``__init__`` runs."""
        self.instantiations = 0
        """Instances made without ``__init__`` (NEWOBJ, ``copyreg.__newobj__``,
        ``copyreg._reconstructor``): only ``__new__``, then BUILD's ``__setstate__``."""
        self.call_evidence: str | None = None
        """The first call or instantiation, rendered like ``posix.system('touch x')``."""
        self.hooks: set[str] = set()
        """Methods of its instances the stream drives: ``append``/``extend`` (APPEND(S)),
        ``__setitem__`` (SETITEM(S)), ``add`` (ADDITEMS), ``__setattr__`` (slot state)."""
        self.states: list[object] = []
        """The states BUILD gave its instances (at most ``_MAX_STATES``; ``None`` marks more)."""
        self.importable = importable
        """False when the name is not a dotted identifier (no ordinary import resolves it)."""


class PickleEvent:
    """A construct the allowlist cannot vouch for."""

    __slots__ = ("evidence", "kind", "offset")

    def __init__(self, kind: str, offset: int, evidence: str) -> None:
        self.kind = kind
        """``dynamic-global``, ``computed-call``, ``build-on-global``, ``build-dunder``,
        ``ext-code``, ``side-file`` or ``frame-split``."""
        self.offset = offset
        self.evidence = evidence


class EmbeddedBytes:
    """A bytes constant passed to a global that is not allowlisted.

    Such constants are often a second payload (``pickle.loads`` of a bytes constant), so
    the scanner examines them as artifacts of their own.
    """

    __slots__ = ("callee", "span")

    def __init__(self, span: Span, callee: tuple[str, str]) -> None:
        self.span = span
        self.callee = callee


class PickleStreamResult:
    """What one pickle stream (PROTO ... STOP) names and does."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.end = 0
        """Offset just past STOP, or where the stream broke."""
        self.complete = False
        """True when the stream reached STOP."""
        self.protocol: int | None = None
        self.opcodes = 0
        self.calls = 0
        """Calls and instantiations the stream makes (REDUCE, NEWOBJ, OBJ, INST)."""
        self.globals: dict[tuple[str, str], GlobalUse] = {}
        self.events: list[PickleEvent] = []
        self.embedded: list[EmbeddedBytes] = []
        self.persistent_ids: list[object] = []
        self.error: ArtifactFormatError | None = None
        self.inline_arrays = 0
        """joblib arrays whose raw bytes were skipped."""
        self.result: object = None
        """The symbolic value the stream returns (top of the stack at STOP)."""
        self.frame_split: int | None = None
        """Offset of the first opcode that straddles the end of a FRAME: a file
        loader without ``peek()`` (``torch.load`` of a zip) reads it differently."""

    @property
    def ran_code(self) -> bool:
        """Whether CPython's unpickler, reading these bytes, would have done more
        than build plain data before it stopped: reached STOP, called or
        instantiated something, or met a construct the allowlist cannot vouch for."""
        return (
            self.complete
            or self.calls > 0
            or any(event.kind != "ext-code" for event in self.events)
        )


_PUSH_ARG: Final = frozenset(
    {
        OP.FLOAT, OP.INT, OP.BININT, OP.BININT1, OP.LONG, OP.BININT2, OP.STRING,
        OP.BINSTRING, OP.SHORT_BINSTRING, OP.UNICODE, OP.BINUNICODE, OP.BINFLOAT,
        OP.LONG1, OP.LONG4, OP.BINBYTES, OP.SHORT_BINBYTES, OP.SHORT_BINUNICODE,
        OP.BINUNICODE8, OP.BINBYTES8, OP.BYTEARRAY8,
    }
)  # fmt: skip
_GETS: Final = frozenset({OP.GET, OP.BINGET, OP.LONG_BINGET})
_MEMOIZE: Final = OP.MEMOIZE
_PUTS: Final = frozenset({OP.PUT, OP.BINPUT, OP.LONG_BINPUT})
_JOBLIB_WRAPPERS: Final = frozenset(
    {
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),
    }
)
_MAX_PERSISTENT_IDS: Final = 100_000
_MAX_STATES: Final = 64
_MAX_EMBEDDED: Final = 256
_MAX_EVENTS: Final = 256

Interesting = Callable[[str, str], bool]


def run_pickle(
    blob: Blob,
    start: int = 0,
    *,
    max_opcodes: int = 50_000_000,
    tick: Callable[[], None] | None = None,
    interesting: Interesting | None = None,
    keep: int | None = None,
    persistent: bool = True,
    joblib_arrays: bool = True,
    on_call: Callable[[Call], None] | None = None,
    on_setitem: Callable[[object, object, object], None] | None = None,
    file_mode: bool = False,
    _depth: int = 0,
) -> PickleStreamResult:
    """Run one pickle stream symbolically, from ``start`` to its STOP.

    ``tick`` is called every few thousand opcodes (deadline checks);
    ``interesting(module, name)`` says which callees' bytes arguments to
    keep as :class:`EmbeddedBytes` (default: all); ``keep`` is how many
    container items to remember (default 32; the final value of a stream is
    in ``result``). ``persistent=False`` treats persistent ids as an error,
    as ``pickle.load`` does without a ``persistent_load``: right for bytes
    not known to be a pickle. Malformed input ends the run with ``error``
    set; limits raise :class:`ArtifactLimitError`. ``joblib_arrays=False``
    reads the stream as ``pickle.load`` does, without joblib's habit of
    skipping array bytes after a ``NumpyArrayWrapper``.

    ``on_call(call)`` sees every call the stream makes (REDUCE, NEWOBJ, OBJ,
    INST) and ``on_setitem(container, key, value)`` every SETITEM(S), whatever
    the container: readers that want the structure of a stream (a state dict's
    names and tensors) use them without changing the analysis.

    ``file_mode=True`` reads the stream as the C unpickler reads it from a
    file object without ``peek()`` (see :class:`FileModePickleReader`); the
    default reads it as ``pickle.loads`` and ``pickle.load`` of a real file do.
    The two only differ when an opcode straddles a frame's end, which the
    default reading reports in ``frame_split``.
    """
    res = PickleStreamResult(start=start)
    reader = (FileModePickleReader if file_mode else PickleOpcodeReader)(blob, start)
    machine = _Machine(res, reader, blob, max_opcodes, tick, interesting, keep or _KEEP, _depth)
    machine.persistent_ok = persistent
    machine.joblib_arrays = joblib_arrays
    machine.on_call = on_call
    machine.on_setitem = on_setitem
    machine.run()
    return res


class _Machine:
    def __init__(
        self,
        res: PickleStreamResult,
        reader: PickleOpcodeReader,
        blob: Blob,
        max_opcodes: int,
        tick: Callable[[], None] | None,
        interesting: Interesting | None,
        keep: int,
        depth: int = 0,
    ) -> None:
        self.depth = depth
        self.persistent_ok = True
        self.joblib_arrays = True
        self.on_call: Callable[[Call], None] | None = None
        self.on_setitem: Callable[[object, object, object], None] | None = None
        self.keep = keep
        self.res = res
        self.reader = reader
        self.blob = blob
        self.max_opcodes = max_opcodes
        self.tick = tick
        self.interesting = interesting
        self.metastack: list[list[object]] = []
        self.stack: list[object] = []

    # -- helpers -----------------------------------------------------------
    def pop_mark(self, pos: int) -> list[object]:
        items = self.stack
        if not self.metastack:
            raise ArtifactFormatError("mark-consuming opcode without MARK", pos)
        self.stack = self.metastack.pop()
        return items

    def global_ref(self, module: str, name: str, pos: int, via: str) -> Global:
        use = self.res.globals.get((module, name))
        if use is None:
            importable = is_identifier_path(module) and is_identifier_path(name)
            self.res.globals[(module, name)] = GlobalUse(
                module, name, pos, via, importable=importable
            )
        else:
            use.references += 1
        return Global(module, name, pos)

    def may_be_str(self, value: object) -> bool:
        """Whether ``value`` can be an exact ``str`` at load time (what STACK_GLOBAL needs).

        Constants and containers are what they are. A call of an allowlisted
        global builds an instance of that class, or returns a tensor, array or
        the like, except for the few helpers in :data:`_MAY_RETURN_STR`; a call
        of anything else, an unknown value or a persistent id may be a str.
        Without this, raw array bytes that ``pickle.load`` reads as opcodes (the
        plain reading of a joblib file) made "names computed at load time" out
        of estimators where CPython stops with an error.
        """
        if isinstance(value, str):
            return True
        if isinstance(value, Span):
            return value.kind in ("str", "line")
        if isinstance(value, Unknown | Persistent):
            return True
        if isinstance(value, Global):
            return self._unvetted(value)  # a vetted global is a class or a function
        if isinstance(value, Call):
            func = _resolve_persistent_class(value.func)
            if not isinstance(func, Global):
                return True
            return _python3_name(func.key) in _MAY_RETURN_STR or self._unvetted(func)
        return False

    def _unvetted(self, ref: Global) -> bool:
        return self.interesting is None or self.interesting(ref.module, ref.name)

    def event(self, kind: str, pos: int, evidence: str) -> None:
        if len(self.res.events) < _MAX_EVENTS:
            self.res.events.append(PickleEvent(kind, pos, evidence))

    def call(self, func: object, args: object, pos: int, via: str) -> Call:
        func = _resolve_persistent_class(func)
        if isinstance(func, _NEVER_CALLABLE):
            # Both unpicklers raise TypeError here: nothing is called, the stream
            # stops (what pickle.load makes of a joblib file's raw array bytes).
            raise ArtifactFormatError(
                f"{via} of a value that cannot be called: {render(func, self.blob)}", pos
            )
        if isinstance(func, Global):
            if func.key in _CONSTRUCTORS and isinstance(args, tuple):
                self.construct(func, args, pos)
            if func.key not in _JOBLIB_WRAPPERS and func.key not in _CONSTRUCTORS:
                for value in _flatten(args):
                    if isinstance(value, Global) and value.key in _JOBLIB_WRAPPERS:
                        # joblib skips array bytes after any wrapper instance; one
                        # made by another factory would hide bytes from this reader.
                        raise ArtifactFormatError(
                            f"{value.module}.{value.name} passed to {func.module}.{func.name}",
                            pos,
                            severe=True,
                        )
            use = self.res.globals[func.key]
            if via in ("NEWOBJ", "NEWOBJ_EX"):
                use.instantiations += 1  # cls.__new__(cls, *args): no __init__
            else:
                use.calls += 1
            if use.call_evidence is None:
                use.call_evidence = render_call(f"{func.module}.{func.name}", args, self.blob)
            if self.interesting is None or self.interesting(func.module, func.name):
                for value in _flatten(args):
                    if (
                        isinstance(value, Span)
                        and value.kind in ("bytes", "bytearray")
                        and value.length >= 2
                        and len(self.res.embedded) < _MAX_EMBEDDED
                    ):
                        self.res.embedded.append(EmbeddedBytes(value, func.key))
            inner = _CALLS_THROUGH.get(func.key)
            if inner is not None and isinstance(args, tuple):
                # An allowlisted helper that calls one of its arguments: judge
                # that call as if the pickle had made it.
                callee, callee_args = inner(args)
                if callee is not None:
                    self.call(callee, callee_args, pos, via)
        else:
            self.event(
                "computed-call",
                pos,
                f"{via} calls {render(func, self.blob)}, a value built at load time, not a global",
            )
        self.res.calls += 1
        made = Call(func, args, pos, via)
        if self.on_call is not None:
            self.on_call(made)
        return made

    # -- the loop ------------------------------------------------------------
    def run(self) -> None:
        res = self.res
        reader = self.reader
        read = reader.read_op
        memo: dict[int, object] = {}
        n = 0
        pos = reader.pos
        frame_end = 0
        linear = not isinstance(reader, FileModePickleReader)
        # The fast path below decodes the most frequent data opcodes in place; it
        # reads exactly what PickleOpcodeReader.read_op would (tests compare them
        # with CPython), and hands everything else, and any truncation, to it.
        fast = linear
        buf = reader.buffer
        base = reader.base
        end = reader.limit
        u16, u32, i32, f64 = _U16, _U32, _I32, _F64
        keep = self.keep
        rpos = prev = reader.pos
        op_end = -1
        try:
            while True:
                if frame_end:
                    if (
                        prev < frame_end < (rpos if op_end < 0 else op_end)
                        and res.frame_split is None
                    ):
                        res.frame_split = prev  # the previous opcode ran past the frame
                    if rpos >= frame_end:
                        frame_end = 0
                op_end = -1  # the fast path's opcodes end at rpos
                pos = prev = rpos
                n += 1
                if not n & 0xFFF:
                    if n > self.max_opcodes:
                        raise ArtifactLimitError(
                            "max_pickle_opcodes",
                            f"pickle has more than {self.max_opcodes} opcodes",
                            pos,
                        )
                    if self.tick is not None:
                        self.tick()
                stack = self.stack
                a = base + rpos
                if fast and a + 9 <= end:
                    code = buf[a]
                    if code == 0x94:  # MEMOIZE
                        memo[len(memo)] = stack[-1]
                        rpos += 1
                        continue
                    if code == 0x71:  # BINPUT
                        memo[buf[a + 1]] = stack[-1]
                        rpos += 2
                        continue
                    if code == 0x72:  # LONG_BINPUT
                        memo[u32(buf, a + 1)[0]] = stack[-1]
                        rpos += 5
                        continue
                    if code == 0x68 or code == 0x6A:  # BINGET, LONG_BINGET
                        key = buf[a + 1] if code == 0x68 else u32(buf, a + 1)[0]
                        try:
                            stack.append(memo[key])
                        except KeyError:
                            raise ArtifactFormatError(f"memo key {key!r} not found", pos) from None
                        rpos += 2 if code == 0x68 else 5
                        continue
                    if code == 0x8C or code == 0x58:  # SHORT_BINUNICODE, BINUNICODE
                        if code == 0x8C:
                            size, at = buf[a + 1], a + 2
                        else:
                            size, at = u32(buf, a + 1)[0], a + 5
                        if at + size <= end and size <= MAX_INLINE_STR:
                            try:
                                stack.append(str(buf[at : at + size], "utf-8", "surrogatepass"))
                            except UnicodeDecodeError:
                                stack.append(Span(at - base, size, "str"))
                            rpos = at + size - base
                            continue
                    elif code == 0x4B:  # BININT1
                        stack.append(buf[a + 1])
                        rpos += 2
                        continue
                    elif code == 0x4D:  # BININT2
                        stack.append(u16(buf, a + 1)[0])
                        rpos += 3
                        continue
                    elif code == 0x4A:  # BININT
                        stack.append(i32(buf, a + 1)[0])
                        rpos += 5
                        continue
                    elif code == 0x47:  # BINFLOAT
                        stack.append(f64(buf, a + 1)[0])
                        rpos += 9
                        continue
                    elif code == 0x28:  # MARK
                        self.metastack.append(stack)
                        self.stack = []
                        rpos += 1
                        continue
                    elif code == 0x85:  # TUPLE1
                        stack[-1] = (stack[-1],)
                        rpos += 1
                        continue
                    elif code == 0x86:  # TUPLE2
                        second = stack.pop()
                        stack[-1] = (stack[-1], second)
                        rpos += 1
                        continue
                    elif code == 0x87:  # TUPLE3
                        third = stack.pop()
                        second = stack.pop()
                        stack[-1] = (stack[-1], second, third)
                        rpos += 1
                        continue
                    elif code == 0x4E:  # NONE
                        stack.append(None)
                        rpos += 1
                        continue
                    elif code == 0x88 or code == 0x89:  # NEWTRUE, NEWFALSE
                        stack.append(code == 0x88)
                        rpos += 1
                        continue
                    elif code == 0x29:  # EMPTY_TUPLE
                        stack.append(())
                        rpos += 1
                        continue
                    elif code == 0x5D:  # EMPTY_LIST
                        stack.append(SymList(keep))
                        rpos += 1
                        continue
                    elif code == 0x7D:  # EMPTY_DICT
                        stack.append(SymDict())
                        rpos += 1
                        continue
                    elif code == 0x61:  # APPEND
                        value = stack.pop()
                        target = stack[-1]
                        if isinstance(target, SymList):
                            if len(target.items) < target.cap:
                                target.items.append(value)
                        elif isinstance(target, Call):
                            self.hook(target, "append")
                        rpos += 1
                        continue
                    elif code == 0x70 or code == 0x67:  # PUT, GET: decimal memo index lines
                        nl = buf.find(b"\n", a + 1, a + 21)
                        digits = buf[a + 1 : nl] if nl > a + 1 else b""
                        if digits.isdigit() and len(digits) < 19:
                            key = int(digits)
                            if code == 0x70:
                                memo[key] = stack[-1]
                            else:
                                try:
                                    stack.append(memo[key])
                                except KeyError:
                                    raise ArtifactFormatError(
                                        f"memo key {key!r} not found", pos
                                    ) from None
                            rpos = nl + 1 - base
                            continue
                reader.pos = rpos
                code, arg, pos = read()
                rpos = op_end = reader.pos  # before BUILD skips joblib array bytes
                if code == _MEMOIZE:  # the most frequent opcode of protocol 4+
                    memo[len(memo)] = stack[-1]
                elif code in _PUSH_ARG:
                    stack.append(arg)
                elif code in _PUTS:
                    if not isinstance(arg, int) or arg < 0:
                        raise ArtifactFormatError("negative or invalid memo index", pos)
                    memo[arg] = stack[-1]
                elif code in _GETS:
                    try:
                        stack.append(memo[arg])  # type: ignore[index]
                    except KeyError:
                        raise ArtifactFormatError(f"memo key {arg!r} not found", pos) from None
                elif code == OP.MARK:
                    self.metastack.append(stack)
                    self.stack = []
                elif code == OP.STOP:
                    if not stack:
                        raise ArtifactFormatError("STOP on an empty stack", pos)
                    res.complete = True
                    res.result = stack[-1]
                    break
                elif code == OP.REDUCE:
                    args = stack.pop()
                    func = stack.pop()
                    stack.append(self.call(func, args, pos, "REDUCE"))
                elif code == OP.BUILD:
                    state = stack.pop()
                    self.build(stack[-1], state, pos, frame_end)
                elif code == OP.GLOBAL or code == OP.INST:
                    module, name = cast(tuple[str, str], arg)
                    if code == OP.GLOBAL:
                        stack.append(self.global_ref(module, name, pos, "GLOBAL"))
                    else:
                        # The C unpickler looks for the MARK first; Python's own (joblib's)
                        # imports the module first: a stream without a MARK still imports.
                        ref = self.global_ref(module, name, pos, "INST")
                        items = self.pop_mark(pos)
                        self.stack.append(self.call(ref, tuple(items), pos, "INST"))
                elif code == OP.STACK_GLOBAL:
                    name_v = stack.pop()
                    module_v = stack.pop()
                    if isinstance(module_v, str) and isinstance(name_v, str):
                        stack.append(self.global_ref(module_v, name_v, pos, "STACK_GLOBAL"))
                    elif not (self.may_be_str(module_v) and self.may_be_str(name_v)):
                        # CPython: "STACK_GLOBAL requires str" (an exact str); the
                        # stream stops here, nothing is imported.
                        raise ArtifactFormatError(
                            "STACK_GLOBAL of a value that cannot be a str: "
                            f"module={render(module_v, self.blob)}, "
                            f"name={render(name_v, self.blob)}",
                            pos,
                        )
                    else:
                        self.event(
                            "dynamic-global",
                            pos,
                            "STACK_GLOBAL with a name computed at load time: "
                            f"module={render(module_v, self.blob)}, "
                            f"name={render(name_v, self.blob)}",
                        )
                        stack.append(Unknown("dynamic global"))
                elif code in (OP.EMPTY_DICT, OP.EMPTY_LIST, OP.EMPTY_TUPLE, OP.EMPTY_SET):
                    stack.append(
                        SymDict() if code == OP.EMPTY_DICT
                        else SymList(self.keep) if code == OP.EMPTY_LIST
                        else () if code == OP.EMPTY_TUPLE
                        else SymSet()
                    )  # fmt: skip
                elif code == OP.TUPLE1:
                    stack[-1] = (stack[-1],)
                elif code == OP.TUPLE2:
                    b = stack.pop()
                    stack[-1] = (stack[-1], b)
                elif code == OP.TUPLE3:
                    c = stack.pop()
                    b = stack.pop()
                    stack[-1] = (stack[-1], b, c)
                elif code == OP.TUPLE:
                    items = self.pop_mark(pos)
                    self.stack.append(tuple(items))
                elif code == OP.SETITEMS:
                    items = self.pop_mark(pos)
                    target = self.stack[-1]
                    if self.on_setitem is not None:
                        for i in range(0, len(items) - 1, 2):
                            self.on_setitem(target, items[i], items[i + 1])
                    if isinstance(target, Call):
                        self.hook(target, "__setitem__")
                    if isinstance(target, SymDict):
                        if len(target.items) < _KEEP:
                            for i in range(0, len(items) - 1, 2):
                                target.set(items[i], items[i + 1])
                        elif not _ALWAYS_KEPT.isdisjoint(items[0::2]):
                            for i in range(0, len(items) - 1, 2):
                                if items[i] in _ALWAYS_KEPT:
                                    target.items[items[i]] = items[i + 1]
                elif code == OP.SETITEM:
                    value = stack.pop()
                    key = stack.pop()
                    target = stack[-1]
                    if self.on_setitem is not None:
                        self.on_setitem(target, key, value)
                    if isinstance(target, SymDict):
                        target.set(key, value)
                    elif isinstance(target, Call):
                        self.hook(target, "__setitem__")
                elif code == OP.APPENDS:
                    items = self.pop_mark(pos)
                    target = self.stack[-1]
                    if isinstance(target, SymList):
                        target.extend(items)
                    elif isinstance(target, Call):
                        self.hook(target, "extend")
                        self.hook(target, "append")
                elif code == OP.APPEND:
                    value = stack.pop()
                    target = stack[-1]
                    if isinstance(target, SymList):
                        target.extend([value])
                    elif isinstance(target, Call):
                        self.hook(target, "append")
                elif code == OP.BINPERSID:
                    pid = stack.pop()
                    self.persistent(pid)
                    stack.append(Persistent(pid))
                elif code == OP.PERSID:
                    self.persistent(arg)
                    stack.append(Persistent(arg))
                elif code == OP.NEWOBJ:
                    args = stack.pop()
                    cls = stack.pop()
                    stack.append(self.call(cls, args, pos, "NEWOBJ"))
                elif code == OP.NEWOBJ_EX:
                    kwargs = stack.pop()
                    args = stack.pop()
                    cls = stack.pop()
                    stack.append(self.call(cls, (args, kwargs), pos, "NEWOBJ_EX"))
                elif code == OP.OBJ:
                    items = self.pop_mark(pos)
                    if not items:
                        raise ArtifactFormatError("OBJ without a class", pos)
                    self.stack.append(self.call(items[0], tuple(items[1:]), pos, "OBJ"))
                elif code == OP.NONE:
                    stack.append(None)
                elif code == OP.NEWTRUE:
                    stack.append(True)
                elif code == OP.NEWFALSE:
                    stack.append(False)
                elif code == OP.PROTO:
                    if not isinstance(arg, int) or arg > 5:
                        raise ArtifactFormatError(f"unsupported pickle protocol {arg}", pos)
                    res.protocol = arg if res.protocol is None else max(res.protocol, arg)
                elif code == OP.FRAME:
                    after = reader.pos
                    short = after + cast(int, arg) > self.blob.size
                    if short and not linear:
                        raise ArtifactFormatError("FRAME runs past the end of the data", pos)
                    # A short frame: the C unpickler stops; Python's own (joblib.load)
                    # reads the bytes there are and runs them, and so does this reading.
                    if linear and not short:
                        if not frame_end:
                            frame_end = after + cast(int, arg)
                        elif after + cast(int, arg) > frame_end and res.frame_split is None:
                            res.frame_split = pos  # a file loader drops the frame's rest
                elif code == OP.READONLY_BUFFER:
                    pass  # a buffer flag changes nothing symbolic
                elif code == OP.POP:
                    if stack:
                        stack.pop()
                    else:
                        self.pop_mark(pos)
                elif code == OP.POP_MARK:
                    self.pop_mark(pos)
                elif code == OP.DUP:
                    stack.append(stack[-1])
                elif code == OP.LIST:
                    items = self.pop_mark(pos)
                    self.stack.append(SymList(self.keep, items))
                elif code == OP.DICT:
                    items = self.pop_mark(pos)
                    d = SymDict()
                    for i in range(0, len(items) - 1, 2):
                        d.set(items[i], items[i + 1])
                    self.stack.append(d)
                elif code in (OP.ADDITEMS, OP.FROZENSET):
                    self.pop_mark(pos)
                    if code == OP.FROZENSET:
                        self.stack.append(SymSet())
                    elif self.stack and isinstance(self.stack[-1], Call):
                        self.hook(self.stack[-1], "add")
                elif code in (OP.EXT1, OP.EXT2, OP.EXT4):
                    # Nothing registers extension codes in a loader's process, and
                    # CPython's unpickler stops at an unregistered one.
                    self.event(
                        "ext-code",
                        pos,
                        f"extension code {arg}: the global is whatever the loading process "
                        "registered with copyreg.add_extension; an unregistered code stops "
                        "the unpickler here",
                    )
                    raise ArtifactFormatError(f"unregistered extension code {arg}", pos)
                elif code == OP.NEXT_BUFFER:
                    stack.append(Unknown("out-of-band buffer"))
                else:  # pragma: no cover - every opcode of the table is handled above
                    raise ArtifactFormatError(f"unhandled opcode 0x{code:02x}", pos)
                rpos = reader.pos  # BUILD may have skipped joblib array bytes
        except IndexError:
            reader.pos = max(reader.pos, rpos)
            res.error = ArtifactFormatError("stack underflow", pos)
        except ArtifactFormatError as exc:
            reader.pos = max(reader.pos, rpos)
            res.error = exc
            if linear and frame_end > reader.pos and res.frame_split is None:
                # The opcode that failed starts inside a frame: read from a
                # file, its argument may come from after the frame instead.
                res.frame_split = reader.pos
        res.opcodes = n
        res.end = reader.pos

    def persistent(self, pid: object) -> None:
        if not self.persistent_ok:
            raise ArtifactFormatError(
                "persistent id: pickle.load refuses it without a persistent_load hook",
                self.reader.pos,
            )
        if len(self.res.persistent_ids) < _MAX_PERSISTENT_IDS:
            self.res.persistent_ids.append(pid)

    def hook(self, target: Call, method: str) -> None:
        """The stream drives ``method`` of an instance (APPEND on an object, ...)."""
        cls = _instance_class(target)
        use = self.res.globals.get(cls) if cls is not None else None
        if use is not None:
            use.hooks.add(method)

    def construct(self, ctor: Global, args: tuple[object, ...], pos: int) -> None:
        """``copyreg`` constructors: their first argument is the class instantiated.

        ``_reconstructor(cls, base, state)`` also runs ``base.__new__`` and
        ``base.__init__`` with ``state`` unless ``base`` is ``object``: that is a
        call of ``base``.
        """
        cls = args[0] if args else None
        if isinstance(cls, Global):
            use = self.res.globals[cls.key]
            use.instantiations += 1
            if use.call_evidence is None:
                use.call_evidence = f"{ctor.module}.{ctor.name}({render(args, self.blob)[1:-1]})"
        if ctor.name == "_reconstructor" and len(args) > 1:
            base = args[1]
            if isinstance(base, Global) and base.key not in _PLAIN_BASES:
                self.call(base, args[2:3], pos, "REDUCE")

    def build(self, obj: object, state: object, pos: int, frame_end: int = 0) -> None:
        obj = _resolve_persistent_class(obj)
        if isinstance(obj, Call) and obj.planted_setstate is not None:
            # A first BUILD put __setstate__ into the instance's __dict__;
            # load_build looks the name up on the instance, so this BUILD calls it.
            planted, obj.planted_setstate = obj.planted_setstate, None
            self.call(planted, (state,), pos, "BUILD")
            return
        dict_state, slot_state = _split_state(state)
        if isinstance(obj, Call):
            cls_key = _instance_class(obj)
            use = self.res.globals.get(cls_key) if cls_key is not None else None
            if use is not None:
                if slot_state is not None:
                    use.hooks.add("__setattr__")
                if len(use.states) < _MAX_STATES:
                    use.states.append(state)
                elif use.states[-1] is not None:
                    use.states.append(None)
        if slot_state is not None:
            for key in slot_state.items:
                if isinstance(key, str) and key.startswith("__") and key.endswith("__"):
                    self.event(
                        "build-dunder",
                        pos,
                        f"BUILD's slot state sets {key} on {render(obj, self.blob)} with setattr: "
                        "it changes what the object is",
                    )
        if dict_state is not None and "__setstate__" in dict_state.items:
            # A dict state goes into the instance __dict__ as data, except that a
            # later BUILD of the same object finds __setstate__ there and calls it.
            planted = dict_state.items["__setstate__"]
            self.event(
                "build-dunder",
                pos,
                f"BUILD puts __setstate__ = {render(planted, self.blob)} into the __dict__ of "
                f"{render(obj, self.blob)}: a second BUILD of that object calls it",
            )
            if isinstance(obj, Call):
                obj.planted_setstate = planted
        if isinstance(obj, Global):
            self.event(
                "build-on-global",
                pos,
                f"BUILD sets attributes on {obj.module}.{obj.name} itself, "
                "changing it for the whole process",
            )
            return
        if not isinstance(obj, Call):
            return
        obj.state = state
        cls = _instance_class(obj)
        if self.joblib_arrays and cls in _JOBLIB_WRAPPERS:
            if obj.builds is None:
                obj.builds = []
            if len(obj.builds) >= _MAX_WRAPPER_BUILDS:
                raise ArtifactFormatError(
                    f"joblib array wrapper built more than {_MAX_WRAPPER_BUILDS} times",
                    pos,
                    severe=True,
                )
            obj.builds.append(state)
            if frame_end and self.reader.pos < frame_end:
                # joblib's unpickler holds the whole FRAME in a buffer and reads the
                # array (or its nested pickle) from the file, after the frame; the
                # frame's rest is read after that. joblib's own pickler ends the
                # frame at the BUILD, so only a crafted file gets here. The nested
                # pickle of an object array is still analysed where joblib reads it.
                if (
                    self.depth < _MAX_NESTED_STREAMS
                    and _dtype_itemsize(_wrapper_attributes(obj).get("dtype")) == _OBJECT
                ):
                    self.merge(
                        run_pickle(
                            self.blob,
                            frame_end,
                            max_opcodes=self.max_opcodes,
                            tick=self.tick,
                            interesting=self.interesting,
                            keep=self.keep,
                            joblib_arrays=False,
                            _depth=self.depth + 1,
                        )
                    )
                raise ArtifactFormatError(
                    f"joblib array wrapper built {frame_end - self.reader.pos} bytes before "
                    "the end of its FRAME: joblib reads the array from after the frame",
                    pos,
                    severe=True,
                )
            self.skip_joblib_array(obj, pos)
        elif cls in _JOBLIB_SIDE_FILE_WRAPPERS and dict_state is not None:
            self.joblib_side_file(cls, dict_state, pos)

    def joblib_side_file(self, cls: tuple[str, str], state: SymDict, pos: int) -> None:
        """joblib < 0.10 wrote arrays to side files; ``joblib.load`` reads the file the
        wrapper names (``NDArrayWrapper``: read by ``np.load`` with pickles allowed)."""
        filename = state.items.get("filename")
        if not isinstance(filename, str):
            self.event(
                "side-file",
                pos,
                f"{cls[0]}.{cls[1]} names its side file with "
                f"{render(filename, self.blob)}, not a string",
            )
            return
        parts = filename.replace("\\", "/").split("/")
        if filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            loads = "unpickles" if cls[1] == "NDArrayWrapper" else "reads"
            self.event(
                "side-file",
                pos,
                f"{cls[0]}.{cls[1]}: joblib.load {loads} {filename!r}, "
                "a file outside the model's folder",
            )

    def skip_joblib_array(self, wrapper: Call, pos: int) -> None:
        """joblib writes array bytes (or a whole pickle) right after the wrapper's BUILD.

        The number of bytes to skip follows from the wrapper's attributes
        exactly as joblib computes it; when openward cannot be sure, the
        rest of the stream is declared unreadable (a high finding) rather
        than parsed from a guessed offset.
        """
        attrs = _wrapper_attributes(wrapper)
        itemsize = _dtype_itemsize(attrs.get("dtype"))
        reader = self.reader
        if itemsize == _OBJECT:
            # An object array: joblib calls pickle.dump on it; a whole pickle follows.
            if self.depth >= _MAX_NESTED_STREAMS:
                raise ArtifactFormatError(
                    f"joblib object arrays nested more than {_MAX_NESTED_STREAMS} deep",
                    reader.pos,
                    severe=True,
                )
            # joblib reads it with a fresh pickle._Unpickler, not its NumpyUnpickler:
            # an array wrapper inside is an ordinary object, its "array bytes"
            # ordinary opcodes (skipping them hid a payload joblib runs).
            nested = run_pickle(
                self.blob,
                reader.pos,
                max_opcodes=self.max_opcodes,
                tick=self.tick,
                interesting=self.interesting,
                keep=self.keep,
                joblib_arrays=False,
                _depth=self.depth + 1,
            )
            self.merge(nested)
            if nested.error is not None:
                raise nested.error
            reader.pos = nested.end
            self.res.inline_arrays += 1
            self.stack[-1] = nested.result  # joblib pops the wrapper, pushes the array
            return
        shape = attrs.get("shape")
        if not isinstance(shape, tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise ArtifactFormatError(
                "joblib array wrapper with a shape openward cannot read: "
                f"{render(shape, self.blob)}",
                pos,
                severe=True,
            )
        if itemsize is None:
            raise ArtifactFormatError(
                "joblib array wrapper with a dtype openward cannot size: "
                f"{render(attrs.get('dtype'), self.blob)}",
                pos,
                severe=True,
            )
        count = 1
        for d in shape:
            count *= d
        at = reader.pos
        if attrs.get("numpy_array_alignment_bytes") is not None:
            padding = self.blob.read(at, 1)
            if not padding:
                raise ArtifactFormatError("joblib array padding runs past the end", at)
            at += 1 + padding[0]
        at += count * itemsize
        if at > self.blob.size:
            raise ArtifactFormatError(
                f"joblib array of {count * itemsize} bytes runs past the end", reader.pos
            )
        reader.pos = at
        self.res.inline_arrays += 1
        # joblib's load_build pops the wrapper and pushes the array: a BUILD that
        # follows acts on the array (ndarray.__setstate__), not on the wrapper.
        self.stack[-1] = Unknown("array read by joblib")

    def merge(self, other: PickleStreamResult) -> None:
        merge_results(self.res, other)
        self.res.opcodes += other.opcodes


def merge_results(res: PickleStreamResult, other: PickleStreamResult) -> None:
    """Add what ``other`` names and does to ``res`` (not its errors or positions)."""
    for key, use in other.globals.items():
        mine = res.globals.get(key)
        if mine is None:
            res.globals[key] = use
        else:
            mine.references += use.references
            mine.calls += use.calls
            mine.instantiations += use.instantiations
            mine.hooks |= use.hooks
            mine.states += use.states[: max(0, _MAX_STATES - len(mine.states))]
            mine.call_evidence = mine.call_evidence or use.call_evidence
    res.calls += other.calls
    seen = {(e.kind, e.offset) for e in res.events}
    for ev in other.events:
        if (ev.kind, ev.offset) not in seen and len(res.events) < _MAX_EVENTS:
            res.events.append(ev)
    known = {(e.span.start, e.span.length) for e in res.embedded}
    for emb in other.embedded:
        if (emb.span.start, emb.span.length) not in known and len(res.embedded) < _MAX_EMBEDDED:
            res.embedded.append(emb)


def _resolve_persistent_class(value: object) -> object:
    """Legacy torch.save stores classes of whole-module pickles as persistent ids
    ``('module', cls, source_file, source)``; torch's persistent_load hands back
    ``cls`` itself, so that is what calls and BUILDs act on."""
    if (
        isinstance(value, Persistent)
        and isinstance(value.pid, tuple)
        and len(value.pid) > 1
        and value.pid[0] == "module"
        and isinstance(value.pid[1], Global)
    ):
        return value.pid[1]
    return value


def _split_state(state: object) -> tuple[SymDict | None, SymDict | None]:
    """(dict state, slot state) of a BUILD argument, as ``load_build`` splits it."""
    if isinstance(state, tuple) and len(state) == 2:
        first, second = state
        return (
            first if isinstance(first, SymDict) else None,
            second if isinstance(second, SymDict) else None,
        )
    return (state if isinstance(state, SymDict) else None), None


def _arg(args: tuple[object, ...], i: int) -> object:
    return args[i] if len(args) > i else None


def _as_args(value: object) -> object:
    return value if isinstance(value, tuple) else (value,)


# Allowlisted helpers that call one of their arguments:
# key -> (callee, its arguments) taken from the helper's arguments.
_CALLS_THROUGH: Final[
    dict[tuple[str, str], Callable[[tuple[object, ...]], tuple[object, object]]]
] = {
    ("torch._tensor", "_rebuild_from_type"): lambda a: (_arg(a, 0), _as_args(_arg(a, 2))),
    ("torch._tensor", "_rebuild_from_type_v2"): lambda a: (_arg(a, 0), _as_args(_arg(a, 2))),
    ("numpy.random._pickle", "__randomstate_ctor"): lambda a: (_arg(a, 1), (_arg(a, 0),)),
    # __bit_generator_ctor(bit_generator): a type is instantiated with no arguments.
    ("numpy.random._pickle", "__bit_generator_ctor"): lambda a: (
        _arg(a, 0) if isinstance(_arg(a, 0), Global) else None,
        (),
    ),
    ("numpy.random._pickle", "__generator_ctor"): lambda a: (_arg(a, 1), (_arg(a, 0),)),
}

# Allowlisted callables that can return an exact str (so a STACK_GLOBAL name can
# come from them): str itself, text codecs, the constructors that build any class
# they are handed (str among them), the torch helper that returns func(*args),
# TorchScript's identity helpers, numpy's object scalars (which return the object),
# and the bit-generator helper that instantiates the type it is given. Keep this in
# step with the allowlist: a function added there that can hand back a str
# belongs here too.
_MAY_RETURN_STR: Final = frozenset(
    {
        ("builtins", "str"),
        ("codecs", "encode"),
        ("_codecs", "encode"),
        ("copyreg", "_reconstructor"),
        ("copyreg", "__newobj__"),
        ("copyreg", "__newobj_ex__"),
        ("torch._tensor", "_rebuild_from_type"),
        ("torch._tensor", "_rebuild_from_type_v2"),
        ("torch.jit._pickle", "build_intlist"),
        ("torch.jit._pickle", "build_tensorlist"),
        ("torch.jit._pickle", "build_doublelist"),
        ("torch.jit._pickle", "build_boollist"),
        ("torch.jit._pickle", "restore_type_tag"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "object_"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
    }
)


def _python3_name(key: tuple[str, str]) -> tuple[str, str]:
    """``__builtin__.str`` is ``builtins.str`` to the unpickler of protocols 0-2."""
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    if key in NAME_MAPPING:
        return NAME_MAPPING[key]
    return IMPORT_MAPPING.get(key[0], key[0]), key[1]


_NEVER_CALLABLE: Final = (
    str,
    bytes,
    int,
    float,
    bool,
    type(None),
    tuple,
    Span,
    SymList,
    SymDict,
    SymSet,
)
"""Constants and containers: calling one is a TypeError in either unpickler."""

_OBJECT: Final = -1
_PLAIN_BASES: Final = frozenset(
    {("builtins", "object"), ("__builtin__", "object"), ("copy_reg", "object")}
)
_JOBLIB_SIDE_FILE_WRAPPERS: Final = frozenset(
    {
        ("joblib.numpy_pickle", "NDArrayWrapper"),
        ("joblib.numpy_pickle", "ZNDArrayWrapper"),
        ("joblib.numpy_pickle_compat", "NDArrayWrapper"),
        ("joblib.numpy_pickle_compat", "ZNDArrayWrapper"),
        ("sklearn.externals.joblib.numpy_pickle", "NDArrayWrapper"),
        ("sklearn.externals.joblib.numpy_pickle", "ZNDArrayWrapper"),
    }
)
_CONSTRUCTORS: Final = frozenset(
    (module, name)
    for module in ("copyreg", "copy_reg")  # protocols 0-2 write Python 2's name
    for name in ("_reconstructor", "__newobj__", "__newobj_ex__")
)
_WRAPPER_INIT: Final = ("subclass", "shape", "order", "dtype", "allow_mmap",
                        "numpy_array_alignment_bytes")  # fmt: skip
_MAX_NESTED_STREAMS: Final = 16
_MAX_WRAPPER_BUILDS: Final = 64


def _instance_class(obj: Call) -> tuple[str, str] | None:
    """The class an instance was made from, seeing through copyreg's constructors."""
    cls = obj.func
    if isinstance(cls, Global) and cls.key in _CONSTRUCTORS:
        args = obj.args
        if isinstance(args, tuple) and args:
            cls = args[0]
    return cls.key if isinstance(cls, Global) else None


def _wrapper_attributes(wrapper: Call) -> dict[object, object]:
    """joblib's NumpyArrayWrapper attributes after construction and every BUILD.

    joblib's unpickler is Python's ``load_build``: a dict state (or the dict and
    slot parts of a 2-tuple) updates the instance, a false state changes
    nothing, and each BUILD adds to what the earlier ones set. A state of any
    other kind (a dict made by a call, say ``collections.OrderedDict([...])``)
    would set attributes openward cannot see, so it is refused.
    """
    attrs: dict[object, object] = {}
    if (
        isinstance(wrapper.func, Global)
        and wrapper.func.key in _JOBLIB_WRAPPERS
        and wrapper.via in ("REDUCE", "OBJ", "INST")
    ):
        args = wrapper.args if isinstance(wrapper.args, tuple) else ()
        if args or wrapper.via == "REDUCE":
            # __init__ ran: its defaults, then the positional arguments.
            attrs["allow_mmap"] = False
            attrs["numpy_array_alignment_bytes"] = 16
            attrs.update(zip(_WRAPPER_INIT, args, strict=False))
    for state in wrapper.builds or ():
        parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
        for part in parts:
            if isinstance(part, SymDict):
                attrs.update(part.items)
            elif part is not None and part != () and part is not False:
                raise ArtifactFormatError(
                    f"joblib array wrapper whose BUILD state openward cannot read: {render(part)}",
                    wrapper.offset,
                    severe=True,
                )
    return attrs


# numpy's item sizes on 64-bit Linux, for every way np.dtype(x) accepts x as a
# plain scalar type. Anything else is "cannot size".
_KIND_BYTES: Final = frozenset("biufcmMSVa")
_CHAR_SIZES: Final[dict[str, int]] = {
    "?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8,
    "p": 8, "P": 8, "n": 8, "N": 8, "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32,
    "M": 8, "m": 8,
}  # fmt: skip
_NAME_SIZES: Final[dict[str, int]] = {
    "bool": 1, "bool_": 1, "int8": 1, "uint8": 1, "byte": 1, "ubyte": 1, "int16": 2,
    "uint16": 2, "short": 2, "ushort": 2, "int32": 4, "uint32": 4, "intc": 4, "uintc": 4,
    "int64": 8, "uint64": 8, "int": 8, "long": 8, "ulong": 8, "longlong": 8, "ulonglong": 8,
    "intp": 8, "uintp": 8, "float16": 2, "half": 2, "float32": 4, "single": 4, "float64": 8,
    "double": 8, "float": 8, "float128": 16, "longdouble": 16, "complex64": 8,
    "csingle": 8, "complex128": 16, "cdouble": 16, "complex": 16, "complex256": 32,
    "clongdouble": 32, "datetime64": 8, "timedelta64": 8,
}  # fmt: skip
_OBJECT_NAMES: Final = frozenset({"O", "object", "object_", "O8", "O4"})
_FLEXIBLE: Final = frozenset({"S", "U", "V", "a", "str", "str_", "unicode", "bytes", "bytes_",
                              "void", "string_", "unicode_"})  # fmt: skip
_SIZED = re.compile(r"^([a-zA-Z])(\d+)(\[[A-Za-z0-9]+\])?$")
_UNIT = re.compile(r"^(datetime64|timedelta64|[Mm]8?)\[[A-Za-z0-9]+\]$")


def _dtype_itemsize(dtype: object) -> int | None:
    """Item size of a symbolic ``numpy.dtype(x, ...)`` call; ``_OBJECT`` for object dtypes.

    Follows numpy: the type string decides, and the element size stored in
    the pickled state only counts for flexible types written without a size.
    """
    if not (isinstance(dtype, Call) and isinstance(dtype.func, Global)):
        return None
    if dtype.func.key not in (("numpy", "dtype"), ("numpy.core.multiarray", "dtype")):
        return None
    if not isinstance(dtype.args, tuple) or not dtype.args or not isinstance(dtype.args[0], str):
        return None
    state = dtype.state
    flags = state[7] if isinstance(state, tuple) and len(state) >= 8 else 0
    typestr = dtype.args[0].lstrip("<>|=")
    if typestr in _OBJECT_NAMES:
        return _OBJECT
    if isinstance(flags, int) and flags & 1:  # NPY_ITEM_HASOBJECT
        # numpy keeps the pickled flags on a dtype it copied (``copy=True``, what
        # numpy itself writes) and ignores them on the shared builtin dtype
        # (``np.dtype('f8', False, False)``); which one a flexible or unusual
        # spelling gets is numpy's business. Only the written form is trusted.
        copy = dtype.args[2] if len(dtype.args) > 2 else False
        if copy is True or (type(copy) is int and copy != 0):
            return _OBJECT
        return None
    if typestr in _NAME_SIZES:
        return _NAME_SIZES[typestr]
    if typestr in _CHAR_SIZES:
        return _CHAR_SIZES[typestr]
    if _UNIT.match(typestr):
        return 8
    m = _SIZED.match(typestr)
    if m is not None:
        kind, n = m.group(1), int(m.group(2))
        if kind == "U":
            return 4 * n
        if kind in _KIND_BYTES and n > 0:
            return n
        if kind == "O":
            return _OBJECT
        return None
    if typestr in _FLEXIBLE and isinstance(state, tuple) and len(state) >= 6:
        elsize = state[5]
        if isinstance(elsize, int) and not isinstance(elsize, bool) and elsize >= 0:
            return elsize
    return None


def _flatten(value: object, budget: list[int] | None = None, depth: int = 0) -> list[object]:
    """Leaves of nested tuples, lists and dicts; visits at most 512 values in all.

    Every visit counts, containers included: values shared through the memo
    can make a few bytes of pickle into an exponentially large tree.
    """
    if budget is None:
        budget = [512]
    budget[0] -= 1
    if depth > 4 or budget[0] < 0:
        return []
    if isinstance(value, tuple | SymList | SymDict):
        items = (
            value
            if isinstance(value, tuple)
            else value.items
            if isinstance(value, SymList)
            else list(value.items.values())
        )
        out: list[object] = []
        for v in items:
            if budget[0] <= 0:
                break
            out.extend(_flatten(v, budget, depth + 1))
        return out
    return [value]


_MAX_RENDER: Final = 240


def render(value: object, blob: Blob | None = None, depth: int = 0) -> str:
    """A short, safe, human-readable rendering of a symbolic value."""
    if depth > 3:
        return "…"
    if isinstance(value, Global):
        return f"{value.module}.{value.name}"
    if isinstance(value, Call):
        return f"{render(value.func, blob, depth + 1)}(…)"
    if isinstance(value, Span):
        if blob is not None and value.kind in ("str", "bytes", "bytearray") and value.length <= 200:
            raw = blob.read(value.start, value.length)
            if value.kind == "str":
                return repr(raw.decode("utf-8", "replace"))
            return repr(raw)
        return f"<{value.length}-byte {value.kind}>"
    if isinstance(value, Persistent):
        return f"persistent_load({render(value.pid, blob, depth + 1)})"
    if isinstance(value, Unknown):
        return f"<{value.what}>"
    if isinstance(value, tuple):
        inner = ", ".join(render(v, blob, depth + 1) for v in value[:8])
        more = ", …" if len(value) > 8 else ""
        comma = "," if len(value) == 1 else ""
        return f"({inner}{comma}{more})"
    if isinstance(value, SymList):
        return "[" + ", ".join(render(v, blob, depth + 1) for v in value.items[:8]) + "]"
    if isinstance(value, SymDict):
        inner = ", ".join(
            f"{render(k, blob, depth + 1)}: {render(v, blob, depth + 1)}"
            for k, v in list(value.items.items())[:6]
        )
        return "{" + inner + "}"
    if isinstance(value, SymSet):
        return "{…}"
    if isinstance(value, _Mark):
        return "<mark>"
    text = repr(value)
    return text if len(text) <= _MAX_RENDER else text[: _MAX_RENDER - 1] + "…"


def render_call(name: str, args: object, blob: Blob | None) -> str:
    rendered = render(args, blob) if isinstance(args, tuple) else f"*{render(args, blob)}"
    if isinstance(args, tuple) and rendered.endswith(",)"):
        rendered = rendered[:-2] + ")"
    text = f"{name}{rendered}"
    return text if len(text) <= 400 else text[:399] + "…"
