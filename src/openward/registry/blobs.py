"""Content-addressed blob storage under the data directory.

A blob is written to a temporary file while its SHA-256 is computed, then renamed
into ``blobs/ab/abcdef…`` only if the digest matches: a crash mid-upload leaves a
temporary file (removed on start-up), never a wrong or partial blob. Disk and
hashing work runs in worker threads so the server's event loop never waits on it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, Final

import anyio

__all__ = [
    "BlobMismatch",
    "BlobTooLarge",
    "FileBlobStore",
    "InsufficientStorage",
    "PartialUploads",
    "S3BlobStore",
    "Space",
    "is_digest",
    "is_disk_full",
    "open_blob_store",
    "prove",
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

    def size(self, digest: str) -> int | None:
        """The stored blob's size, or None when it is not stored."""
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def has_many(self, digests: list[str]) -> set[str]:
        """The digests of ``digests`` the store holds."""
        return {d for d in digests if self.has(d)}

    def sizes_many(self, digests: list[str]) -> dict[str, int | None]:
        """Each digest's stored size (None: not stored)."""
        return {d: self.size(d) for d in digests}

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
    return it only if the bytes are exactly ``size`` long and hash to ``digest``.
    On any failure (a full disk included) the temporary file is removed."""
    fd, name = await anyio.to_thread.run_sync(lambda: _mkstemp(directory, digest))
    tmp = Path(name)
    hasher = hashlib.sha256()
    written = 0
    try:
        with os.fdopen(fd, "wb", buffering=0) as f:
            buffer: list[bytes] = []
            pending = 0

            def flush(parts: list[bytes]) -> None:
                for part in parts:
                    hasher.update(part)
                    _write_all(f, part)

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
            await anyio.to_thread.run_sync(os.fsync, f.fileno())
        actual = hasher.hexdigest()
        if actual != digest or written != size:
            raise BlobMismatch(digest, actual, written)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, written


async def prove(digest: str, size: int, chunks: AsyncIterator[bytes]) -> int:
    """Hash the streamed bytes against ``digest`` without storing them (an uploader
    showing it holds a blob the registry has); returns the size received."""
    hasher = hashlib.sha256()
    written = 0
    async for chunk in chunks:
        written += len(chunk)
        if written > size:
            raise BlobTooLarge(f"more than the declared {size} bytes")
        hasher.update(chunk)
    actual = hasher.hexdigest()
    if actual != digest or written != size:
        raise BlobMismatch(digest, actual, written)
    return written


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's disk quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def human(n: int) -> str:
    """``n`` bytes for people: 1 MiB, 3.5 GiB."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {unit}" if unit != "bytes" else f"{n} bytes"
        value /= 1024
    raise AssertionError("unreachable")


class InsufficientStorage(Exception):
    """Refused for lack of space or over a quota (HTTP 507); the message says which."""


