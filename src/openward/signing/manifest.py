"""The manifest of a model: every file's path and SHA-256, as OpenSSF Model Signing
defines it (the ``files`` serialization method).

Paths are POSIX paths relative to the model directory, listed in code-point
order; the model digest is SHA-256 over the concatenated raw file digests in
that order. Symbolic links are refused by default (OMS ``allow_symlinks:
false``); with ``allow_symlinks`` a link is followed only when it stays inside
the model directory.

Hashing is CPU-bound (OpenSSL's SHA-256 under ``hashlib``, which releases the
GIL), so :func:`hash_files` runs one thread per CPU this process may use. A
file's SHA-256 is one sequential stream, but the stream can be *paused*: each
file is hashed in slices of :data:`SLICE` bytes, its hash object carried from
one slice to the next, and whenever a thread finishes a slice it takes the
file with the most bytes left (largest remaining first). Every thread stays
busy until the last slice, so the time is about max(total / threads, largest
file / one core) whatever the sizes; small files go last, one slice each.
Bytes are read with ``readinto`` into a 1 MiB buffer each thread reuses (the
cheapest read path measured, see ``benchmarks/sign_bench.py``), so memory
stays bounded whatever the size.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import os
import queue
import stat
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final

from openward.errors import OpenwardError

__all__ = [
    "DEFAULT_IGNORED",
    "FileDigest",
    "HashRun",
    "Manifest",
    "ManifestError",
    "PendingManifest",
    "build_manifest",
    "cpu_count",
    "hash_files",
    "model_digest",
    "start_manifest",
]

DEFAULT_IGNORED: Final = (".git", ".github", ".gitattributes", ".gitignore")
"""What model-signing's CLI leaves out by default (recorded in every signature)."""


class ManifestError(OpenwardError):
    """The model directory cannot be hashed as OMS requires (a link, an unreadable file)."""


@dataclass(frozen=True)
class FileDigest:
    name: str
    """POSIX path relative to the model root."""
    digest: str
    """Lower-case hex SHA-256."""
    size: int


@dataclass
class Manifest:
    root: Path
    files: list[FileDigest]
    ignore_paths: list[str] = field(default_factory=list)
    allow_symlinks: bool = False
    skipped_links: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return model_digest(self.files)


def model_digest(files: Sequence[FileDigest]) -> str:
    """SHA-256 over the raw file digests, in the order given."""
    h = hashlib.sha256()
    for f in files:
        h.update(bytes.fromhex(f.digest))
    return h.hexdigest()


def _ignored(rel: str, ignore: Iterable[str]) -> bool:
    parts = PurePosixPath(rel).parts
    for item in ignore:
        item_parts = PurePosixPath(item).parts
        if parts[: len(item_parts)] == item_parts:
            return True
    return False


def _walk(root: Path, ignore: list[str], allow_symlinks: bool) -> list[tuple[str, Path, int]]:
    out: list[tuple[str, Path, int]] = []
    real_root = root.resolve()

    def visit(directory: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise ManifestError(f"cannot list {directory}: {exc.strerror}") from None
        for entry in entries:
            rel = prefix + entry.name
            if _ignored(rel, ignore):
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                if not allow_symlinks:
                    raise ManifestError(
                        f"{rel} is a symbolic link; OMS signatures cover regular files only "
                        "(use --allow-symlinks to follow links that stay inside the model)"
                    )
                target = path.resolve()
                if not target.is_relative_to(real_root):
                    raise ManifestError(f"{rel} is a symbolic link out of the model directory")
                path = target
            try:
                st = path.stat()
            except OSError as exc:
                raise ManifestError(f"cannot read {rel}: {exc.strerror}") from None
            if stat.S_ISDIR(st.st_mode):
                visit(path, rel + "/")
            elif stat.S_ISREG(st.st_mode):
                out.append((rel, path, st.st_size))
            else:
                raise ManifestError(f"{rel} is not a regular file")

    if root.is_file():
        return [(root.name, root, root.stat().st_size)]
    visit(root, "")
    return out


SLICE: Final = 16 * 1024 * 1024
"""Bytes of one file a thread hashes before it looks again for the file with most left."""
BUFFER: Final = 1024 * 1024
"""The read buffer each hashing thread reuses."""
_OPEN_PER_THREAD: Final = 8
"""Paused files kept open, per thread; past that a paused file is closed and reopened
(and checked to be the same file) when its turn comes again."""


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask), not the machine's count."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if count is not None:
        return int(count() or 1)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


