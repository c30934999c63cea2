"""The manifest of a model: every file's path and SHA-256, as OpenSSF Model Signing
defines it (the ``files`` serialization method).

Paths are POSIX paths relative to the model directory, listed in code-point
order; the model digest is SHA-256 over the concatenated raw file digests in
that order. Symbolic links are refused by default (OMS ``allow_symlinks:
false``); with ``allow_symlinks`` a link is followed only when it stays inside
the model directory.

Files are hashed on threads by :class:`openward.signing.hashrun.HashRun` (one per
CPU, largest remaining file first, in slices; see that module for the scheduler and
the read path); this module turns the digests into the manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from openward.signing.hashrun import (
    DEFAULT_IGNORED,
    HashRun,
    ManifestError,
    adopt_or_start,
    cpu_count,
    ignored,
    walk,
)

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


_ignored = ignored  # the name openward.registry.check imports


def hash_files(
    items: Sequence[tuple[str, str | Path, int]],
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

    def __init__(self, root: Path, items: list[tuple[str, str, int]], ignore: list[str],
                 allow_symlinks: bool, workers: int | None,
                 early: HashRun | None = None) -> None:  # fmt: skip
        self.root, self.ignore, self.allow_symlinks = root, ignore, allow_symlinks
        self._items = items
        self._run = adopt_or_start(early, items, workers)

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
    early: HashRun | None = None,
) -> PendingManifest:
    """Walk ``root`` now (raising :class:`ManifestError` for what OMS refuses) and start
    hashing its files in the background; :meth:`PendingManifest.result` waits for them.

    ``early`` is a run already hashing these files (started by the console entry
    point before this module was imported): used when it hashes exactly the files the
    walk finds, else cancelled and a run of this walk started."""
    root = Path(root)
    try:
        if not root.exists():
            raise ManifestError(f"{root}: no such file or directory")
        ignore = list(DEFAULT_IGNORED) + [p for p in ignore_paths if p not in DEFAULT_IGNORED]
        items = walk(root, ignore, allow_symlinks)
    except BaseException:
        if early is not None:
            early.cancel()
        raise
    return PendingManifest(root, items, ignore, allow_symlinks, workers, early)


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
