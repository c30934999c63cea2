"""Content-addressed blob storage under the data directory.

A blob is written to a temporary file while its SHA-256 is computed, then renamed
into ``blobs/ab/abcdef…`` only if the digest matches: a crash mid-upload leaves a
temporary file (removed on start-up), never a wrong or partial blob. Disk and
hashing work runs in worker threads so the server's event loop never waits on it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import anyio

__all__ = [
    "BlobMismatch",
    "BlobTooLarge",
    "FileBlobStore",
    "PartialUploads",
    "S3BlobStore",
    "is_digest",
    "open_blob_store",
]

_DIGEST: Final = re.compile(r"^[0-9a-f]{64}$")


_SMALL: Final = 8 << 20
"""Blobs up to this size are fetched with a single GET when a check copies them."""


def is_digest(text: str) -> bool:
    return bool(_DIGEST.match(text))


class BlobMismatch(Exception):
    def __init__(self, expected: str, actual: str, size: int) -> None:
        super().__init__(f"content hashes to {actual}, not {expected}")
        self.actual = actual
        self.size = size


class BlobTooLarge(Exception):
    """More bytes arrived than the manifest declared."""


class FileBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        (root / "blobs").mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp.iterdir():
            stale.unlink(missing_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / "blobs" / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def has_many(self, digests: list[str]) -> set[str]:
        """The digests of ``digests`` the store holds."""
        return {d for d in digests if self.has(d)}

    async def put(self, digest: str, size: int, chunks: AsyncIterator[bytes]) -> int:
        """Store the streamed bytes as ``digest``; returns the size written."""
        if self.has(digest):
            await _drain(chunks)
            return self.path(digest).stat().st_size
        tmp, written = await receive(self.tmp, digest, size, chunks)
        try:
            target = self.path(digest)
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return written

    async def commit_file(self, digest: str, path: Path) -> None:
        """Move a verified file into place as ``digest``."""
        target = self.path(digest)
        target.parent.mkdir(exist_ok=True)
        os.replace(path, target)

    def read(self, digest: str, limit: int) -> bytes:
        """At most ``limit`` bytes from the start of the blob."""
        with open(self.path(digest), "rb") as fh:
            return fh.read(limit)

    def link_into(self, digest: str, dest: Path) -> None:
        """Make ``dest`` a hard link to the blob (a copy where links are impossible)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.path(digest), dest)
        except OSError:
            import shutil

            shutil.copyfile(self.path(digest), dest)

    def link_many(self, items: list[tuple[str, int, Path]]) -> None:
        """``link_into`` for each (digest, size, destination): a check's scratch copy."""
        for digest, _size, dest in items:
            self.link_into(digest, dest)


async def receive(
    directory: Path, digest: str, size: int, chunks: AsyncIterator[bytes]
) -> tuple[Path, int]:
    """Stream ``chunks`` into a new temporary file in ``directory`` while hashing them;
    return it only if the bytes are exactly ``size`` long and hash to ``digest``."""
    fd, name = await anyio.to_thread.run_sync(lambda: _mkstemp(directory, digest))
    tmp = Path(name)
    hasher = hashlib.sha256()
    written = 0
    try:
        with os.fdopen(fd, "wb") as f:
            buffer: list[bytes] = []
            pending = 0

            def flush(parts: list[bytes]) -> None:
                for part in parts:
                    hasher.update(part)
                    f.write(part)

            async for chunk in chunks:
                written += len(chunk)
                if written > size:
                    raise BlobTooLarge(f"more than the declared {size} bytes")
                buffer.append(chunk)
                pending += len(chunk)
                if pending >= 4 << 20:
                    parts, buffer, pending = buffer, [], 0
                    await anyio.to_thread.run_sync(flush, parts)
            await anyio.to_thread.run_sync(flush, buffer)

            def sync() -> None:
                f.flush()
                os.fsync(f.fileno())

            await anyio.to_thread.run_sync(sync)
        actual = hasher.hexdigest()
        if actual != digest or written != size:
            raise BlobMismatch(digest, actual, written)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, written


class PartialUploads:
    """Resumable uploads: bytes of an unfinished blob kept in ``partial/<digest>``
    (surviving restarts), appended range by range; the whole file is hashed once the
    last byte arrives, and only a matching blob is committed."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "partial"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.locks: dict[str, anyio.Lock] = {}

    def received(self, digest: str) -> int:
        path = self.dir / digest
        return path.stat().st_size if path.exists() else 0

    async def append(
        self, digest: str, start: int, total: int, chunks: AsyncIterator[bytes]
    ) -> tuple[int, Path | None]:
        """Append a range; returns (bytes now held, the complete verified file or None)."""
        lock = self.locks.setdefault(digest, anyio.Lock())
        async with lock:
            path = self.dir / digest
            have = self.received(digest)
            if start != have:
                await _drain(chunks)
                raise ValueError(f"the upload of {digest} continues at byte {have}, not {start}")
            with open(path, "ab") as f:
                written = have
                async for chunk in chunks:
                    written += len(chunk)
                    if written > total:
                        raise BlobTooLarge(f"more than the declared {total} bytes")
                    await anyio.to_thread.run_sync(f.write, chunk)

                def sync() -> None:
                    f.flush()
                    os.fsync(f.fileno())

                await anyio.to_thread.run_sync(sync)
            if written < total:
                return written, None

            def digest_of() -> str:
                with open(path, "rb") as fh:
                    return hashlib.file_digest(fh, "sha256").hexdigest()

            actual = await anyio.to_thread.run_sync(digest_of)
            if actual != digest:
                path.unlink(missing_ok=True)
                raise BlobMismatch(digest, actual, written)
            return written, path


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read and discard a request body we do not need (the blob is already stored)."""
    async for _ in chunks:
        continue


