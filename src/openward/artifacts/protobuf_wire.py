"""The protobuf wire format, read without a schema.

TensorFlow's SavedModel and ONNX are protobufs; reading the fields that
matter (operation names, tensor shapes) needs neither TensorFlow nor the
``onnx`` package and its generated classes, only the wire format: tags,
varints, length-delimited fields and groups, every length checked against
the bytes that remain. The reader accepts what
protobuf's own parsers accept (upb, which ``onnx`` and TensorFlow's Python
use): varints of up to ten bytes, over-long encodings included, values
wrapping at 64 bits; tags and lengths of up to five bytes (tags below
2**32, lengths below 2**31); groups, whose end tag must match.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError

__all__ = [
    "FIXED32",
    "FIXED64",
    "GROUP",
    "LENGTH",
    "VARINT",
    "fields",
    "packed_varints",
    "string_field",
]

VARINT, FIXED64, LENGTH, GROUP, _END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
_U64: Final = (1 << 64) - 1
MAX_GROUP_DEPTH: Final = 100
"""protobuf's default recursion limit; deeper groups are refused by its parsers too."""


def _varint(blob: Blob, pos: int, end: int) -> tuple[int, int]:
    if pos < end:
        first = blob.buffer[blob.start + pos]
        if first < 0x80:
            return first, pos + 1
    value = 0
    for shift in range(0, 70, 7):
        if pos >= end:
            raise ArtifactFormatError("varint runs past the end", pos)
        byte = blob.buffer[blob.start + pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value & _U64, pos
    raise ArtifactFormatError("varint longer than 10 bytes", pos)


def _key(blob: Blob, pos: int, end: int, *, in_group: bool = False) -> tuple[int, int, int]:
    # A tag is a varint of at most five bytes, below 2**32, with a field number
    # (upb lets a field number 0 through inside an unknown group, so does this).
    key, after = _varint(blob, pos, end)
    number = key >> 3
    if (number == 0 and not in_group) or key > 0xFFFFFFFF or after - pos > 5:
        raise ArtifactFormatError(f"invalid tag for field {number}", pos)
    return number, key & 7, after


def _size(blob: Blob, pos: int, end: int) -> tuple[int, int]:
    # A length is a varint of at most five bytes, below 2**31 - 1.
    length, after = _varint(blob, pos, end)
    if after - pos > 5 or length >= 2**31 - 1:
        raise ArtifactFormatError("invalid length", pos)
    if length > end - after:
        raise ArtifactFormatError(f"field of {length} bytes runs past its message", after)
    return length, after


def _skip_value(blob: Blob, wire: int, pos: int, end: int) -> int:
    """Offset after the value of a field of ``wire`` type starting at ``pos``."""
    if wire == VARINT:
        return _varint(blob, pos, end)[1]
    if wire == LENGTH:
        length, pos = _size(blob, pos, end)
        return pos + length
    if wire in (FIXED64, FIXED32):
        size = 8 if wire == FIXED64 else 4
        if pos + size > end:
            raise ArtifactFormatError("fixed-width field runs past the end", pos)
        return pos + size
    raise ArtifactFormatError(f"unsupported wire type {wire}", pos)


def _group_end(blob: Blob, number: int, pos: int, end: int) -> tuple[int, int]:
    """(end of the group's content, offset after its end tag) for a group opened
    with field ``number``; nested groups are followed, up to MAX_GROUP_DEPTH."""
    stack = [number]
    while pos < end:
        inner, wire, after = _key(blob, pos, end, in_group=True)
        if wire == GROUP:
            if len(stack) >= MAX_GROUP_DEPTH:
                raise ArtifactFormatError("groups nested too deeply", pos)
            stack.append(inner)
            pos = after
        elif wire == _END_GROUP:
            if inner != stack.pop():
                raise ArtifactFormatError("end-group tag does not match its group", pos)
            if not stack:
                return pos, after
            pos = after
        else:
            pos = _skip_value(blob, wire, after, end)
    raise ArtifactFormatError("group runs past the end of its message", pos)


def fields(
    blob: Blob, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, int, int | tuple[int, int]]]:
    """``(field number, wire type, value)``; length-delimited values and groups
    are ``(start, end)`` spans, fixed-width values their offset.

    This is the inner loop of every protobuf reader here, so single-byte tags,
    varints and lengths (nearly all of them) take a short path; everything
    else goes through the checked readers above.
    """
    buf = blob.buffer
    base = blob.start
    pos = start
    end = blob.size if end is None else min(end, blob.size)
    while pos < end:
        key = buf[base + pos]
        if 0x08 <= key < 0x80:  # a one-byte tag with a field number
            number, wire = key >> 3, key & 7
            pos += 1
        else:
            number, wire, pos = _key(blob, pos, end)
        if wire == VARINT:
            if pos < end and buf[base + pos] < 0x80:
                value = buf[base + pos]
                pos += 1
            else:
                value, pos = _varint(blob, pos, end)
            yield number, wire, value
        elif wire == LENGTH:
            if pos < end and buf[base + pos] < 0x80:
                length = buf[base + pos]
                pos += 1
                if length > end - pos:
                    raise ArtifactFormatError(f"field of {length} bytes runs past its message", pos)
            else:
                length, pos = _size(blob, pos, end)
            yield number, wire, (pos, pos + length)
            pos += length
        elif wire in (FIXED64, FIXED32):
            after = _skip_value(blob, wire, pos, end)
            yield number, wire, pos
            pos = after
        elif wire == GROUP:
            content_end, after = _group_end(blob, number, pos, end)
            yield number, wire, (pos, content_end)
            pos = after
        else:
            raise ArtifactFormatError("end-group tag outside a group", pos)


def packed_varints(blob: Blob, span: tuple[int, int]) -> list[int]:
    """The varints of a packed repeated field (raw unsigned values)."""
    buf = blob.buffer
    base = blob.start
    pos, stop = span[0], min(blob.size, span[1])
    out: list[int] = []
    while pos < stop:
        byte = buf[base + pos]
        if byte < 0x80:
            out.append(byte)
            pos += 1
        else:
            value, pos = _varint(blob, pos, stop)
            out.append(value)
    return out


def string_field(blob: Blob, span: tuple[int, int]) -> str:
    return blob.read(span[0], span[1] - span[0]).decode("utf-8", "replace")
