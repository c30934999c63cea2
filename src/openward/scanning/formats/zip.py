"""Zip archives: PyTorch checkpoints, ``.npz``, and any zip around a model.

Every member is detected by content and scanned, except the raw tensor
storages of a PyTorch checkpoint (``<name>/data/<key>``), which ``torch.load``
only ever copies into tensors; skipping them keeps a multi-gigabyte
checkpoint's scan proportional to its pickles. Header disagreements, CRC
mismatches, duplicate names, overlapping members and bytes that no member
accounts for are reported, and the data a lenient loader would read is
scanned regardless.
"""

from __future__ import annotations

import itertools
import re
import zlib
from typing import Final

from openward.artifacts.blob import Blob, all_zero
from openward.artifacts.compression import decompress
from openward.artifacts.detection import Format, detect_format
from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError
from openward.artifacts.tflite import read_tflite_metadata
from openward.artifacts.zip import (
    METHOD_NAMES,
    TooManyEntries,
    ZipDirectory,
    ZipEntry,
    read_zip_directory,
)
from openward.scanning.context import RATIO_FLOOR, Location, ScanContext
from openward.scanning.formats.archive_names import link_escapes, unsafe_member_name
from openward.scanning.formats.pickle import scan_pickle_streams

__all__ = ["scan_zip", "scan_zip_view"]

_DECODERS: Final[dict[int, str]] = {8: "deflate", 12: "bzip2", 14: "lzma-raw", 93: "zstd", 95: "xz"}
_CRC_LIMIT: Final = 64 << 20
_MAX_GAPS: Final = 16
_DATA_LIKE: Final = frozenset({Format.UNKNOWN, Format.TEXT, Format.JSON, Format.EMPTY})
_TORCH_STORAGE = re.compile(r"^(?P<prefix>(?:[^/]+/)*)data/[^/]+$")


def _read_views(
    ctx: ScanContext, blob: Blob, loc: Location
) -> tuple[dict[str, ZipDirectory], dict[str, ArtifactFormatError]] | None:
    views: dict[str, ZipDirectory] = {}
    errors: dict[str, ArtifactFormatError] = {}
    for view in ("miniz", "zipfile"):
        try:
            views[view] = read_zip_directory(
                blob, max_entries=ctx.limits.max_members, on_entry=ctx.tick, view=view
            )
        except TooManyEntries as exc:
            ctx.add(
                "scan-limit-reached",
                loc,
                None,
                f"archive has more than {exc.count} members (setting max_members)",
            )
            return None
        except ArtifactFormatError as exc:
            errors[view] = exc
    return views, errors


def _layout(zd: ZipDirectory) -> list[tuple[str, int | None]]:
    return [(e.name, e.data_offset) for e in zd.entries]


