"""File paths of model manifests: what the registry accepts, and where ``pull`` may
write them.

A manifest path is ``/``-separated and relative. The registry accepts only paths
that are safe and mean the same file on POSIX *and* Windows (no drive letters,
alternate data streams, device names such as ``CON`` or ``aux.txt``, characters
Windows forbids, trailing dots or spaces, names that differ only in case), so a
model published from Linux can be pulled on Windows. ``pull`` checks every path
again under the rules of the platform it runs on, resolves it under the output
directory and refuses anything outside it, or written through a symbolic link.

Nothing here imports the server: the client uses it as it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Final

__all__ = [
    "manifest_path_problem",
    "manifest_paths_problem",
    "posix_problem",
    "safe_target",
    "windows_problem",
]

MAX_PATH: Final = 1000
MAX_NAME: Final = 255
"""Bytes in one path component (NAME_MAX of common POSIX file systems, and NTFS's
limit in UTF-16 units, which is never fewer)."""
WINDOWS_FORBIDDEN: Final = frozenset('<>:"|?*')
_SUPERSCRIPTS: Final = "\u00b9\u00b2\u00b3"
WINDOWS_DEVICES: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{d}{n}" for d in ("COM", "LPT") for n in [*"0123456789", *_SUPERSCRIPTS]}
)
"""Names Windows maps to devices whatever their extension (``NUL.txt`` is NUL)."""


def posix_problem(path: str) -> str | None:
    """Why ``path`` is not a relative path inside the model, or None."""
    if not path or len(path) > MAX_PATH:
        return f"file path {path!r} is not a relative path inside the model"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        # Control characters would reach terminals through listings and reports.
        return f"file path {path!r} contains control characters"
    parts = path.split("/")
    if (
        PurePosixPath(path).is_absolute()
        or "\\" in path
        or any(part in ("", ".", "..") for part in parts)
    ):
        return f"file path {path!r} is not a relative path inside the model"
    if any(len(part.encode()) > MAX_NAME for part in parts):
        return f"file path {path!r} has a name longer than {MAX_NAME} bytes"
    return None


def windows_problem(path: str) -> str | None:
    """Why ``path`` (``/``-separated, already valid on POSIX) would not name the same
    file inside the target directory on Windows, or None."""
    win = PureWindowsPath(path)
    if win.drive or win.root:
        return f"file path {path!r} is absolute or names a drive on Windows"
    for part in path.split("/"):
        if not part:
            continue  # posix_problem's to refuse
        bad = sorted({c for c in part if c in WINDOWS_FORBIDDEN})
        if bad:
            what = "a drive or an alternate data stream" if bad == [":"] else "a file name"
            return (f"file path {path!r} contains {' '.join(bad)}, which Windows does not "
                    f"allow in {what}: rename the file")  # fmt: skip
        if part[-1] in ". ":
            return (f"file path {path!r} has a name ending in a dot or a space, which "
                    "Windows strips (another file would be written): rename it")  # fmt: skip
        stem = part.split(".")[0].rstrip(" ").upper()
        if stem in WINDOWS_DEVICES:
            return (f"file path {path!r} uses {stem}, a reserved device name on Windows "
                    "(CON, PRN, AUX, NUL, COM0-9, LPT0-9, any extension): rename it")  # fmt: skip
    return None


BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Unicode bidirectional controls: a name holding one is shown in another order than it
is written (``\u202egpj.exe`` reads "exe.jpg"), in listings, reports and the web pages."""


def manifest_path_problem(path: str) -> str | None:
    """Why the registry refuses ``path`` in a manifest (POSIX and Windows), or None."""
    problem = posix_problem(path) or windows_problem(path)
    if problem is None and any(c in BIDI_CONTROLS for c in path):
        problem = (f"file path {path!r} contains Unicode bidirectional controls, which "
                   "display the name in another order than it is written: rename it")  # fmt: skip
    return problem


def manifest_paths_problem(paths: Iterable[str]) -> str | None:
    """Why a manifest's paths cannot all be written side by side, or None: names that
    differ only in case or Unicode normalisation (one file on Windows and macOS), and a
    name used both as a file and as a directory."""
    import unicodedata

    folded: dict[str, str] = {}
    files: set[str] = set()
    directories: set[str] = set()
    for path in paths:
        key = unicodedata.normalize("NFC", path).casefold()
        if key in folded and folded[key] != path:
            return (f"file paths {folded[key]!r} and {path!r} differ only in case or in "
                    "Unicode normalisation: they are one file on Windows and macOS")  # fmt: skip
        folded[key] = path
        files.add(key)
        parts = key.split("/")
        directories.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = sorted(files & directories)
    if clash:
        return f"{clash[0]!r} is both a file and a directory in the manifest"
    return None


def safe_target(out: Path, rel: str, *, windows: bool | None = None) -> Path:
    """Where ``pull`` writes the manifest path ``rel`` under ``out``.

    Checked under the rules of the running platform (``windows`` overrides it, for
    tests): the path must be relative and valid, must resolve inside ``out``, and
    no directory between ``out`` and the file, nor the file or its ``.part``, may be
    a symbolic link (a link planted there would send the bytes elsewhere).
    Raises :class:`~openward.registry.client.ClientError` otherwise."""
    from openward.registry.client import ClientError

    if windows is None:
        windows = os.name == "nt"
    problem = posix_problem(rel) or (windows_problem(rel) if windows else None)
    if problem:
        raise ClientError(f"refusing to write {rel!r}: {problem}")
    root = out.resolve()
    parts = rel.split("/")
    target = root.joinpath(*parts)
    here = root
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink():
            raise ClientError(
                f"refusing to write {rel!r}: {here} is a symbolic link; pull into a "
                "directory without links"
            )  # fmt: skip
    for candidate in (target, target.with_name(target.name + ".part")):
        if candidate.is_symlink():
            raise ClientError(f"refusing to write {rel!r}: {candidate} is a symbolic link")
    resolved = target.resolve()
    if not resolved.is_relative_to(root) or resolved == root:
        raise ClientError(f"refusing to write {rel!r}: it resolves outside {root}")
    return target
