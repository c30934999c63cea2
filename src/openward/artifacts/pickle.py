"""Decoding the pickle opcode stream, without executing it.

This is a reader, not an unpickler: it turns bytes into ``(opcode, argument,
offset)`` triples and never imports, calls or constructs anything named by
the stream. Large byte payloads (tensor data pickled inline, protocol-5
buffers) come back as :class:`Span` references, so reading a pickle costs
memory proportional to its opcodes, not to its payloads.

The opcode table follows ``Lib/pickletools.py`` (protocols 0-5).
"""

from __future__ import annotations

import codecs
import math
import re
import struct
from typing import Final

from openward.artifacts.blob import Blob, Buffer
from openward.artifacts.errors import ArtifactFormatError

__all__ = [
    "OP",
    "OPCODE_NAMES",
    "FileModePickleReader",
    "PickleOpcodeReader",
    "Span",
    "is_identifier_path",
]


class Span:
    """A byte range inside the pickle's blob (a string or bytes payload).

    A plain slotted class rather than a dataclass: one is made per payload
    opcode, on the hot path.
    """

    __slots__ = ("kind", "length", "start")

    def __init__(self, start: int, length: int, kind: str) -> None:
        self.start = start
        """Offset of the first payload byte, relative to the blob."""
        self.length = length
        """Payload length in bytes."""
        self.kind = kind
        """``"bytes"``, ``"str"``, ``"bytearray"`` or ``"long"``: what the unpickler would build."""

    def __repr__(self) -> str:
        return f"Span({self.start}, {self.length}, {self.kind!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Span) and (self.start, self.length, self.kind) == (
            other.start,
            other.length,
            other.kind,
        )

    def __hash__(self) -> int:
        return hash((self.start, self.length, self.kind))


class OP:
    """Opcode values, by their ``pickletools`` names."""

    MARK = 0x28
    STOP = 0x2E
    POP = 0x30
    POP_MARK = 0x31
    DUP = 0x32
    FLOAT = 0x46
    INT = 0x49
    BININT = 0x4A
    BININT1 = 0x4B
    LONG = 0x4C
    BININT2 = 0x4D
    NONE = 0x4E
    PERSID = 0x50
    BINPERSID = 0x51
    REDUCE = 0x52
    STRING = 0x53
    BINSTRING = 0x54
    SHORT_BINSTRING = 0x55
    UNICODE = 0x56
    BINUNICODE = 0x58
    APPEND = 0x61
    BUILD = 0x62
    GLOBAL = 0x63
    DICT = 0x64
    EMPTY_DICT = 0x7D
    APPENDS = 0x65
    GET = 0x67
    BINGET = 0x68
    INST = 0x69
    LONG_BINGET = 0x6A
    LIST = 0x6C
    EMPTY_LIST = 0x5D
    OBJ = 0x6F
    PUT = 0x70
    BINPUT = 0x71
    LONG_BINPUT = 0x72
    SETITEM = 0x73
    TUPLE = 0x74
    EMPTY_TUPLE = 0x29
    SETITEMS = 0x75
    BINFLOAT = 0x47
    PROTO = 0x80
    NEWOBJ = 0x81
    EXT1 = 0x82
    EXT2 = 0x83
    EXT4 = 0x84
    TUPLE1 = 0x85
    TUPLE2 = 0x86
    TUPLE3 = 0x87
    NEWTRUE = 0x88
    NEWFALSE = 0x89
    LONG1 = 0x8A
    LONG4 = 0x8B
    BINBYTES = 0x42
    SHORT_BINBYTES = 0x43
    SHORT_BINUNICODE = 0x8C
    BINUNICODE8 = 0x8D
    BINBYTES8 = 0x8E
    EMPTY_SET = 0x8F
    ADDITEMS = 0x90
    FROZENSET = 0x91
    NEWOBJ_EX = 0x92
    STACK_GLOBAL = 0x93
    MEMOIZE = 0x94
    FRAME = 0x95
    BYTEARRAY8 = 0x96
    NEXT_BUFFER = 0x97
    READONLY_BUFFER = 0x98


