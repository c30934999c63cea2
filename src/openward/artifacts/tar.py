"""Tar archives read as data: member headers and byte ranges, nothing extracted.

``tarfile`` parses the headers (it handles GNU, PAX and v7 dialects well);
this module turns them into windows over the archive's own bytes and never
writes a member to disk.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError

__all__ = ["BlobReader", "TarMember", "iter_tar_members"]


class BlobReader(io.RawIOBase):
    """A read-only, seekable file object over a :class:`Blob`."""

    def __init__(self, blob: Blob) -> None:
        super().__init__()
        self._blob = blob
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._blob.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._blob.read(self._pos, len(buffer))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


@dataclass(frozen=True)
class TarMember:
    """One tar header and where its data lies."""

    name: str
    kind: str
    """``file``, ``dir``, ``symlink``, ``hardlink``, ``device``, ``fifo`` or ``sparse``."""
    size: int
    data: Blob | None
    """The member's bytes (regular files only)."""
    link_target: str | None
    header_offset: int
    data_end: int = 0
    """Offset just past the member's data in the archive (its header's end when empty)."""


def iter_tar_members(blob: Blob, *, max_sparse_bytes: int = 256 << 20) -> Iterator[TarMember]:
    """Yield members in archive order; raises :class:`ArtifactFormatError` on damage.

    Sparse members (holes read as zeros) are materialised when they expand to
    at most ``max_sparse_bytes``; larger ones come without data.
    """
    try:
        tf = tarfile.open(fileobj=BlobReader(blob), mode="r:")  # noqa: SIM115
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as exc:
        raise ArtifactFormatError(f"not a readable tar archive: {exc}") from None
    with tf:
        while True:
            try:
                info = tf.next()
            except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as exc:
                raise ArtifactFormatError(f"damaged tar header: {exc}", tf.offset) from None
            if info is None:
                return
            member = _member(blob, info)
            if member.kind == "sparse" and info.size <= max_sparse_bytes:
                member = _sparse_member(tf, info, member)
            yield member


def _sparse_member(tf: tarfile.TarFile, info: tarfile.TarInfo, member: TarMember) -> TarMember:
    try:
        fh = tf.extractfile(info)
        data = fh.read(info.size) if fh is not None else b""
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise ArtifactFormatError(
            f"sparse member {info.name!r} is damaged: {exc}", info.offset
        ) from None
    return TarMember(member.name, "file", member.size, Blob.of(data), None, member.header_offset)


def _member(blob: Blob, info: tarfile.TarInfo) -> TarMember:
    if info.issparse():
        kind = "sparse"
    elif info.isreg():
        kind = "file"
    elif info.isdir():
        kind = "dir"
    elif info.issym():
        kind = "symlink"
    elif info.islnk():
        kind = "hardlink"
    elif info.isfifo():
        kind = "fifo"
    else:
        kind = "device"
    data = None
    if kind == "file":
        if info.offset_data + info.size > blob.size:
            raise ArtifactFormatError(f"member {info.name!r} runs past the end", info.offset)
        data = blob.window(info.offset_data, info.size)
    link = info.linkname if kind in ("symlink", "hardlink") else None
    end = info.offset_data + (info.size if kind in ("file", "sparse") else 0)
    return TarMember(info.name, kind, info.size, data, link, info.offset, end)
