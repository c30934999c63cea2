"""7z archives, read with py7zr into bounded in-memory sinks (nothing touches disk)."""

from __future__ import annotations

from typing import Any

from openward.artifacts.blob import Blob
from openward.artifacts.compression import OutputSink
from openward.artifacts.tar import BlobReader
from openward.scanning.context import RATIO_FLOOR, Location, ScanContext
from openward.scanning.formats.archive_names import unsafe_member_name

__all__ = ["scan_7z"]


class _BoundedSink:
    """A py7zr writer that stops keeping bytes past the scan's budget."""

    def __init__(self, budget: _Budget) -> None:
        self.sink = OutputSink()
        self.budget = budget

    def write(self, data: bytes | bytearray) -> int:
        if self.budget.take(len(data)):
            self.sink.write(bytes(data))
        return len(data)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.sink.size

    def close(self) -> None:
        return None


class _Budget:
    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.exceeded = False

    def take(self, n: int) -> bool:
        if n > self.remaining:
            self.exceeded = True
            return False
        self.remaining -= n
        return True


def _factory(budget: _Budget) -> Any:
    import py7zr.io

    class Factory(py7zr.io.WriterFactory):
        def __init__(self) -> None:
            self.products: dict[str, _BoundedSink] = {}

        def create(self, filename: str) -> Any:
            sink = _BoundedSink(budget)
            self.products[filename] = sink
            return sink

    return Factory()


def scan_7z(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str:
    del name
    import py7zr

    limits = ctx.limits
    budget = _Budget(max(0, limits.max_expanded_bytes - ctx.expanded))
    factory: Any = None
    try:
        reader: Any = BlobReader(blob)
        with py7zr.SevenZipFile(reader, mode="r") as archive:
            if archive.needs_password():
                ctx.add("archive-encrypted", loc, None, "7z archive is password-protected")
                return "7z"
            infos = archive.list()
            if len(infos) > limits.max_members:
                ctx.add(
                    "scan-limit-reached",
                    loc,
                    None,
                    f"archive has {len(infos)} members, more than max_members={limits.max_members}",
                )
                return "7z"
            declared = sum(int(i.uncompressed or 0) for i in infos if not i.is_directory)
            if declared > budget.remaining or (
                declared > RATIO_FLOOR and declared > limits.max_ratio * max(blob.size, 1)
            ):
                ctx.add(
                    "archive-bomb",
                    loc,
                    None,
                    f"members declare {declared} bytes from a {blob.size}-byte archive",
                )
                return "7z"
            for info in infos:
                why = unsafe_member_name(info.filename)
                if why is not None:
                    ctx.add(
                        "archive-path-traversal",
                        (*loc, info.filename),
                        None,
                        f"member name {info.filename!r} {why}",
                    )
            factory = _factory(budget)
            archive.extract(factory=factory)
    except Exception as exc:  # py7zr raises many unrelated types on damaged input
        ctx.add(
            "archive-malformed",
            loc,
            None,
            f"7z archive could not be read: {type(exc).__name__}: {exc}",
        )
        if factory is None:
            return "7z"
        # Members extracted before the error are on the user's disk all the same
        # (py7zr and 7-Zip write them, then report a CRC error in a later one):
        # they are analysed like the rest.
    ctx.expanded += sum(s.size() for s in factory.products.values())
    if budget.exceeded:
        ctx.add(
            "archive-bomb",
            loc,
            None,
            f"members expand beyond max_expanded_bytes={limits.max_expanded_bytes}",
        )
    for member_name, sink in sorted(factory.products.items()):
        if ctx.timed_out:
            break
        ctx.scan(sink.sink.blob(), (*loc, member_name), member_name)
    return "7z"