OPCODE_NAMES: Final[dict[int, str]] = {
    v: k for k, v in vars(OP).items() if not k.startswith("_") and isinstance(v, int)
}

# Argument kinds.
_NONE, _U1, _U2, _I4, _U4, _U8, _F8 = 0, 1, 2, 3, 4, 5, 6
_LINE_INT, _LINE_LONG, _LINE_FLOAT, _LINE_STRING, _LINE_UNICODE, _LINE_RAW = 7, 8, 9, 10, 11, 12
_LINE_MEMO = 20
_TWO_LINES = 13
_COUNTED_U1, _COUNTED_I4, _COUNTED_U4, _COUNTED_U8 = 14, 15, 16, 17
_LONG1, _LONG4 = 18, 19

_ARG_KIND: Final[dict[int, int]] = {
    OP.MARK: _NONE, OP.STOP: _NONE, OP.POP: _NONE, OP.POP_MARK: _NONE, OP.DUP: _NONE,
    OP.FLOAT: _LINE_FLOAT, OP.INT: _LINE_INT, OP.BININT: _I4, OP.BININT1: _U1,
    OP.LONG: _LINE_LONG, OP.BININT2: _U2, OP.NONE: _NONE, OP.PERSID: _LINE_RAW,
    OP.BINPERSID: _NONE, OP.REDUCE: _NONE, OP.STRING: _LINE_STRING,
    OP.BINSTRING: _COUNTED_I4, OP.SHORT_BINSTRING: _COUNTED_U1, OP.UNICODE: _LINE_UNICODE,
    OP.BINUNICODE: _COUNTED_U4, OP.APPEND: _NONE, OP.BUILD: _NONE, OP.GLOBAL: _TWO_LINES,
    OP.DICT: _NONE, OP.EMPTY_DICT: _NONE, OP.APPENDS: _NONE, OP.GET: _LINE_MEMO,
    OP.BINGET: _U1, OP.INST: _TWO_LINES, OP.LONG_BINGET: _U4, OP.LIST: _NONE,
    OP.EMPTY_LIST: _NONE, OP.OBJ: _NONE, OP.PUT: _LINE_MEMO, OP.BINPUT: _U1,
    OP.LONG_BINPUT: _U4, OP.SETITEM: _NONE, OP.TUPLE: _NONE, OP.EMPTY_TUPLE: _NONE,
    OP.SETITEMS: _NONE, OP.BINFLOAT: _F8, OP.PROTO: _U1, OP.NEWOBJ: _NONE,
    OP.EXT1: _U1, OP.EXT2: _U2, OP.EXT4: _I4, OP.TUPLE1: _NONE, OP.TUPLE2: _NONE,
    OP.TUPLE3: _NONE, OP.NEWTRUE: _NONE, OP.NEWFALSE: _NONE, OP.LONG1: _LONG1,
    OP.LONG4: _LONG4, OP.BINBYTES: _COUNTED_U4, OP.SHORT_BINBYTES: _COUNTED_U1,
    OP.SHORT_BINUNICODE: _COUNTED_U1, OP.BINUNICODE8: _COUNTED_U8,
    OP.BINBYTES8: _COUNTED_U8, OP.EMPTY_SET: _NONE, OP.ADDITEMS: _NONE,
    OP.FROZENSET: _NONE, OP.NEWOBJ_EX: _NONE, OP.STACK_GLOBAL: _NONE, OP.MEMOIZE: _NONE,
    OP.FRAME: _U8, OP.BYTEARRAY8: _COUNTED_U8, OP.NEXT_BUFFER: _NONE,
    OP.READONLY_BUFFER: _NONE,
}  # fmt: skip

