"""Tar archives, including PyTorch's oldest (tar-based) checkpoint format.

Members are windows over the archive and are scanned by content. A PyTorch
legacy tar (members ``sys_info``, ``pickle``, ``storages``, ``tensors``) has
pickles interleaved with raw data inside ``storages`` and ``tensors``; those
two members are walked record by record, as ``torch.load`` reads them, so a
payload in the tenth storage header is found as surely as one in the first.
"""

from __future__ import annotations

import struct
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError
from openward.artifacts.tar import TarMember, iter_tar_members
from openward.artifacts.zip import find_end_of_central_directory
from openward.scanning.context import Location, ScanContext
from openward.scanning.formats.archive_names import link_escapes, unsafe_member_name
from openward.scanning.formats.pickle import report_stream, run_stream, scan_trailing
from openward.scanning.formats.torch_legacy import storage_element_size
from openward.scanning.pickle_vm import render

__all__ = ["scan_tar"]

# What torch.load's legacy_load reads; it never looks at sys_info.
_TORCH_TAR_MEMBERS: Final = frozenset({"pickle", "storages", "tensors"})
_MAX_RECORDS: Final = 10_000_000


def scan_tar(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str:
    members: list[TarMember] = []
    try:
        sparse_budget = max(0, min(1 << 30, ctx.limits.max_expanded_bytes - ctx.expanded))
        for member in iter_tar_members(blob, max_sparse_bytes=sparse_budget):
            if len(members) >= ctx.limits.max_members:
                ctx.add(
                    "scan-limit-reached",
                    loc,
                    member.header_offset,
                    f"archive has more than {ctx.limits.max_members} members (setting max_members)",
                )
                break
            members.append(member)
            ctx.tick()
    except ArtifactFormatError as exc:
        ctx.add("archive-malformed", loc, exc.offset, exc.message)
    names = {m.name for m in members}
    torch_tar = names >= _TORCH_TAR_MEMBERS
    for member in members:
        if ctx.timed_out:
            break
        mloc = (*loc, member.name)
        why = unsafe_member_name(member.name)
        if why is not None:
            ctx.add(
                "archive-path-traversal",
                mloc,
                member.header_offset,
                f"member name {member.name!r} {why}",
            )
        if member.kind in ("symlink", "hardlink"):
            target = member.link_target or ""
            if link_escapes(member.name, target):
                ctx.add(
                    "archive-link-escape",
                    mloc,
                    member.header_offset,
                    f"{member.kind} to {target!r}",
                )
            continue
        if member.kind in ("device", "fifo"):
            ctx.add("file-special", mloc, member.header_offset, f"{member.kind} member")
            continue
        if member.data is None:
            if member.kind == "sparse":
                ctx.add(
                    "scan-limit-reached",
                    mloc,
                    member.header_offset,
                    f"sparse member of {member.size} bytes not expanded "
                    "(setting max_expanded_bytes)",
                )
            continue
        if torch_tar and member.name in ("storages", "tensors"):
            ctx.members += 1
            _walk_records(ctx, member.data, mloc, member.name)
            continue
        ctx.scan(member.data, mloc, member.name)
    _appended_zip(ctx, blob, loc, name, members)
    return "torch-legacy-tar" if torch_tar else "tar"


def _appended_zip(
    ctx: ScanContext, blob: Blob, loc: Location, name: str, members: list[TarMember]
) -> None:
    """A zip after the tar's last member: zip readers (Keras's zipfile, which finds
    the archive from its end) open it, tar readers never see it. A zip that is
    the last member is that member, already analysed."""
    if ctx.timed_out or blob.size < 22 or find_end_of_central_directory(blob) < 0:
        return
    end = max((m.data_end for m in members), default=0)
    from openward.scanning.formats.zip import scan_zip_view

    scan_zip_view(ctx, blob, loc, name, min_start=end)


def _walk_records(ctx: ScanContext, blob: Blob, loc: Location, which: str) -> None:
    """``storages``/``tensors``: a count pickle, then per record a pickle and raw bytes."""
    res = run_stream(ctx, blob, 0)
    report_stream(ctx, blob, loc, res)
    if not res.complete:
        return
    count = res.result
    if not isinstance(count, int) or count < 0 or count > _MAX_RECORDS:
        ctx.add(
            "torch-legacy-malformed",
            loc,
            0,
            f"{which} count is {render(count, blob)}, not a record count",
        )
        return
    pos = res.end
    for i in range(count):
        rec = run_stream(ctx, blob, pos)
        report_stream(ctx, blob, loc, rec)
        if not rec.complete:
            return
        pos = rec.end
        try:
            pos = _skip_raw(blob, pos, which, rec.result)
        except ArtifactFormatError as exc:
            ctx.add("torch-legacy-malformed", loc, exc.offset, f"{which} record {i}: {exc.message}")
            return
    if which == "storages" and pos < blob.size:
        # torch.load then unpickles the storage views: one more pickle.
        views = run_stream(ctx, blob, pos)
        report_stream(ctx, blob, loc, views)
        if not views.complete:
            return
        pos = views.end
    scan_trailing(ctx, blob, loc, pos, f"{count} {which} records")


def _skip_raw(blob: Blob, pos: int, which: str, record: object) -> int:
    if which == "storages":
        # (key, location, storage_type), then int64 element count and the elements
        elsize = (
            storage_element_size(record[2])
            if isinstance(record, tuple) and len(record) == 3
            else None
        )
        if elsize is None:
            raise ArtifactFormatError("record is not (key, location, storage type)", pos)
        head = blob.read(pos, 8)
        if len(head) < 8:
            raise ArtifactFormatError("truncated storage size", pos)
        (numel,) = struct.unpack("<q", head)
        end = pos + 8 + numel * elsize
    else:
        # (key, storage_id, tensor type), then int32 ndim, 4 pad bytes, sizes, strides, offset
        head = blob.read(pos, 4)
        if len(head) < 4:
            raise ArtifactFormatError("truncated tensor header", pos)
        (ndim,) = struct.unpack("<i", head)
        end = pos + 8 + 16 * ndim + 8
        numel = ndim
    if numel < 0 or end > blob.size:
        raise ArtifactFormatError("raw data runs past the end", pos)
    return int(end)
