"""The Hugging Face cache: ``hf://ORG/NAME[@REV]`` targets and snapshot folders.

A cache snapshot (``~/.cache/huggingface/hub/models--ORG--NAME/snapshots/REV``)
holds symlinks into the repository's ``blobs/`` folder. Those links are part
of the model and are followed; a link that leaves the repository's cache
folder is not. ``hf://`` targets are resolved from the local cache with
huggingface_hub's own API and never downloaded.
"""

from __future__ import annotations

import re
from pathlib import Path

from openward.errors import ScanTargetError

__all__ = ["cache_repository_root", "is_hf_target", "resolve_hf_target"]

_HF = re.compile(
    r"^hf://(?:(?P<type>models|datasets|spaces)/)?(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<rev>[\w./-]+))?/?$"
)
_REPO_FOLDER = re.compile(r"^(models|datasets|spaces)--")


def is_hf_target(target: str) -> bool:
    return target.startswith("hf://")


def resolve_hf_target(target: str) -> Path:
    """The local snapshot folder for ``hf://ORG/NAME[@REV]``; never downloads."""
    m = _HF.match(target)
    if m is not None and any(
        part in (".", "..") for g in ("repo", "rev") for part in (m.group(g) or "").split("/")
    ):
        m = None  # a revision or name with .. would read refs/ or snapshots/ outside the cache
    if m is None:
        raise ScanTargetError(target, "expected hf://ORG/NAME or hf://ORG/NAME@REVISION")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    repo_type = {"models": "model", "datasets": "dataset", "spaces": "space"}.get(
        m.group("type") or "models", "model"
    )
    try:
        folder = snapshot_download(
            m.group("repo"), repo_type=repo_type, revision=m.group("rev"), local_files_only=True
        )
    except LocalEntryNotFoundError:
        raise ScanTargetError(
            target,
            "not in the local Hugging Face cache (download it first, e.g. "
            f"`hf download {m.group('repo')}`; openward never downloads)",
        ) from None
    except Exception as exc:  # huggingface_hub raises many kinds here
        raise ScanTargetError(target, f"cannot be resolved from the cache: {exc}") from None
    return Path(str(folder))


def cache_repository_root(path: Path) -> Path | None:
    """The ``models--ORG--NAME`` folder when ``path`` lies inside a cache snapshot."""
    resolved = path.resolve()
    for parent in [resolved, *resolved.parents]:
        if parent.name == "snapshots" and _REPO_FOLDER.match(parent.parent.name):
            repo = parent.parent
            if (repo / "blobs").is_dir():
                return repo
            return None
    return None