def scan_zip(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str:
    """Scan the archive as PyTorch's reader (miniz) sees it, and as Python's
    zipfile sees it when that differs."""
    del name
    read = _read_views(ctx, blob, loc)
    if read is None:
        return "zip"
    views, errors = read
    if not views:
        exc = errors["miniz"]
        ctx.add("archive-malformed", loc, exc.offset, exc.message)
        return "zip"
    seen: set[tuple[int | None, int]] = set()
    primary = views.get("miniz") or views["zipfile"]
    label = _scan_directory(ctx, blob, loc, primary, skip_prefix=False, seen=seen)
    other = views.get("zipfile")
    if other is not None and other is not primary and _layout(other) != _layout(primary):
        ctx.add(
            "archive-tampered",
            loc,
            other.central_offset,
            f"PyTorch's zip reader sees {len(primary.entries)} member(s), Python's zipfile "
            f"{len(other.entries)} at other offsets; both views are analysed",
        )
        _scan_directory(ctx, blob, loc, other, skip_prefix=False, seen=seen)
    for view, exc in errors.items():
        reader = "PyTorch's zip reader" if view == "miniz" else "Python's zipfile"
        ctx.add("archive-malformed", loc, exc.offset, f"{reader} cannot read it: {exc.message}")
    return label


def scan_zip_view(
    ctx: ScanContext, blob: Blob, loc: Location, name: str, *, host: frozenset[str] | set[str]
) -> None:
    """Scan the zip found at the end of a file that is something else first
    (``host`` holds what it was detected and analysed as)."""
    del name
    try:
        zd = read_zip_directory(
            blob, max_entries=ctx.limits.max_members, on_entry=ctx.tick, view="zipfile"
        )
    except ArtifactFormatError:
        return  # an end-record signature by chance, not a zip
    if not zd.entries:
        return
    start = min(e.header_offset for e in zd.entries)
    if not (Format.TFLITE in host and _is_tflite_metadata_zip(blob, zd, start)):
        ctx.add(
            "polyglot-file",
            loc,
            start,
            f"a zip archive of {len(zd.entries)} member(s) starts at byte {start}",
        )
    _scan_directory(ctx, blob, (*loc, "<zip view>"), zd, skip_prefix=True, seen=set())


def _is_tflite_metadata_zip(blob: Blob, zd: ZipDirectory, start: int) -> bool:
    """Whether the zip is the associated-files archive of TFLite metadata.

    What tflite_support's and MediaPipe's populators write: after the model
    (past its ``TFLITE_METADATA`` buffer), stored or deflated members that the
    metadata records by name, and nothing after the end record. Any other zip
    at the end of a model is a polyglot like any other.
    """
    meta = read_tflite_metadata(blob)
    return (
        meta is not None
        and start >= meta.end
        and zd.end == blob.size
        and all(
            e.name in meta.associated_files and e.method in (0, 8) and not e.problems
            for e in zd.entries
        )
    )


def _label(zd: ZipDirectory) -> tuple[str, set[str]]:
    files = [e.name for e in zd.entries if not e.is_dir]
    pkl_prefixes = {
        n[: -len("data.pkl")] for n in files if n == "data.pkl" or n.endswith("/data.pkl")
    }
    if pkl_prefixes:
        return "torch-zip", pkl_prefixes
    if files and all(n.endswith(".npy") for n in files):
        return "npz", set()
    if "config.json" in files and ("metadata.json" in files or "model.weights.h5" in files):
        return "keras", set()
    return "zip", set()


def _is_torch_storage(name: str, prefixes: set[str]) -> bool:
    m = _TORCH_STORAGE.match(name)
    return m is not None and m.group("prefix") in prefixes and not name.endswith(".pkl")


def _scan_directory(
    ctx: ScanContext,
    blob: Blob,
    loc: Location,
    zd: ZipDirectory,
    *,
    skip_prefix: bool,
    seen: set[tuple[int | None, int]],
) -> str:
    label, torch_prefixes = _label(zd)
    for problem in zd.problems:
        ctx.add("archive-malformed", loc, zd.central_offset, problem)
    _check_layout(ctx, blob, loc, zd, skip_prefix=skip_prefix)
    counts: dict[str, int] = {}
    for entry in zd.entries:
        counts[entry.name] = counts.get(entry.name, 0) + 1
    for dup, n in counts.items():
        if n > 1:
            ctx.add(
                "archive-tampered",
                (*loc, dup),
                None,
                f"{n} entries share this name; loaders disagree on which one they read",
            )
    allowed = _torchscript(ctx, blob, loc, zd) if torch_prefixes else set()
    with ctx.allowing(allowed):
        for entry in zd.entries:
            if ctx.timed_out:
                break
            key = (entry.data_offset, entry.compressed_size)
            if key in seen:
                continue  # the same bytes, already analysed through another view
            seen.add(key)
            # Members sharing a name are told apart by their place in the directory.
            shown = (
                entry.name if counts[entry.name] == 1 else f"{entry.name} [entry {entry.index + 1}]"
            )
            _scan_entry(ctx, blob, loc, entry, torch_prefixes, shown)
    return label


def _torchscript(ctx: ScanContext, blob: Blob, loc: Location, zd: ZipDirectory) -> set[str]:
    """Analyse a TorchScript archive's code first: it decides what its pickles may name."""
    from openward.scanning.formats.torchscript import (
        scan_torchscript_archive,
        torchscript_prefixes,
    )

    prefixes = torchscript_prefixes(e.name for e in zd.entries if not e.is_dir)
    if not prefixes:
        return set()
    members: list[tuple[str, Blob]] = []
    for entry in zd.entries:
        name = entry.name
        if entry.is_dir or entry.data_offset is None or entry.is_symlink:
            continue
        if not (name.endswith(".py") or name.rsplit("/", 1)[-1] == "bytecode.pkl"):
            continue
        try:
            data = _member_data(ctx, blob, (*loc, name), entry)
        except ArtifactLimitError as exc:
            ctx.limit_reached(exc, (*loc, name))
            continue
        if data is not None:
            members.append((name, data))
    return scan_torchscript_archive(ctx, loc, members, prefixes)


def _scan_entry(
    ctx: ScanContext,
    blob: Blob,
    loc: Location,
    entry: ZipEntry,
    torch_prefixes: set[str],
    shown: str,
) -> None:
    mloc = (*loc, shown)
    why = unsafe_member_name(entry.name)
    if why is not None:
        ctx.add(
            "archive-path-traversal", mloc, entry.header_offset, f"member name {entry.name!r} {why}"
        )
    if entry.problems:
        ctx.add("archive-tampered", mloc, entry.header_offset, "; ".join(entry.problems))
    if entry.is_dir or entry.data_offset is None:
        return
    if torch_prefixes and _is_torch_storage(entry.name, torch_prefixes) and entry.method == 0:
        # Raw tensor bytes: never parsed, unless they open like something else
        # (np.load of an .npz reads any member, whatever its name).
        head = Blob.of(blob.read(entry.data_offset, 1024))
        fmt = detect_format(head)
        if fmt in _DATA_LIKE:
            ctx.members += 1
            return
        if fmt in (Format.PICKLE, Format.PICKLE_CANDIDATE):
            ctx.members += 1
            raw = blob.window(entry.data_offset, entry.compressed_size)
            scan_pickle_streams(ctx, raw, (*loc, shown), candidate=True, probe=True)
            return
    if entry.encrypted:
        ctx.add(
            "archive-encrypted",
            mloc,
            entry.header_offset,
            f"member {entry.name!r} has the encryption flag set",
        )
    try:
        data = _member_data(ctx, blob, mloc, entry)
    except ArtifactLimitError as exc:
        ctx.limit_reached(exc, mloc)
        return
    if data is None:
        return
    if entry.is_symlink:
        target = data.head(4096).decode("utf-8", "replace")
        if link_escapes(entry.name, target):
            ctx.add(
                "archive-link-escape", mloc, entry.header_offset, f"symbolic link to {target!r}"
            )
        return
    ctx.scan(data, mloc, entry.name)


def _member_data(ctx: ScanContext, blob: Blob, mloc: Location, entry: ZipEntry) -> Blob | None:
    assert entry.data_offset is not None
    csize = min(entry.compressed_size, max(0, blob.size - entry.data_offset))
    raw = blob.window(entry.data_offset, csize)
    if entry.method == 0:
        if entry.uncompressed_size != entry.compressed_size:
            ctx.add(
                "archive-tampered",
                mloc,
                entry.header_offset,
                f"stored member declares {entry.uncompressed_size} bytes "
                f"but holds {entry.compressed_size}",
            )
        if raw.size <= _CRC_LIMIT:
            _check_crc(ctx, mloc, entry, raw)
        return raw
    fmt = _DECODERS.get(entry.method)
    if fmt is None:
        method = METHOD_NAMES.get(entry.method, f"method {entry.method}")
        ctx.add("archive-unsupported", mloc, entry.header_offset, f"compression {method}")
        return None
    limits = ctx.limits
    declared = entry.uncompressed_size
    if declared > limits.max_expanded_bytes - ctx.expanded or (
        declared > RATIO_FLOOR and declared > limits.max_ratio * max(entry.compressed_size, 1)
    ):
        ctx.add(
            "archive-bomb",
            mloc,
            entry.header_offset,
            f"declares {declared} bytes from {entry.compressed_size} compressed "
            f"(limits: max_ratio={limits.max_ratio}, "
            f"max_expanded_bytes={limits.max_expanded_bytes})",
        )
        return None
    props = None
    if fmt == "lzma-raw":
        head = raw.head(4)
        psize = int.from_bytes(head[2:4], "little") if len(head) == 4 else 0
        props = raw.read(4, psize)
        raw = raw.window(4 + psize, raw.size - 4 - psize)
    try:
        out = decompress(fmt, raw, charge=ctx.expansion_charger(), tick=ctx.tick, props=props)
    except ImportError:
        ctx.add("archive-unsupported", mloc, entry.header_offset, f"no {fmt} decoder is installed")
        return None
    if out.error is not None or not out.complete:
        what = f"corrupt ({out.error})" if out.error else "truncated"
        ctx.add("archive-malformed", mloc, entry.header_offset, f"{fmt} data {what}")
    elif out.blob.size != declared:
        ctx.add(
            "archive-tampered",
            mloc,
            entry.header_offset,
            f"decompresses to {out.blob.size} bytes, the directory declares {declared}",
        )
    _check_crc(ctx, mloc, entry, out.blob)
    return out.blob


def _check_crc(ctx: ScanContext, mloc: Location, entry: ZipEntry, data: Blob) -> None:
    crc = 0
    step = 16 << 20
    for off in range(0, data.size, step):
        crc = zlib.crc32(
            data.buffer[data.start + off : data.start + min(data.size, off + step)], crc
        )
    if crc != entry.crc:
        ctx.add(
            "archive-tampered",
            mloc,
            entry.header_offset,
            f"CRC-32 of the data is {crc:08x}, the central directory says {entry.crc:08x} "
            "(zipfile refuses this member; PyTorch reads it)",
        )


def _check_layout(
    ctx: ScanContext, blob: Blob, loc: Location, zd: ZipDirectory, *, skip_prefix: bool
) -> None:
    """Overlapping members, and bytes between them that nothing accounts for."""
    spans = sorted(
        (e.header_offset, e.data_end, e.name)
        for e in zd.entries
        if e.data_end is not None and e.data_offset is not None
    )
    overlaps = [(a[2], b[2]) for a, b in itertools.pairwise(spans) if b[0] < a[1]]
    if overlaps:
        first = overlaps[0]
        ctx.add(
            "archive-overlapping-members",
            loc,
            None,
            f"{len(overlaps)} overlapping member pair(s), first {first[0]!r} and {first[1]!r}",
        )
        return
    gaps: list[tuple[int, int]] = []
    # In a view (a zip at the end of another format), what precedes the first
    # member is that other format, analysed as the file itself.
    cursor = min((s[0] for s in spans), default=zd.prefix) if skip_prefix else 0
    for start, end, _ in spans:
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if zd.central_offset > cursor:
        gaps.append((cursor, zd.central_offset))
    if zd.end < blob.size:
        gaps.append((zd.end, blob.size))
    for start, end in gaps[:_MAX_GAPS]:
        region = blob.window(start, end - start)
        if all_zero(region):
            continue  # padding
        ctx.add(
            "archive-hidden-data",
            loc,
            start,
            f"{end - start} bytes at {start}..{end} belong to no member",
        )
        label = f"<hidden bytes at {start}>"
        ctx.scan(region, (*loc, label), label)
