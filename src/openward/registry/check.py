"""`openward check`: is a model already on disk taken down, quarantined or under an
advisory? Each target is hashed as the signing layer hashes a model (per-file
SHA-256 and the OMS manifest digest) and matched against the registry's advisory
export, fetched once or read from an offline copy."""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any, Final

from openward.errors import OpenwardError

__all__ = ["CheckError", "check_targets", "hash_target"]


class CheckError(OpenwardError):
    """A target or the advisory source cannot be read."""


def _files(root: Path) -> list[tuple[str, Path, int]]:
    """Regular files under ``root``; links are followed while they stay inside the
    model folder or, for a Hugging Face snapshot, inside its repository's cache."""
    from openward.artifacts.hf_cache import cache_repository_root
    from openward.signing.manifest import DEFAULT_IGNORED, _ignored

    if root.is_file():
        return [(root.name, root, root.stat().st_size)]
    fence = cache_repository_root(root) or root.resolve()
    out: list[tuple[str, Path, int]] = []
    ignore = [*DEFAULT_IGNORED, ".cache"]
    seen = {root.resolve()}
    for directory, dirs, names in os.walk(root, followlinks=True):
        base = Path(directory)
        rel_dir = base.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for d in list(dirs):
            if _ignored(prefix + d, ignore):
                dirs.remove(d)
                continue
            if (base / d).is_symlink():
                # A linked folder is part of the model while it stays inside it (or the
                # snapshot's cache): its files are hashed like the others, not skipped.
                target = (base / d).resolve()
                if not target.is_relative_to(fence):
                    raise CheckError(f"{root}: {prefix + d} links out of the model ({target})")
                if target in seen:  # a loop, or a folder reached twice
                    dirs.remove(d)
                    continue
                seen.add(target)
        for name in names:
            rel = prefix + name
            if _ignored(rel, ignore):
                continue
            path = base / name
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(fence):
                    raise CheckError(f"{root}: {rel} links out of the model ({target})")
                path = target
            if path.is_file():
                out.append((rel, path, path.stat().st_size))
    return sorted(out)


def hash_target(root: Path) -> tuple[str, dict[str, str]]:
    """(OMS manifest digest, {path: sha256}) of a model on disk."""
    return _hash_all([root])[0]


def _snapshots_in_cache(cache_dir: Path | None = None) -> list[Path]:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    # huggingface_hub reads HF_HUB_CACHE once, at import: read it again here.
    where = cache_dir or os.environ.get("HF_HUB_CACHE") or None
    try:
        info = scan_cache_dir(where)
    except CacheNotFound as exc:
        raise CheckError(f"no Hugging Face cache at {exc.cache_dir}") from None
    return sorted(Path(r.snapshot_path) for repo in info.repos if repo.repo_type == "model"
                  for r in repo.revisions)  # fmt: skip


