"""The protobuf wire format, read without a schema.

TensorFlow's SavedModel and ONNX are protobufs; reading the fields that
matter (operation names, tensor shapes) needs neither TensorFlow nor the
``onnx`` package and its generated classes, only the wire format: tags,
varints and length-delimited fields, every length checked against the
bytes that remain.

The reader accepts what protobuf's own parsers accept and rejects what
they reject, where it can tell: over-long varints (up to 10 bytes) are
read, unknown groups (wire types 3 and 4, still legal on the wire) are
skipped as protobuf skips them, and a length or a group that runs past its
message is an error. A reader that gave up where protobuf carries on would
be blind to whatever follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from openward.artifacts.blob import Blob, Buffer
from openward.artifacts.errors import ArtifactFormatError

__all__ = ["fields", "packed_varints", "string_field"]

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
MAX_GROUP_DEPTH: Final = 100
"""Nesting of unknown groups; protobuf's own recursion limit is 100."""


def _varint(buf: Buffer, pos: int, end: int, base: int = 0) -> tuple[int, int]:
    """A varint at absolute ``pos`` of ``buf``, ending before absolute ``end``
    (errors name the offset relative to ``base``)."""
    value = 0
    for shift in range(0, 70, 7):
        if pos >= end:
            raise ArtifactFormatError("varint runs past the end", pos - base)
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise ArtifactFormatError("varint longer than 10 bytes", pos - base)


def fields(
    blob: Blob, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, int, int | tuple[int, int]]]:
    """``(field number, wire type, value)`` of the message in ``[start, end)``.

    Varints are their value, fixed-width fields their offset, length-delimited
    fields their ``(start, end)``; offsets are relative to ``blob``. Groups are
    skipped. This is the inner loop of every protobuf reader here, so single-byte
    varints (nearly all tags and lengths) take a short path.
    """
    buf = blob.buffer
    base = blob.start
    pos = base + start
    stop = blob.end if end is None else base + end
    if stop > blob.end:
        stop = blob.end
    while pos < stop:
        byte = buf[pos]
        if byte < 0x80:
            key = byte
            pos += 1
        else:
            key, pos = _varint(buf, pos, stop, base)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ArtifactFormatError("field number 0", pos - base)
        if wire == VARINT:
            if pos < stop and buf[pos] < 0x80:
                value = buf[pos]
                pos += 1
            else:
                value, pos = _varint(buf, pos, stop, base)
            yield number, wire, value
        elif wire == LENGTH:
            if pos < stop and buf[pos] < 0x80:
                length = buf[pos]
                pos += 1
            else:
                length, pos = _varint(buf, pos, stop, base)
            if length > stop - pos:
                raise ArtifactFormatError(
                    f"field of {length} bytes runs past its message", pos - base
                )
            yield number, wire, (pos - base, pos - base + length)
            pos += length
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if pos + size > stop:
                raise ArtifactFormatError("fixed-width field runs past the end", pos - base)
            yield number, wire, pos - base
            pos += size
        elif wire == START_GROUP:
            pos = _skip_group(buf, pos, stop, number, base)
        else:
            raise ArtifactFormatError(f"unexpected wire type {wire}", pos - base)


def _skip_group(buf: Buffer, pos: int, stop: int, number: int, base: int) -> int:
    """Skip an unknown group that opened with field ``number``; returns where it ends."""
    open_groups = [number]
    while open_groups:
        if pos >= stop:
            raise ArtifactFormatError("group runs past its message", pos - base)
        key, pos = _varint(buf, pos, stop, base)
        inner, wire = key >> 3, key & 7
        if inner == 0:
            raise ArtifactFormatError("field number 0", pos - base)
        if wire == VARINT:
            _, pos = _varint(buf, pos, stop, base)
        elif wire == LENGTH:
            length, pos = _varint(buf, pos, stop, base)
            if length > stop - pos:
                raise ArtifactFormatError("field runs past its group", pos - base)
            pos += length
        elif wire in (FIXED64, FIXED32):
            pos += 8 if wire == FIXED64 else 4
            if pos > stop:
                raise ArtifactFormatError("fixed-width field runs past the end", pos - base)
        elif wire == START_GROUP:
            if len(open_groups) >= MAX_GROUP_DEPTH:
                raise ArtifactFormatError("groups nested too deeply", pos - base)
            open_groups.append(inner)
        elif wire == END_GROUP:
            if open_groups.pop() != inner:
                raise ArtifactFormatError("group closed by another field's end tag", pos - base)
        else:
            raise ArtifactFormatError(f"unexpected wire type {wire}", pos - base)
    return pos


def packed_varints(blob: Blob, span: tuple[int, int]) -> list[int]:
    """The varints of a packed repeated field (raw unsigned values)."""
    buf = blob.buffer
    base = blob.start
    pos, stop = base + span[0], min(blob.end, base + span[1])
    out: list[int] = []
    while pos < stop:
        byte = buf[pos]
        if byte < 0x80:
            out.append(byte)
            pos += 1
        else:
            value, pos = _varint(buf, pos, stop, base)
            out.append(value)
    return out


def string_field(blob: Blob, span: tuple[int, int]) -> str:
    return blob.read(span[0], span[1] - span[0]).decode("utf-8", "replace")