class _Job:
    """One file being hashed: its SHA-256 state, position and (while kept) open file."""

    __slots__ = ("file", "hasher", "identity", "item", "left", "pos")

    def __init__(self, item: tuple[str, Path, int]) -> None:
        self.item = item
        self.left = item[2]
        self.pos = 0
        self.file: io.FileIO | None = None
        self.identity: tuple[int, int] | None = None
        self.hasher = hashlib.sha256()

    def step(self, buf: bytearray, view: memoryview) -> bool:
        """Hash the next slice; True when the file is done (its end was read)."""
        if self.file is None:
            self.file = open(self.item[1], "rb", buffering=0)  # noqa: SIM115 (see close)
            st = os.fstat(self.file.fileno())
            if self.identity is None:
                self.identity = (st.st_dev, st.st_ino)
            elif self.identity != (st.st_dev, st.st_ino):
                raise ManifestError(f"{self.item[0]} was replaced while it was being hashed")
            else:
                self.file.seek(self.pos)
        f, update = self.file, self.hasher.update
        want = SLICE
        while want > 0:
            n = f.readinto(buf if want >= BUFFER else view[:want])
            if not n:
                return True
            update(view[:n])
            want -= n
        self.pos += SLICE
        self.left -= SLICE
        if self.left <= 0:  # the size listed is reached: done unless the file grew since
            n = f.readinto(buf)
            if not n:
                return True
            update(view[:n])
            self.pos += n
            self.left = 1
        return False

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class HashRun:
    """Hashing of (name, path, size) items started on background threads: one thread
    per CPU (or ``workers``). :meth:`wait` collects the digests; :meth:`cancel` stops
    the threads (each finishes the slice it holds). Starting the run before other
    work (loading a key, importing cryptography) overlaps that work with hashing."""

    def __init__(self, items: Sequence[tuple[str, Path, int]], *, workers: int | None = None):
        self._items = list(items)
        n = min(workers or cpu_count(), len(self._items))
        # (-bytes left, tie-break, job): FIFO among equals, so equal files take turns
        self._heap = [(-item[2], i, _Job(item)) for i, item in enumerate(self._items)]
        heapq.heapify(self._heap)
        self._keep_open = n * _OPEN_PER_THREAD
        self._state = {"seq": len(self._items), "open": 0, "stop": False}
        self._lock = threading.Lock()
        self._done: queue.SimpleQueue[tuple[str, str, int] | BaseException | None] = (
            queue.SimpleQueue()
        )
        self._running = n
        self._finished = False
        self._threads = [
            threading.Thread(target=self._work, name=f"openward-hash-{i}", daemon=True)
            for i in range(n)
        ]
        for t in self._threads:
            t.start()

    def _take(self) -> _Job | None:
        with self._lock:
            if self._state["stop"] or not self._heap:
                return None
            job = heapq.heappop(self._heap)[2]
            if job.file is None:
                self._state["open"] += 1
            return job

    def _work(self) -> None:
        buf = bytearray(BUFFER)
        view = memoryview(buf)
        state, lock, done = self._state, self._lock, self._done
        while (job := self._take()) is not None:
            try:
                finished = job.step(buf, view)
            except BaseException as exc:
                job.close()
                with lock:
                    state["stop"] = True
                    state["open"] -= 1
                if isinstance(exc, OSError):
                    name = job.item[0]
                    exc = ManifestError(f"cannot read {name}: {exc.strerror or exc}")
                done.put(exc)
                break
            if finished:
                job.close()
                with lock:
                    state["open"] -= 1
                done.put((job.item[0], job.hasher.hexdigest(), job.item[2]))
                continue
            with lock:
                if state["open"] > self._keep_open:
                    job.close()
                    state["open"] -= 1
                state["seq"] += 1
                heapq.heappush(self._heap, (-job.left, state["seq"], job))
        done.put(None)

    def wait(self, progress: Callable[[str, int], None] | None = None) -> dict[str, str]:
        """Every item's SHA-256 (hex). ``progress(name, size)`` is called on the
        caller's thread for each file done. Raises :class:`ManifestError` when a file
        cannot be read."""
        if self._finished:
            raise RuntimeError("this hashing run was already waited for or cancelled")
        out: dict[str, str] = {}
        error: BaseException | None = None
        try:
            while self._running:
                msg = self._done.get()
                if msg is None:
                    self._running -= 1
                elif isinstance(msg, BaseException):
                    error = error or msg
                else:
                    out[msg[0]] = msg[1]
                    if progress is not None:
                        progress(msg[0], msg[2])
        finally:
            self.cancel()
        if error is not None:
            raise error
        return out

    def cancel(self) -> None:
        """Stop the threads and close the files (idempotent)."""
        if self._finished:
            return
        self._finished = True
        with self._lock:
            self._state["stop"] = True
        for t in self._threads:
            t.join()
        for _, _, job in self._heap:
            job.close()


