"""Walking a model and hashing its files on threads: the part of signing and
verification that runs before anything else is imported.

``openward sign`` and ``openward verify`` start these threads from the console
entry point (:mod:`openward.cli.entry`) a few milliseconds after the interpreter
starts, then import the CLI, cryptography and the OMS code while the threads
read. So this module imports nothing beyond ``os``, ``stat``, ``hashlib``,
``heapq``, ``queue`` and ``threading`` (no ``pathlib``, ``typing`` or
``dataclasses``: together some 25 ms that would run before the first byte is
read). :mod:`openward.signing.manifest` builds the OMS manifest on top of it.

Hashing is CPU-bound (OpenSSL's SHA-256 under ``hashlib``, which releases the
GIL), so :class:`HashRun` runs one thread per CPU this process may use. A file's
SHA-256 is one sequential stream, but the stream can be *paused*: each file is
hashed in slices of :data:`SLICE` bytes, its hash object carried from one slice
to the next, and whenever a thread finishes a slice it takes the file with the
most bytes left (largest remaining first). Every thread stays busy until the
last slice, so the time is about max(total / threads, largest file / one core)
whatever the sizes; small files go last, one slice each. Bytes are read with
``readinto`` into a 1 MiB buffer each thread reuses (the cheapest read path
measured, see ``benchmarks/sign_bench.py``), so memory stays bounded whatever
the size.
"""

from __future__ import annotations

import hashlib
import heapq
import os
import queue
import stat
import threading

from openward.errors import OpenwardError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (7 ms)
if TYPE_CHECKING:
    import io
    from collections.abc import Callable, Iterable, Sequence

    Item = tuple[str, str | os.PathLike[str], int]
    """(name relative to the model root, path to open, size in bytes)."""

__all__ = [
    "DEFAULT_IGNORED",
    "HashRun",
    "ManifestError",
    "adopt_or_start",
    "cpu_count",
    "ignored",
    "signature_ignore",
    "walk",
]

DEFAULT_IGNORED = (".git", ".github", ".gitattributes", ".gitignore")
"""What model-signing's CLI leaves out by default (recorded in every signature)."""


class ManifestError(OpenwardError):
    """The model directory cannot be hashed as OMS requires (a link, an unreadable file)."""


def _parts(path: str) -> tuple[str, ...]:
    """``PurePosixPath(path).parts``, without pathlib."""
    if path.startswith("//") and not path.startswith("///"):
        anchor, rest = "//", path[2:]
    elif path.startswith("/"):
        anchor, rest = "/", path.lstrip("/")
    else:
        anchor, rest = "", path
    parts = tuple(p for p in rest.split("/") if p and p != ".")
    return (anchor, *parts) if anchor else parts


