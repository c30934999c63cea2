"""safetensors: a format with no code in it, and the ways to put some back.

The header is validated as the loader validates it (a file the loader refuses
is reported as malformed). What the loader never reads is not trusted either:
bytes after the last tensor, and tensors whose bytes open as a pickle or an
archive (a polyglot that another loader would run), are analysed as members.
"""

from __future__ import annotations

from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.detection import Format, detect_format
from openward.artifacts.errors import ArtifactFormatError
from openward.artifacts.safetensors import read_safetensors_header
from openward.scanning.context import Location, ScanContext
from openward.scanning.formats.configs import scan_embedded_config
from openward.scanning.formats.pickle import scan_pickle_streams

__all__ = ["scan_safetensors"]

# Formats that tensor bytes have no business looking like.
_PAYLOAD_FORMATS: Final = frozenset(
    {
        Format.ZIP, Format.TAR, Format.GZIP, Format.BZIP2, Format.XZ, Format.SEVEN_ZIP,
        Format.NUMPY, Format.TORCH_LEGACY, Format.SAFETENSORS, Format.GGUF, Format.LZ4,
        Format.ZSTD, Format.RAR,
    }
)  # fmt: skip
_PEEK: Final = 1024


def scan_safetensors(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str:
    del name
    try:
        header = read_safetensors_header(blob)
    except ArtifactFormatError as exc:
        ctx.add("safetensors-malformed", loc, exc.offset, exc.message)
        return Format.SAFETENSORS
    for problem in header.problems:
        ctx.add("safetensors-malformed", loc, 8, problem)
    if header.duplicate_keys:
        ctx.add(
            "safetensors-duplicate-key",
            loc,
            8,
            f"keys appear more than once: {', '.join(sorted(set(header.duplicate_keys))[:5])}",
        )
    for key, value in header.metadata.items():
        if isinstance(value, str):  # configs some loaders keep there (_target_, class_path)
            scan_embedded_config(ctx, value, (*loc, f"<metadata {key}>"))
    for tensor in header.tensors:
        ctx.tick()
        start = header.data_start + tensor.start
        if tensor.end <= tensor.start or start >= blob.size:
            continue
        data = blob.window(start, tensor.end - tensor.start)
        fmt = detect_format(Blob.of(data.head(_PEEK)))
        label = f"<tensor {tensor.name}>"
        mloc = (*loc, label)
        if fmt in _PAYLOAD_FORMATS:
            ctx.add(
                "safetensors-embedded-payload",
                mloc,
                start,
                f"the bytes of {tensor.dtype} tensor {tensor.name!r} open as {fmt}",
            )
            ctx.scan(data, mloc, label)
        elif fmt in (Format.PICKLE, Format.PICKLE_CANDIDATE):
            before = len(ctx.findings)
            scan_pickle_streams(ctx, data, mloc, candidate=True, probe=True)
            if len(ctx.findings) > before:
                ctx.add(
                    "safetensors-embedded-payload",
                    mloc,
                    start,
                    f"the bytes of {tensor.dtype} tensor {tensor.name!r} are a pickle",
                )
    if header.data_end < blob.size:
        rest = blob.window(header.data_end, blob.size - header.data_end)
        ctx.add(
            "safetensors-trailing-data",
            loc,
            header.data_end,
            f"{rest.size} bytes after the last tensor",
        )
        label = "<bytes after the last tensor>"
        ctx.scan(rest, (*loc, label), label)
    ctx.members += len(header.tensors)
    return Format.SAFETENSORS