def load_export(advisories: Path | None, registry: str | None,
                token: str | None) -> dict[str, Any]:  # fmt: skip
    if advisories is not None:
        try:
            doc = json.loads(advisories.read_text())
        except OSError as exc:
            raise CheckError(f"cannot read {advisories}: {exc.strerror}") from None
        except ValueError as exc:
            raise CheckError(f"{advisories} is not JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("format") != "openward-advisory-export/v1":
            raise CheckError(f"{advisories} is not an openward advisory export")
        return doc
    import httpx

    url = (registry or os.environ.get("OPENWARD_REGISTRY") or "").rstrip("/")
    if not url:
        raise CheckError("no registry: give --registry URL, OPENWARD_REGISTRY or --advisories")
    token = token or os.environ.get("OPENWARD_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = httpx.get(url + "/api/v1/advisories/export", headers=headers, timeout=120)
    except httpx.TransportError as exc:
        raise CheckError(f"cannot reach the registry at {url}: {exc}") from None
    if r.status_code >= 400:
        raise CheckError(f"{url}: HTTP {r.status_code}: {r.text[:200]}")
    doc = r.json()
    if not isinstance(doc, dict):
        raise CheckError(f"{url} returned no advisory export")
    return doc


def check_targets(
    targets: list[str], *, hf_cache: bool = False, advisories: Path | None = None,
    registry: str | None = None, token: str | None = None, cache_dir: Path | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    from openward.artifacts.hf_cache import is_hf_target, resolve_hf_target

    paths: list[tuple[str, Path]] = []
    for t in targets:
        if is_hf_target(t):
            try:
                paths.append((t, resolve_hf_target(t)))
            except OpenwardError as exc:
                raise CheckError(str(exc)) from None
        else:
            p = Path(t).expanduser()
            if not p.exists():
                raise CheckError(f"{t}: no such file or directory")
            paths.append((t, p))
    if hf_cache:
        paths.extend((str(p), p) for p in _snapshots_in_cache(cache_dir))
    doc = load_export(advisories, registry, token)
    flagged = doc.get("flagged") or []
    clean = doc.get("clean_files") or []
    if (
        not isinstance(flagged, list)
        or not all(isinstance(v, dict) and isinstance(v.get("files") or {}, dict) for v in flagged)
        or not isinstance(clean, list)
    ):
        raise CheckError("the advisory export is malformed (flagged / clean_files)")
    clean = set(map(str, clean))
    results = []
    for (label, _), (digest, files) in zip(paths, _hash_all([p for _, p in paths]), strict=True):
        hits = check_content(flagged, clean, digest, files)
        results.append({"target": label, "digest": digest, "files": len(files),
                        "flagged": hits})  # fmt: skip
    return results


def _hash_all(roots: list[Path]) -> list[tuple[str, dict[str, str]]]:
    """:func:`hash_target` of many models at once: one pool over every file of every
    model, largest first, so small models do not leave a core idle."""
    from openward.signing.manifest import FileDigest, hash_files, model_digest

    listed = []
    items: list[tuple[str, Path, int]] = []
    for n, root in enumerate(roots):
        try:
            files = _files(root)
        except OSError as exc:
            raise CheckError(f"cannot read {root}: {exc.strerror or exc}") from None
        if not files:
            raise CheckError(f"{root}: no files to check")
        listed.append(files)
        items.extend((f"{n}\0{name}", path, size) for name, path, size in files)
    try:
        digests = hash_files(items)
    except OpenwardError as exc:  # ManifestError: a file vanished or is unreadable
        raise CheckError(str(exc).replace("\0", "/")) from None
    out = []
    for n, files in enumerate(listed):
        entries = [FileDigest(name, digests[f"{n}\0{name}"], size) for name, _, size in files]
        out.append((model_digest(entries), {e.name: e.digest for e in entries}))
    return out


WEIGHT_SUFFIXES: Final = frozenset({
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".ggml", ".onnx", ".h5",
    ".hdf5", ".keras", ".msgpack", ".npz", ".npy", ".pkl", ".pickle", ".joblib", ".tflite",
    ".pb", ".mlmodel", ".pdparams", ".nemo", ".llamafile",
})  # fmt: skip
"""Files that carry weights: a shared one identifies the model. Configs, tokenizers
and cards are shared by unrelated models of one family, so they never match alone."""


def is_weight_file(path: str) -> bool:
    return PurePosixPath(path.lower()).suffix in WEIGHT_SUFFIXES


def check_content(flagged: list[dict[str, Any]], clean_files: set[str], digest: str,
                  files: dict[str, str]) -> list[dict[str, Any]]:  # fmt: skip
    """Match a copy on disk (manifest digest, path -> sha256) against flagged versions:
    the exact content, or weight files that belong to a flagged version and to no
    published one (a shared tokenizer or config never flags a model)."""
    out = []
    for v in flagged:
        theirs = set((v.get("files") or {}).values())
        if v.get("digest") == digest:
            out.append({**_strip(v), "match": "exact", "files": sorted(files)})
            continue
        shared = sorted(p for p, d in files.items()
                        if d in theirs and d not in clean_files and is_weight_file(p))  # fmt: skip
        if shared:
            out.append({**_strip(v), "match": "files", "files": shared})
    return out


def _strip(v: dict[str, Any]) -> dict[str, Any]:
    return {k: v[k] for k in ("name", "version", "digest", "status", "reasons", "advisories")
            if k in v}  # fmt: skip