def ignored(rel: str, ignore: Iterable[str]) -> bool:
    """Whether ``rel`` (a POSIX path relative to the model) is or lies under one of
    the ``ignore`` paths."""
    parts = _parts(rel)
    for item in ignore:
        item_parts = _parts(item)
        if parts[: len(item_parts)] == item_parts:
            return True
    return False


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def walk(root: str | os.PathLike[str], ignore: Iterable[str],
         allow_symlinks: bool) -> list[tuple[str, str, int]]:  # fmt: skip
    """The regular files under ``root`` (or ``root`` itself when it is a file) as
    (POSIX name relative to ``root``, path, size), in code-point order of names, the
    ``ignore`` paths left out. Raises :class:`ManifestError` for what OMS refuses: a
    symbolic link (unless ``allow_symlinks``, and then only one that stays inside
    ``root``), anything but files and directories, an unreadable entry."""
    root = os.fspath(root)
    ignore = list(ignore)
    out: list[tuple[str, str, int]] = []
    real_root = os.path.realpath(root)
    if os.path.isfile(root):
        return [(os.path.basename(os.path.normpath(root)), root, os.stat(root).st_size)]
    active: set[str] = set()

    def visit(directory: str, real: str, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise ManifestError(f"cannot list {directory}: {exc.strerror}") from None
        active.add(real)
        for entry in entries:
            rel = prefix + entry.name
            if ignored(rel, ignore):
                continue
            path = entry.path
            if entry.is_symlink():
                if not allow_symlinks:
                    raise ManifestError(
                        f"{rel} is a symbolic link; OMS signatures cover regular files only "
                        "(use --allow-symlinks to follow links that stay inside the model)"
                    )
                path = os.path.realpath(path)
                if not _inside(path, real_root):
                    raise ManifestError(f"{rel} is a symbolic link out of the model directory")
            try:
                st = os.stat(path)
            except OSError as exc:
                raise ManifestError(f"cannot read {rel}: {exc.strerror}") from None
            if stat.S_ISDIR(st.st_mode):
                sub = real + os.sep + entry.name if path is entry.path else path
                if sub in active:
                    raise ManifestError(f"{rel} is a symbolic link back into a folder it is in")
                visit(path, sub, rel + "/")
            elif stat.S_ISREG(st.st_mode):
                out.append((rel, path, st.st_size))
            else:
                raise ManifestError(f"{rel} is not a regular file")
        active.discard(real)

    visit(root, real_root, "")
    return out


def signature_ignore(model: str | os.PathLike[str],
                     signature: str | os.PathLike[str] | None) -> list[str]:  # fmt: skip
    """The signature file's POSIX path relative to ``model`` when it lies inside it
    (it is left out of what is signed and verified), else nothing."""
    if signature is None:
        return []
    real_model = os.path.realpath(model)
    real_sig = os.path.realpath(signature)
    if not _inside(real_sig, real_model) or real_sig == real_model:
        return []
    rel = os.path.relpath(real_sig, real_model)
    return [rel.replace(os.sep, "/")]


SLICE = 16 * 1024 * 1024
"""Bytes of one file a thread hashes before it looks again for the file with most left."""
BUFFER = 1024 * 1024
"""The read buffer each hashing thread reuses."""
_OPEN_PER_THREAD = 8
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


def _stamp(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class _Job:
    """One file being hashed: its SHA-256 state, position and (while kept) open file."""

    __slots__ = ("file", "hasher", "identity", "item", "left", "pos", "stamp")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.left = item[2]
        self.pos = 0
        self.file: io.FileIO | None = None
        self.identity: tuple[int, int] | None = None
        self.stamp: tuple[int, int, int, int, int] | None = None
        """(device, inode, size, mtime, ctime) of the file when first opened."""
        self.hasher = hashlib.sha256()

    def step(self, buf: bytearray, view: memoryview) -> bool:
        """Hash the next slice; True when the file is done (its end was read)."""
        if self.file is None:
            # O_NONBLOCK: a file replaced by a FIFO since the walk must not block the
            # open (and the run, and the command) forever; a device would never end
            fd = os.open(self.item[1], os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise ManifestError(f"{self.item[0]} is not a regular file")
            except BaseException:
                os.close(fd)
                raise
            self.file = open(fd, "rb", buffering=0)  # noqa: SIM115 (see close)
            if self.identity is None:
                self.identity = (st.st_dev, st.st_ino)
                self.stamp = _stamp(st)
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

    def __init__(self, items: Sequence[Item], *, workers: int | None = None):
        self._items = list(items)
        n = min(workers or cpu_count(), len(self._items))
        # (-bytes left, tie-break, job): FIFO among equals, so equal files take turns
        self._jobs = [_Job(item) for item in self._items]
        self._heap = [(-job.item[2], i, job) for i, job in enumerate(self._jobs)]
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

    def same_files(self, items: Sequence[Item]) -> bool:
        """Whether this run hashes exactly ``items``: the same names, paths and sizes,
        no file failed, and every file it has opened so far is still the one at its
        path, unmodified (device, inode, size, mtime, ctime). A run started early on a
        walk of the model then stands in for a run on them: a file replaced or
        rewritten between the early walk and the caller's own walk would otherwise
        keep the digest of what it held before (a model tampered with in that window
        verifying as signed)."""

        def key(items: Sequence[Item]) -> set[tuple[str, str, int]]:
            return {(name, os.path.normpath(path), size) for name, path, size in items}

        if len(items) != len(self._items) or key(items) != key(self._items):
            return False
        with self._lock:
            if self._state["stop"]:  # a file failed, or the run was cancelled
                return False
        for job in self._jobs:
            stamp = job.stamp
            if stamp is None:
                continue  # not opened yet: it will be opened at its path, as a new run would
            try:
                if _stamp(os.stat(job.item[1])) != stamp:
                    return False
            except OSError:
                return False
        return True

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


def adopt_or_start(early: HashRun | None, items: Sequence[Item],
                   workers: int | None) -> HashRun | None:  # fmt: skip
    """``early`` when it is hashing exactly ``items`` (:meth:`HashRun.same_files`),
    else a new run of ``items`` (``early`` cancelled); None when there is nothing to
    hash."""
    if early is not None:
        if items and early.same_files(items):
            return early
        early.cancel()
    return HashRun(items, workers=workers) if items else None
