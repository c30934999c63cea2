"""A minimal FlatBuffers table reader, for TensorFlow Lite models.

Only what locating operator codes, their options and metadata needs: the
root table, vtables, tables, vectors of tables, strings and bytes, each
offset checked against the buffer.
"""

from __future__ import annotations

import struct

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError

__all__ = ["Table", "flexbuffer_strings", "root_table"]


class Table:
    def __init__(self, blob: Blob, pos: int) -> None:
        self.blob = blob
        self.pos = pos
        soffset = _i32(blob, pos)
        self.vtable = pos - soffset
        vsize = _u16(blob, self.vtable)
        if vsize < 4 or self.vtable + vsize > blob.size:
            raise ArtifactFormatError("invalid vtable", self.vtable)
        self.vsize = vsize

    def _field(self, index: int) -> int | None:
        slot = 4 + 2 * index
        if slot + 2 > self.vsize:
            return None
        offset = _u16(self.blob, self.vtable + slot)
        return None if offset == 0 else self.pos + offset

    def scalar(self, index: int, fmt: str, default: int = 0) -> int:
        at = self._field(index)
        if at is None:
            return default
        size = struct.calcsize(fmt)
        data = self.blob.read(at, size)
        if len(data) < size:
            raise ArtifactFormatError("scalar runs past the end", at)
        return int(struct.unpack(fmt, data)[0])

    def _indirect(self, index: int) -> int | None:
        at = self._field(index)
        if at is None:
            return None
        return at + _u32(self.blob, at)

    def string(self, index: int) -> str | None:
        at = self._indirect(index)
        if at is None:
            return None
        length = _u32(self.blob, at)
        if at + 4 + length > self.blob.size:
            raise ArtifactFormatError("string runs past the end", at)
        return self.blob.read(at + 4, length).decode("utf-8", "replace")

    def ubytes(self, index: int, limit: int = 1 << 20) -> bytes:
        """A ``[ubyte]`` vector, cut to ``limit`` bytes."""
        at = self._indirect(index)
        if at is None:
            return b""
        length = _u32(self.blob, at)
        if at + 4 + length > self.blob.size:
            raise ArtifactFormatError("byte vector runs past the end", at)
        return self.blob.read(at + 4, min(length, limit))

    def table(self, index: int) -> Table | None:
        at = self._indirect(index)
        return None if at is None else Table(self.blob, at)

    def vector_span(self, index: int) -> tuple[int, int] | None:
        """``(offset, length)`` of a vector of bytes, checked against the buffer."""
        at = self._indirect(index)
        if at is None:
            return None
        length = _u32(self.blob, at)
        if at + 4 + length > self.blob.size:
            raise ArtifactFormatError("vector runs past the end", at)
        return at + 4, length

    def tables(self, index: int, limit: int = 1_000_000) -> list[Table]:
        at = self._indirect(index)
        if at is None:
            return []
        count = _u32(self.blob, at)
        if count > limit or at + 4 + 4 * count > self.blob.size:
            raise ArtifactFormatError(f"vector of {count} tables does not fit", at)
        out = []
        for i in range(count):
            slot = at + 4 + 4 * i
            out.append(Table(self.blob, slot + _u32(self.blob, slot)))
        return out


def _read(blob: Blob, pos: int, fmt: str) -> int:
    size = struct.calcsize(fmt)
    data = blob.read(pos, size) if pos >= 0 else b""
    if len(data) < size:
        raise ArtifactFormatError("offset outside the buffer", pos)
    return int(struct.unpack(fmt, data)[0])


def _u16(blob: Blob, pos: int) -> int:
    return _read(blob, pos, "<H")


def _u32(blob: Blob, pos: int) -> int:
    return _read(blob, pos, "<I")


def _i32(blob: Blob, pos: int) -> int:
    return _read(blob, pos, "<i")


def root_table(blob: Blob) -> Table:
    return Table(blob, _u32(blob, 0))


_FBT_KEY, _FBT_STRING, _FBT_VECTOR = 4, 5, 10


def _uint(data: bytes, pos: int, width: int) -> int:
    if pos < 0 or pos + width > len(data):
        raise ArtifactFormatError("flexbuffer offset out of range", pos)
    return int.from_bytes(data[pos : pos + width], "little")


def flexbuffer_strings(data: bytes) -> list[bytes | None]:
    """The elements of a FlexBuffer whose root is an untyped vector, strings as bytes
    (other element types as None).

    TFLite's Flex delegate stores ``[op name, serialised NodeDef]`` so
    (``tensorflow/lite/delegates/flex/kernel.cc``). FlexBuffers are read from
    the end: the last byte is the root's width, the one before its packed type
    (type << 2 | log2 of the width of what it points to).
    """
    if len(data) < 3:
        raise ArtifactFormatError("flexbuffer too short", 0)
    root_width, packed = data[-1], data[-2]
    if root_width not in (1, 2, 4, 8) or packed >> 2 != _FBT_VECTOR:
        raise ArtifactFormatError("flexbuffer root is not a vector", len(data) - 2)
    width = 1 << (packed & 3)
    root_at = len(data) - 2 - root_width
    vector = root_at - _uint(data, root_at, root_width)
    size = _uint(data, vector - width, width)
    if size > (len(data) - vector) // (width + 1):
        raise ArtifactFormatError("flexbuffer vector size out of range", vector)
    out: list[bytes | None] = []
    for i in range(size):
        at = vector + i * width
        elem = _uint(data, vector + size * width + i, 1)
        if elem >> 2 not in (_FBT_STRING, _FBT_KEY):
            out.append(None)
            continue
        target = at - _uint(data, at, width)
        if elem >> 2 == _FBT_KEY:
            end = data.find(b"\x00", target)
            out.append(data[target:end] if target >= 0 and end >= 0 else None)
            continue
        str_width = 1 << (elem & 3)
        length = _uint(data, target - str_width, str_width)
        if target < 0 or target + length > len(data):
            raise ArtifactFormatError("flexbuffer string out of range", target)
        out.append(data[target : target + length])
    return out