_STR_OPS: Final = frozenset(
    {OP.BINUNICODE, OP.SHORT_BINUNICODE, OP.BINUNICODE8, OP.BINSTRING, OP.SHORT_BINSTRING}
)
_BYTES_KIND: Final[dict[int, str]] = {
    OP.BINBYTES: "bytes",
    OP.SHORT_BINBYTES: "bytes",
    OP.BINBYTES8: "bytes",
    OP.BYTEARRAY8: "bytearray",
}

_WIDTH: Final = {_U2: 2, _I4: 4, _U4: 4, _U8: 8, _F8: 8,
                  _COUNTED_I4: 4, _COUNTED_U4: 4, _COUNTED_U8: 8}  # fmt: skip
_COUNTED: Final = frozenset({_COUNTED_I4, _COUNTED_U4, _COUNTED_U8})

MAX_LINE: Final = 1 << 30
"""Longest newline-terminated argument (protocol-0 strings and names can be long)."""
MAX_INLINE_STR: Final = 1 << 16
"""Strings up to this many bytes are decoded; longer ones stay :class:`Span`."""


def is_identifier_path(text: str) -> bool:
    """True for ``a``, ``a.b``, ``a.b.c``: what an importable name can look like."""
    return bool(text) and all(part.isidentifier() for part in text.split("."))


class PickleOpcodeReader:
    """Reads one opcode at a time from ``blob``, starting at ``pos``.

    ``pos`` is public: a caller that knows raw data follows an opcode (joblib
    writes array bytes straight into the stream) moves it forward.
    """

    __slots__ = ("_buf", "_end", "_start", "blob", "pos")

    def __init__(self, blob: Blob, pos: int = 0) -> None:
        self.blob = blob
        self._buf = blob.buffer
        self._start = blob.start
        self._end = blob.end
        self.pos = pos

    @property
    def buffer(self) -> Buffer:
        """The underlying buffer (offsets into it are ``base`` + stream offsets)."""
        return self._buf

    @property
    def base(self) -> int:
        return self._start

    @property
    def limit(self) -> int:
        """Absolute end of the readable data in ``buffer``."""
        return self._end

    def _line_end(self, at: int, limit: int) -> int:
        a = self._start + at
        nl = self._buf.find(b"\n", a, min(self._end, a + limit))
        if nl < 0:
            raise ArtifactFormatError("unterminated or over-long line argument", at)
        return nl - self._start

    def _line(self, at: int, limit: int = MAX_LINE) -> tuple[bytes, int]:
        end = self._line_end(at, limit)
        return bytes(self._buf[self._start + at : self._start + end]), end + 1

    def _fixed(self, at: int, n: int) -> bytes:
        a = self._start + at
        if a + n > self._end:
            raise ArtifactFormatError("truncated opcode argument", at)
        return bytes(self._buf[a : a + n])

    def _payload(self, code: int, absolute: int, at: int, n: int) -> object:
        """A counted string/bytes argument: decoded when short, a Span otherwise."""
        if code in _STR_OPS:
            if n > MAX_INLINE_STR:
                return Span(at, n, "str")
            raw = self._buf[absolute : absolute + n]
            if code in (OP.BINSTRING, OP.SHORT_BINSTRING):
                return raw.decode("latin-1")
            try:
                return raw.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                return Span(at, n, "str")
        return Span(at, n, _BYTES_KIND[code])

    def read_op(self) -> tuple[int, object, int]:
        """The next ``(opcode, argument, offset)``; raises at end of data or on garbage.

        The common opcodes take the first branches: this is the hot loop of
        every scan.
        """
        pos = self.pos
        buf = self._buf
        a = self._start + pos
        end = self._end
        if a >= end:
            raise ArtifactFormatError("pickle data ended without STOP", pos)
        code = buf[a]
        kind = _ARG_KIND.get(code)
        if kind is None:
            raise ArtifactFormatError(f"invalid pickle opcode 0x{code:02x}", pos)
        if kind == _NONE:
            self.pos = pos + 1
            return code, None, pos
        if kind == _U1:
            if a + 2 > end:
                raise ArtifactFormatError("truncated opcode argument", pos + 1)
            self.pos = pos + 2
            return code, buf[a + 1], pos
        if kind == _COUNTED_U1:
            if a + 2 > end:
                raise ArtifactFormatError("truncated opcode argument", pos + 1)
            n = buf[a + 1]
            if a + 2 + n > end:
                raise ArtifactFormatError(f"argument of {n} bytes runs past the end", pos)
            self.pos = pos + 2 + n
            return code, self._payload(code, a + 2, pos + 2, n), pos
        at = pos + 1
        arg: object = None
        width = _WIDTH.get(kind)
        if width is not None:
            raw = buf[a + 1 : a + 1 + width]
            if len(raw) < width:
                raise ArtifactFormatError("truncated opcode argument", at)
            at += width
            if kind == _F8:
                arg = struct.unpack(">d", raw)[0]
            elif kind in _COUNTED:
                n = int.from_bytes(raw, "little", signed=kind == _COUNTED_I4)
                if n < 0:
                    raise ArtifactFormatError("negative byte count", pos)
                if self._start + at + n > end:
                    raise ArtifactFormatError(f"argument of {n} bytes runs past the end", pos)
                arg = self._payload(code, self._start + at, at, n)
                at += n
            else:
                arg = int.from_bytes(raw, "little", signed=kind == _I4)
        elif kind in (_LONG1, _LONG4):
            width = 1 if kind == _LONG1 else 4
            n = int.from_bytes(self._fixed(at, width), "little", signed=kind == _LONG4)
            at += width
            if n < 0:
                raise ArtifactFormatError("negative LONG size", pos)
            if n > 4096:
                # Longer integers are legal but never needed for analysis.
                if self._start + at + n > self._end:
                    raise ArtifactFormatError("LONG runs past the end", pos)
                arg = Span(at, n, "long")
            else:
                arg = int.from_bytes(self._fixed(at, n), "little", signed=True) if n else 0
            at += n
        elif kind == _TWO_LINES:
            first, at = self._line(at)
            second, at = self._line(at)
            if not first or not second:
                raise ArtifactFormatError("empty global name line", pos)
            try:
                arg = (first.decode("utf-8"), second.decode("utf-8"))
            except UnicodeDecodeError:
                raise ArtifactFormatError("global name is not UTF-8", pos) from None
        else:
            end = self._line_end(at, MAX_LINE)
            if end - at > MAX_INLINE_STR and kind in (_LINE_STRING, _LINE_UNICODE, _LINE_RAW):
                arg = Span(at, end - at, "line")
            else:
                line = bytes(self._buf[self._start + at : self._start + end])
                arg = _decode_line(kind, line, pos)
            at = end + 1
        self.pos = at
        return code, arg, pos