def _mkstemp(directory: Path, digest: str) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix=digest[:16] + ".", dir=directory)


class S3BlobStore:
    """Blobs in any S3-compatible object store (``s3://bucket/prefix``).

    An upload is hashed into a local temporary file first; only bytes whose SHA-256
    matches are sent to ``PREFIX/blobs/<digest>`` (boto3's managed multipart
    transfer), so the bucket never holds a wrong or partial blob under a digest's
    name. Downloads are presigned URLs the API redirects to (Range works there too).
    """

    def __init__(self, url: str, cache: Path) -> None:
        from urllib.parse import parse_qs, urlparse

        import boto3

        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"blob URL {url!r} is not s3://bucket[/prefix]")
        query = parse_qs(parsed.query)
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        endpoint = query.get("endpoint_url", [None])[0]
        region = query.get("region", ["us-east-1"])[0]
        from botocore.config import Config

        # Checks and manifests ask about many blobs at once (link_many, has_many).
        self.s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region,
                               config=Config(max_pool_connections=32))  # fmt: skip
        self.local = FileBlobStore(cache)
        self.tmp = self.local.tmp

    def _key(self, digest: str) -> str:
        return "/".join(p for p in (self.prefix, "blobs", digest[:2], digest) if p)

    def has(self, digest: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._key(digest))
        except ClientError:
            return False
        return True

    def has_many(self, digests: list[str], threads: int = 32) -> set[str]:
        """The digests of ``digests`` the bucket holds: HEAD requests, ``threads`` at a
        time (one after another, 10,000 of them outlasted a client's patience)."""
        if len(digests) <= 1:
            return {d for d in digests if self.has(d)}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(threads, len(digests))) as pool:
            return {d for d, ok in zip(digests, pool.map(self.has, digests), strict=True) if ok}

    async def put(self, digest: str, size: int, chunks: AsyncIterator[bytes]) -> int:
        if self.has(digest):
            await _drain(chunks)
            return size
        path, written = await receive(self.tmp, digest, size, chunks)  # verifies the digest
        try:
            await anyio.to_thread.run_sync(
                lambda: self.s3.upload_file(str(path), self.bucket, self._key(digest))
            )
        finally:
            path.unlink(missing_ok=True)
        return written

    async def commit_file(self, digest: str, path: Path) -> None:
        try:
            await anyio.to_thread.run_sync(
                lambda: self.s3.upload_file(str(path), self.bucket, self._key(digest))
            )
        finally:
            path.unlink(missing_ok=True)

    def url(self, digest: str, expires: int = 3600, filename: str | None = None) -> str:
        """A presigned download URL; with ``filename``, browsers save it under that name."""
        from urllib.parse import quote

        params = {"Bucket": self.bucket, "Key": self._key(digest)}
        if filename is not None:
            params["ResponseContentDisposition"] = (
                f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
            )
            params["ResponseContentType"] = "application/octet-stream"
        return str(self.s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires))

    def read(self, digest: str, limit: int) -> bytes:
        """At most ``limit`` bytes from the start of the blob."""
        reply = self.s3.get_object(Bucket=self.bucket, Key=self._key(digest))
        return bytes(reply["Body"].read(limit))

    def link_into(self, digest: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.s3.download_file(self.bucket, self._key(digest), str(dest))

    def link_many(self, items: list[tuple[str, int, Path]], threads: int = 16) -> None:
        """Fetch each (digest, size, destination) for a check's scratch copy: every
        distinct blob once, on ``threads`` concurrent requests (one at a time, the
        requests for 10,000 small files took longer than scanning them), other paths of
        the same blob hard-linked to the first copy. Small blobs are read with one GET
        each, large ones through boto3's managed (multipart) download. ``size`` (the
        manifest's) only picks the method: either reads the whole object."""
        import shutil
        from concurrent.futures import ThreadPoolExecutor

        first: dict[str, tuple[int, Path]] = {}
        for digest, size, dest in items:
            first.setdefault(digest, (size, dest))

        def fetch(digest: str) -> None:
            size, dest = first[digest]
            dest.parent.mkdir(parents=True, exist_ok=True)
            if size > _SMALL:
                self.s3.download_file(self.bucket, self._key(digest), str(dest))
                return
            reply = self.s3.get_object(Bucket=self.bucket, Key=self._key(digest))
            with reply["Body"] as body, open(dest, "wb") as fh:
                shutil.copyfileobj(body, fh, 1 << 20)

        with ThreadPoolExecutor(max_workers=max(1, min(threads, len(first)))) as pool:
            list(pool.map(fetch, first))  # re-raises the first failure
        for digest, _size, dest in items:
            source = first[digest][1]
            if source != dest:
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(source, dest)
                except OSError:
                    shutil.copyfile(source, dest)


def open_blob_store(url: str | None, data: Path) -> FileBlobStore | S3BlobStore:
    """``OPENWARD_BLOB_URL``: unset for files under the data directory, or s3://…"""
    if not url:
        return FileBlobStore(data)
    return S3BlobStore(url, data / "s3-staging")