def hash_files(
    items: Sequence[tuple[str, Path, int]],
    *,
    workers: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, str]:
    """SHA-256 of each (name, path, size), on one thread per CPU (or ``workers``).

    Each thread hashes a slice of the file with the most bytes left, then looks
    again; ``progress(name, size)`` is called on the caller's thread as each file is
    done. Raises :class:`ManifestError` when a file cannot be read.
    """
    if not items:
        return {}
    return HashRun(items, workers=workers).wait(progress)


class PendingManifest:
    """A manifest whose files are being hashed (:func:`start_manifest`)."""

    def __init__(self, root: Path, items: list[tuple[str, Path, int]], ignore: list[str],
                 allow_symlinks: bool, workers: int | None) -> None:  # fmt: skip
        self.root, self.ignore, self.allow_symlinks = root, ignore, allow_symlinks
        self._items = items
        self._run = HashRun(items, workers=workers) if items else None

    def result(self, progress: Callable[[str, int], None] | None = None) -> Manifest:
        digests = self._run.wait(progress) if self._run is not None else {}
        files = [FileDigest(name, digests[name], size) for name, _, size in self._items]
        files.sort(key=lambda f: f.name)
        return Manifest(self.root, files, self.ignore, self.allow_symlinks)

    def cancel(self) -> None:
        if self._run is not None:
            self._run.cancel()


def start_manifest(
    root: Path | str,
    *,
    ignore_paths: Iterable[str] = (),
    allow_symlinks: bool = False,
    workers: int | None = None,
) -> PendingManifest:
    """Walk ``root`` now (raising :class:`ManifestError` for what OMS refuses) and start
    hashing its files in the background; :meth:`PendingManifest.result` waits for them."""
    root = Path(root)
    if not root.exists():
        raise ManifestError(f"{root}: no such file or directory")
    ignore = list(DEFAULT_IGNORED) + [p for p in ignore_paths if p not in DEFAULT_IGNORED]
    items = _walk(root, ignore, allow_symlinks)
    return PendingManifest(root, items, ignore, allow_symlinks, workers)


def build_manifest(
    root: Path | str,
    *,
    ignore_paths: Iterable[str] = (),
    allow_symlinks: bool = False,
    workers: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> Manifest:
    """Hash every file under ``root`` (or ``root`` itself) except the ignored paths."""
    pending = start_manifest(
        root, ignore_paths=ignore_paths, allow_symlinks=allow_symlinks, workers=workers
    )
    return pending.result(progress)