class FileModePickleReader(PickleOpcodeReader):
    """Reads as CPython's C unpickler reads from a file object without ``peek()``.

    ``torch.load`` unpickles a zip checkpoint's ``data.pkl`` from an
    ``io.BytesIO``, which has no ``peek()``. The C unpickler then reads each
    ``FRAME`` into a buffer, and an opcode whose argument runs past the end
    of that buffer is not read across it: the rest of the buffer is dropped
    and the argument is read afresh from the file after the frame. A stream
    built that way means one thing to ``pickle.loads`` (and to any reader that
    goes byte by byte) and another to ``torch.load``. This reader reproduces
    the file reading so that both meanings can be analysed.
    """

    __slots__ = ("buffer_end",)

    def __init__(self, blob: Blob, pos: int = 0) -> None:
        super().__init__(blob, pos)
        self.buffer_end = pos
        """End of the bytes the unpickler holds in its buffer (its file position)."""

    def _take(self, n: int, op_pos: int) -> int:
        """Offset of the next ``n`` bytes as the unpickler reads them."""
        if self.pos + n <= self.buffer_end:
            start = self.pos
        else:
            start = max(self.pos, self.buffer_end)  # the buffer's tail is dropped
            if self._start + start + n > self._end:
                raise ArtifactFormatError("pickle data was truncated", op_pos)
            self.buffer_end = start + n
        self.pos = start + n
        return start

    def _take_line(self, op_pos: int) -> tuple[int, int]:
        """``(start, newline offset)`` of the next line as the unpickler reads it."""
        if self.pos < self.buffer_end:
            nl = self._buf.find(b"\n", self._start + self.pos, self._start + self.buffer_end)
            if nl >= 0:
                start = self.pos
                self.pos = nl - self._start + 1
                return start, nl - self._start
        start = max(self.pos, self.buffer_end)
        end = self._line_end(start, MAX_LINE)
        self.pos = self.buffer_end = end + 1
        return start, end

    def _bytes(self, at: int, n: int) -> bytes:
        return bytes(self._buf[self._start + at : self._start + at + n])

    def read_op(self) -> tuple[int, object, int]:
        op_pos = self.pos
        code = self._bytes(self._take(1, op_pos), 1)[0]
        kind = _ARG_KIND.get(code)
        if kind is None:
            raise ArtifactFormatError(f"invalid pickle opcode 0x{code:02x}", op_pos)
        if kind == _NONE:
            return code, None, op_pos
        if kind == _U1:
            return code, self._bytes(self._take(1, op_pos), 1)[0], op_pos
        if kind == _COUNTED_U1:
            n = self._bytes(self._take(1, op_pos), 1)[0]
            at = self._take(n, op_pos)
            return code, self._payload(code, self._start + at, at, n), op_pos
        width = _WIDTH.get(kind)
        if width is not None:
            raw = self._bytes(self._take(width, op_pos), width)
            if kind == _F8:
                return code, struct.unpack(">d", raw)[0], op_pos
            if kind in _COUNTED:
                n = int.from_bytes(raw, "little", signed=kind == _COUNTED_I4)
                if n < 0:
                    raise ArtifactFormatError("negative byte count", op_pos)
                at = self._take(n, op_pos)
                return code, self._payload(code, self._start + at, at, n), op_pos
            if code == OP.FRAME:
                self._frame(int.from_bytes(raw, "little"), op_pos)
            return code, int.from_bytes(raw, "little", signed=kind == _I4), op_pos
        if kind in (_LONG1, _LONG4):
            width = 1 if kind == _LONG1 else 4
            n = int.from_bytes(self._bytes(self._take(width, op_pos), width), "little",
                               signed=kind == _LONG4)  # fmt: skip
            if n < 0:
                raise ArtifactFormatError("negative LONG size", op_pos)
            at = self._take(n, op_pos)
            if n > 4096:
                return code, Span(at, n, "long"), op_pos
            return code, int.from_bytes(self._bytes(at, n), "little", signed=True), op_pos
        if kind == _TWO_LINES:
            lines = []
            for _ in range(2):
                start, nl = self._take_line(op_pos)
                lines.append(self._bytes(start, nl - start))
            if not lines[0] or not lines[1]:
                raise ArtifactFormatError("empty global name line", op_pos)
            try:
                return code, (lines[0].decode("utf-8"), lines[1].decode("utf-8")), op_pos
            except UnicodeDecodeError:
                raise ArtifactFormatError("global name is not UTF-8", op_pos) from None
        start, nl = self._take_line(op_pos)
        if nl - start > MAX_INLINE_STR and kind in (_LINE_STRING, _LINE_UNICODE, _LINE_RAW):
            return code, Span(start, nl - start, "line"), op_pos
        return code, _decode_line(kind, self._bytes(start, nl - start), op_pos), op_pos

    def _frame(self, length: int, op_pos: int) -> None:
        """``load_frame``: the frame is read into the buffer unless it is there already."""
        if self.pos + length <= self.buffer_end:
            return
        start = max(self.pos, self.buffer_end)
        if self._start + start + length > self._end:
            raise ArtifactFormatError("FRAME runs past the end of the data", op_pos)
        self.pos = start
        self.buffer_end = start + length