class Space:
    """Free space of the file system that holds uploads, less a reserve kept for the
    database and logs.

    An upload is refused up front when what it still needs does not fit; then it
    claims at most :attr:`WINDOW` bytes ahead of what it has written (never the whole
    declared size: a client that declares the free space and sends nothing must not
    hold it, refusing everyone else's uploads), and :meth:`guard` stops it (ENOSPC,
    507) the moment the disk would keep less than the reserve."""

    WINDOW: Final = 16 << 20
    """Bytes an upload in flight holds against others' up-front checks."""
    CHECK_EVERY: Final = 1 << 20
    """How often (bytes received) :meth:`guard` measures the free space."""

    def __init__(self, root: Path, reserve: int) -> None:
        self.root = root
        self.reserve = reserve
        self.pending = 0

    def free(self) -> int:
        return shutil.disk_usage(self.root).free

    def available(self) -> int:
        return self.free() - self.reserve - self.pending

    @contextmanager
    def claim(self, n: int, what: str, *, need: int | None = None) -> Iterator[None]:
        """Hold ``n`` bytes for the duration; refuse if ``need`` (default ``n``) does
        not fit in the free space less the reserve and the other claims."""
        available = self.available()
        if (n if need is None else need) > available:
            raise InsufficientStorage(
                f"{what} needs {human(n if need is None else need)} but the registry has "
                f"{human(max(available, 0))} free for uploads (it keeps {human(self.reserve)} "
                "free for its database): try again later, or ask its operator for space"
            )
        held = min(n, self.WINDOW)
        self.pending += held
        try:
            yield
        finally:
            self.pending -= held

    async def guard(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Pass ``chunks`` on while the disk keeps its reserve; once it has less (other
        uploads filled it meanwhile), raise OSError(ENOSPC): a full disk, so the
        upload's bytes are released and the answer is 507."""
        since = 0
        async for chunk in chunks:
            since += len(chunk)
            if since >= self.CHECK_EVERY:
                since = 0
                if self.reserve and self.free() < self.reserve:
                    raise OSError(errno.ENOSPC, "the registry's disk is down to its reserve")
            yield chunk


class PartialUploads:
    """Resumable uploads: the bytes of an unfinished blob, kept per uploader in
    ``partial/<user id>/<digest>.<declared size>`` (surviving restarts) and appended
    range by range; the whole file is hashed once the last byte arrives, and only a
    matching blob is committed.

    Another user's upload of the same digest is a different file: nobody can append
    to, or watch, someone else's. Uploads in progress count against their uploader's
    ``quota`` (the sum of their declared sizes), each range is refused up front when
    the rest of the blob does not fit on the disk (:class:`Space`), and uploads not
    appended to for ``expiry`` seconds are removed by :meth:`sweep` (at start-up, on
    every new upload and periodically), as are the oldest ones whenever the disk has
    less free space than the reserve: their clients resume from what is left."""

    def __init__(self, root: Path, *, expiry: float = 86400.0, quota: int = 1 << 62,
                 space: Space | None = None) -> None:  # fmt: skip
        self.dir = root / "partial"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.expiry = expiry
        self.quota = quota
        self.space = space or Space(root, 0)
        self.locks: dict[tuple[int, str, int], anyio.Lock] = {}
        self.users: dict[tuple[int, str, int], int] = {}

    def path(self, user: int, digest: str, total: int) -> Path:
        return self.dir / str(user) / f"{digest}.{total}"

    def received(self, user: int, digest: str, total: int) -> int:
        path = self.path(user, digest, total)
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def in_progress(self, user: int) -> list[tuple[Path, int]]:
        """The user's partial uploads and their declared sizes."""
        folder = self.dir / str(user)
        out = []
        if folder.is_dir():
            for path in folder.iterdir():
                key = _partial_key(path)
                if key is not None:
                    out.append((path, key[2]))
        return out

    async def append(
        self, user: int, digest: str, start: int, end: int, total: int,
        chunks: AsyncIterator[bytes],
    ) -> tuple[int, Path | None]:  # fmt: skip
        """Append bytes ``start``..``end`` of the ``total``-byte blob ``digest`` to
        ``user``'s upload; returns (bytes now held, the complete verified file or None).

        Raises ValueError when ``start`` is not where the upload continues,
        :class:`InsufficientStorage` when it would exceed the quota or the free space,
        :class:`BlobTooLarge` for more bytes than the range, and OSError on a failed
        write: a failed range leaves the upload as it was before it (on a full disk the
        bytes it wrote are released at once)."""
        key = (user, digest, total)
        lock = self.locks.setdefault(key, anyio.Lock())
        self.users[key] = self.users.get(key, 0) + 1
        try:
            async with lock:
                return await self._append(key, start, end, chunks)
        finally:
            self.users[key] -= 1
            if not self.users[key]:
                del self.users[key], self.locks[key]

    async def _append(
        self, key: tuple[int, str, int], start: int, end: int, chunks: AsyncIterator[bytes]
    ) -> tuple[int, Path | None]:
        user, digest, total = key
        path = self.path(user, digest, total)
        have = self.received(user, digest, total)
        if start != have:
            await _drain(chunks)
            raise ValueError(f"the upload of {digest} continues at byte {have}, not {start}")
        if not path.exists():
            self.sweep()
            held = sum(size for _, size in self.in_progress(user))
            if held + total > self.quota:
                raise InsufficientStorage(
                    f"uploading {digest} ({human(total)}) would bring your resumable uploads "
                    f"in progress to {human(held + total)}, over your quota of "
                    f"{human(self.quota)}: finish or abandon the others first (unfinished "
                    f"uploads are removed after {human_duration(self.expiry)})"
                )  # fmt: skip
        with self.space.claim(end - start + 1, f"the rest of {digest}", need=total - start):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            written = have
            with os.fdopen(fd, "ab", buffering=0) as f:
                try:
                    async for chunk in chunks:
                        if written + len(chunk) > end + 1:
                            raise BlobTooLarge(f"more than the range's {end - start + 1} bytes")
                        await anyio.to_thread.run_sync(_write_all, f, chunk)
                        written += len(chunk)
                    await anyio.to_thread.run_sync(os.fsync, f.fileno())
                except BaseException as exc:
                    # A refused or failed range is undone (a client that went away keeps
                    # what arrived: it resumes from there).
                    if isinstance(exc, (BlobTooLarge, OSError)):
                        _truncate(f, path, have)
                    raise
        if not path.exists():  # swept by another process sharing the directory
            raise ValueError(f"the upload of {digest} was removed meanwhile (expired, or the "
                             "disk ran short): send it again from byte 0")  # fmt: skip
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

    def sweep(self, now: float | None = None) -> int:
        """Remove expired uploads, files of the old shared layout, and (while the disk
        has less free space than the reserve) the oldest uploads; returns the count."""
        now = time.time() if now is None else now
        removed = 0
        live: list[tuple[float, Path]] = []
        for entry in _entries(self.dir):
            if not entry.is_dir() or entry.is_symlink():
                removed += _unlink(entry)  # partial/<digest>: the shared layout of old
                continue
            for path in _entries(entry):
                key = _partial_key(path)
                if key is not None and key in self.locks:
                    continue  # being appended to right now
                try:
                    mtime = path.lstat().st_mtime
                except OSError:
                    continue
                if key is None or now - mtime > self.expiry:
                    removed += _unlink(path)
                else:
                    live.append((mtime, path))
            with suppress(OSError):
                entry.rmdir()  # only if empty
        if self.space.reserve and live:
            with suppress(OSError):
                for _, path in sorted(live):
                    if self.space.free() >= self.space.reserve:
                        break
                    removed += _unlink(path)
        return removed


def _partial_key(path: Path) -> tuple[int, str, int] | None:
    """(user, digest, total) of ``partial/<user>/<digest>.<total>``, or None."""
    digest, _, total = path.name.partition(".")
    if not (path.parent.name.isdigit() and is_digest(digest) and total.isdigit()):
        return None
    return int(path.parent.name), digest, int(total)


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except IsADirectoryError:
        shutil.rmtree(path, ignore_errors=True)
    except OSError:
        return 0
    return 1


def _truncate(f: BinaryIO, path: Path, size: int) -> None:
    """Cut a partial upload back to ``size`` bytes (removed when that is none)."""
    with suppress(OSError):
        if size == 0:
            path.unlink(missing_ok=True)
        else:
            os.ftruncate(f.fileno(), size)


def human_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} hours"
    return f"{seconds:g} seconds"


def _write_all(f: BinaryIO, data: bytes) -> None:
    """Every byte an upload stores goes through here (the tests inject a full disk)."""
    view = memoryview(data)
    while view:
        n = f.write(view)
        view = view[n:]


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
        return self.size(digest) is not None

    def size(self, digest: str) -> int | None:
        """The stored blob's size, or None when it is not stored."""
        from botocore.exceptions import ClientError

        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=self._key(digest))
        except ClientError:
            return None
        return int(head["ContentLength"])

    def sizes_many(self, digests: list[str], threads: int = 32) -> dict[str, int | None]:
        """Each digest's stored size (None: not stored): HEAD requests, ``threads`` at a
        time."""
        if len(digests) <= 1:
            return {d: self.size(d) for d in digests}
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(threads, len(digests))) as pool:
            return dict(zip(digests, pool.map(self.size, digests), strict=True))

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
