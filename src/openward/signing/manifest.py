"""The manifest of a model: every file's path and SHA-256, as OpenSSF Model Signing
defines it (the ``files`` serialization method).

Paths are POSIX paths relative to the model directory, listed in code-point
order; the model digest is SHA-256 over the concatenated raw file digests in
that order. Files are hashed on threads (hashlib releases the GIL), largest
first, each streamed through ``hashlib.file_digest`` so memory stays bounded
whatever the size. Symbolic links are refused by default (OMS
``allow_symlinks: false``); with ``allow_symlinks`` a link is followed only
when it stays inside the model directory.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final

from openward.errors import OpenwardError

__all__ = [
    "DEFAULT_IGNORED",
    "FileDigest",
    "Manifest",
    "ManifestError",
    "build_manifest",
    "hash_files",
    "model_digest",
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


def _sha256(path: Path) -> str:
    with open(path, "rb", buffering=0) as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def hash_files(
    items: Sequence[tuple[str, Path, int]],
    *,
    workers: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, str]:
    """SHA-256 of each (name, path, size), largest first, on ``workers`` threads."""
    order = sorted(items, key=lambda item: -item[2])
    n = workers or min(32, (os.cpu_count() or 1) + 1)
    out: dict[str, str] = {}

    def one(item: tuple[str, Path, int]) -> tuple[str, str, int]:
        try:
            return item[0], _sha256(item[1]), item[2]
        except OSError as exc:
            raise ManifestError(f"cannot read {item[0]}: {exc.strerror}") from None

    if n <= 1 or len(order) <= 1:
        results = map(one, order)
        for name, digest, size in results:
            out[name] = digest
            if progress is not None:
                progress(name, size)
        return out
    with ThreadPoolExecutor(max_workers=min(n, len(order))) as pool:
        for name, digest, size in pool.map(one, order):
            out[name] = digest
            if progress is not None:
                progress(name, size)
    return out


def build_manifest(
    root: Path | str,
    *,
    ignore_paths: Iterable[str] = (),
    allow_symlinks: bool = False,
    workers: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> Manifest:
    """Hash every file under ``root`` (or ``root`` itself) except the ignored paths."""
    root = Path(root)
    if not root.exists():
        raise ManifestError(f"{root}: no such file or directory")
    ignore = list(DEFAULT_IGNORED) + [p for p in ignore_paths if p not in DEFAULT_IGNORED]
    items = _walk(root, ignore, allow_symlinks)
    digests = hash_files(items, workers=workers, progress=progress)
    files = [FileDigest(name, digests[name], size) for name, _, size in items]
    files.sort(key=lambda f: f.name)
    return Manifest(root, files, ignore, allow_symlinks)