# The line-argument parsers follow CPython's C unpickler (Modules/_pickle.c),
# which is what pickle.load and torch.load run: C string functions stop at the
# first NUL, INT goes through strtol(base 0), GET/PUT through base 10. Being as
# lenient as CPython matters: where openward stopped parsing and CPython did
# not, the rest of the stream would be invisible. Python's own unpickler
# (pickle._Unpickler: joblib.load, pandas.read_pickle's fallback) is more
# lenient in one place, FLOAT, so a line either of them reads is read.

_STRTOL = re.compile(rb"[ \t\n\r\f\v]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
# PyOS_string_to_double: no leading whitespace, no underscores, no hex.
_STRTOD = re.compile(
    rb"[+-]?(?:inf(?:inity)?|nan|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)", re.IGNORECASE
)
_LONG_MIN: Final = -(1 << 63)
_LONG_MAX: Final = (1 << 63) - 1


def _c_string(line: bytes) -> bytes:
    nul = line.find(b"\0")
    return line if nul < 0 else line[:nul]


def _py_long(text: bytes, base: int) -> int:
    """``PyLong_FromString`` on a C string: whitespace and underscores allowed."""
    return int(_c_string(text).strip(), base)


def _strtol(line: bytes) -> int | None:
    """C's ``strtol(s, &end, 0)`` as ``load_int`` uses it: the value when the
    conversion stops at the end of the line or a NUL, None when ``load_int``
    falls back to ``PyLong_FromString`` (junk after the digits, or overflow)."""
    m = _STRTOL.match(line)
    if m is None:
        # No digits: strtol returns 0 with end = start, which load_int accepts
        # when the line starts with a NUL (an empty C string).
        return 0 if line[:1] == b"\0" else None
    if line[m.end() : m.end() + 1] not in (b"", b"\0"):
        return None
    digits = m.group(2)
    if digits[:2] in (b"0x", b"0X"):
        value = int(digits[2:], 16)
    elif digits[:1] == b"0":
        value = int(digits, 8)
    else:
        value = int(digits)
    if m.group(1) == b"-":
        value = -value
    return value if _LONG_MIN <= value <= _LONG_MAX else None  # ERANGE: fall back


def _decode_line(kind: int, line: bytes, pos: int) -> object:
    try:
        if kind == _LINE_INT:
            value = _strtol(line)
            if value is None:
                return _py_long(line, 0)
            if len(line) == 2 and value in (0, 1):
                return bool(value)
            return value
        if kind == _LINE_MEMO:
            index = _py_long(line, 10)
            if not _LONG_MIN <= index <= _LONG_MAX:
                raise ValueError(line)  # PyLong_AsSsize_t overflows
            return index
        if kind == _LINE_LONG:
            return _py_long(line[:-1] if line.endswith(b"L") else line, 0)
        if kind == _LINE_FLOAT:
            m = _STRTOD.match(line)
            if m is not None and line[m.end() : m.end() + 1] in (b"", b"\0"):
                number = float(m.group(0))
                if not (math.isinf(number) and b"n" not in m.group(0).lower()):
                    return number
            # The C unpickler refuses the line (or overflows); Python's own
            # unpickler, which joblib.load and pandas' fallback run, reads it with
            # float(), which also takes spaces, underscores and '1e999'. What
            # either unpickler reads on from is read on from here.
            return float(line)
        if kind == _LINE_STRING:
            if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b"'", b'"'):
                return codecs.escape_decode(line[1:-1])[0].decode("latin-1")
            raise ArtifactFormatError("STRING argument is not quoted", pos)
        if kind == _LINE_UNICODE:
            return line.decode("raw-unicode-escape")
        return line.decode("ascii")  # PERSID: PyUnicode_DecodeASCII, strict
    except (ValueError, UnicodeDecodeError):
        raise ArtifactFormatError("malformed line argument", pos) from None
