"""`openward check`: is a model already on disk taken down, quarantined or under an
advisory? Each target is hashed as the signing layer hashes a model (per-file
SHA-256 and the OMS manifest digest) and matched against the registry's advisory
export, fetched once or read from an offline copy."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
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
    digest, files, _ = _hash_all([root])[0]
    return digest, files


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
    kin = _Lineage(flagged, doc.get("fingerprints"))
    results = []
    for (label, root), (digest, files, where) in zip(paths, _hash_all([p for _, p in paths]),
                                                  strict=True):  # fmt: skip
        # An export without `weights` (an older registry): the same rule as the
        # registry's, applied to the flagged file's name and the copy's bytes.
        def classify(path: str, sha: str, where: dict[str, Path] = where) -> bool:
            return file_identifies_model(path, where[sha]) if sha in where else False

        # A recipient's marked copy is matched as the published files it was cut from.
        from openward.registry.marks import relate_copy

        published, published_digest, copy_of = relate_copy(doc.get("recipient_copies"), files)
        hits = check_content(flagged, clean, published_digest or digest, published, classify)
        result: dict[str, Any] = {
            "target": label,
            "digest": digest,
            "files": len(files),
            "flagged": hits,
        }
        if copy_of is not None:
            result["recipient_copy"] = copy_of
        if kin.active:
            result["lineage"] = kin.check(root, digest, sorted(files), hits)
        results.append(result)
    return results


class _Lineage:
    """`check` against the weight fingerprints of taken-down versions in the export
    (``fingerprints``; the versions name theirs in ``fingerprint``): a local model found
    identical to or derived from one is flagged (``match: lineage``), unless it is nearer
    to one of that version's served bases (``lineage_bases``: then it is their relative)
    or is a copy an admin excepted."""

    def __init__(self, flagged: list[dict[str, Any]], prints: object) -> None:
        self.prints = prints if isinstance(prints, dict) else {}
        self.flagged = [v for v in flagged if isinstance(v.get("fingerprint"), str)
                        and v["fingerprint"] in self.prints]  # fmt: skip
        self.parsed: dict[str, Any] = {}

    @property
    def active(self) -> bool:
        return bool(self.flagged)

    def _print(self, sha: str) -> Any:
        from openward.lineage.fingerprint import Fingerprint
        from openward.lineage.weights import LineageError

        if sha not in self.parsed:
            try:
                self.parsed[sha] = Fingerprint.from_json(self.prints.get(sha), f"export {sha[:12]}")
            except (LineageError, ValueError, TypeError):
                self.parsed[sha] = None
        return self.parsed[sha]

    def check(self, root: Path, digest: str, paths: list[str],
              hits: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
        """Add lineage hits to ``hits``; return what was done (``fingerprint``: whether the
        local model could be fingerprinted, ``note`` why not, ``compared``)."""
        from openward.lineage.compare import compare
        from openward.lineage.fingerprint import compute_fingerprint
        from openward.lineage.weights import LineageError

        try:
            local = compute_fingerprint(root)
        except LineageError as exc:
            return {"fingerprint": False, "note": str(exc), "compared": 0}
        done = {(h.get("name"), h.get("version")) for h in hits}
        compared = 0
        weights = [p for p in paths if p.lower().endswith((".safetensors", ".gguf"))]
        for v in self.flagged:
            if (v.get("name"), v.get("version")) in done or digest in set(v.get("exempt") or ()):
                continue
            theirs = self._print(v["fingerprint"])
            if theirs is None:
                continue
            compared += 1
            result = compare(local, theirs, f"{v.get('name')}:{v.get('version')}")
            if result.verdict not in ("identical", "derived"):
                continue
            bases = [self._print(b) for b in v.get("lineage_bases") or [] if isinstance(b, str)]
            if any(b is not None and nearer_to_ancestor(local, theirs, b, result.score)
                   for b in bases):  # fmt: skip
                continue
            hits.append({**_strip(v), "match": "lineage", "files": weights,
                         "lineage": {"verdict": result.verdict, "score": round(result.score, 4),
                                     "p_value": result.p_value,
                                     "derivation": result.derivation}})  # fmt: skip
            done.add((v.get("name"), v.get("version")))
        return {"fingerprint": True, "note": None, "compared": compared}


def _stacked(fp: Any) -> Any:
    """A fingerprint's direct samples (values at fixed positions) in one vector."""
    import numpy as np

    parts = [fp.embed_samples]
    for lp in fp.layers:
        parts.extend(lp.samples[k] for k in sorted(lp.samples))
    try:
        return np.concatenate(parts).astype(np.float64)
    except ValueError:
        return None


def nearer_to_ancestor(cand: Any, base: Any, ancestor: Any, score: float) -> bool:
    """Whether fingerprint ``cand`` is at least as near to ``ancestor`` (the base's own
    base) as to ``base``, so that it is not ``base``'s derivative but a sibling (another
    derivative of ``ancestor``), or ``ancestor`` itself: by the direct samples when the
    three line up (same shapes and layers), else by the compare score (strictly higher)."""
    import numpy as np

    from openward.lineage.compare import compare

    c, b, a = _stacked(cand), _stacked(base), _stacked(ancestor)
    if (c is not None and b is not None and a is not None and c.shape == b.shape == a.shape
            and cand.hidden == base.hidden == ancestor.hidden):  # fmt: skip
        return bool(np.linalg.norm(c - a) <= np.linalg.norm(c - b))
    other = compare(cand, ancestor)
    return other.verdict in ("identical", "derived") and other.score > score


def _hash_all(roots: list[Path]) -> list[tuple[str, dict[str, str], dict[str, Path]]]:
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
        where = {digests[f"{n}\0{name}"]: path for name, path, _ in files}
        out.append((model_digest(entries), {e.name: e.digest for e in entries}, where))
    return out


WEIGHT_SUFFIXES: Final = frozenset({
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".ggml", ".onnx", ".h5",
    ".hdf5", ".keras", ".msgpack", ".npz", ".npy", ".pkl", ".pickle", ".joblib", ".tflite",
    ".pb", ".mlmodel", ".pdparams", ".nemo", ".llamafile",
})  # fmt: skip
"""Suffixes of files that carry weights: one signal of :func:`identifies_model`, never
the only one (``model.onnx_data``, ``*.part`` or a file without a suffix carry
weights too)."""

SNIFF_BYTES: Final = 64 << 10
"""How much of a file :func:`identifies_model` reads: the same on the server and in
``openward check``, so both sides classify a file alike."""
WEIGHT_MIN_BYTES: Final = 1 << 20
"""Below this, a file in no model format (code, a config, notes) does not identify a
model: unrelated models share such files."""
SERIALISED_MIN_BYTES: Final = 32 << 10
"""Below this, not even a pickle or a tensor file identifies a model: checkpoints of
unrelated runs share tiny ones (``scheduler.pt``, ``training_args.bin``)."""

_SERIALISED: Final = frozenset({
    "pickle", "torch-legacy", "zip", "tar", "gzip", "bzip2", "xz", "lzma", "zlib", "lz4",
    "joblib-zfile", "zstd", "7z", "rar", "npy", "safetensors", "gguf", "hdf5", "tflite",
    "onnx?", "tf-saved-model?", "tf-graph-def?",
})  # fmt: skip
_MEDIA_MAGIC: Final = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"%PDF-")
_TEXT_META_SUFFIXES: Final = frozenset({
    ".md", ".markdown", ".rst", ".txt", ".json", ".yaml", ".yml", ".jinja", ".j2",
    ".tiktoken", ".cff", ".html", ".csv", ".tsv", ".py", ".toml", ".cfg", ".ini",
})  # fmt: skip
_TEXT_META_STEMS: Final = ("readme", "license", "licence", "notice", "copying", "authors",
                           "citation", "use_policy", "changelog", "merges", "vocab")  # fmt: skip
_TOKENIZER_NAMES: Final = frozenset({
    "tokenizer.model", "spiece.model", "sentencepiece.model", "sentencepiece.bpe.model",
    "source.spm", "target.spm", "bpe.model",
})  # fmt: skip


def _serialised(head: bytes, size: int) -> bool:
    """Whether the first bytes are a model serialisation (openward's own detection)."""
    from openward.artifacts.blob import Blob
    from openward.artifacts.detection import detect_format

    if len(head) >= 10:  # a safetensors header longer than the sample still counts
        n = int.from_bytes(head[:8], "little")
        if 2 <= n <= size - 8 and head[8:].lstrip(b" \t\r\n")[:1] == b"{":
            return True
    return detect_format(Blob.of(head)) in _SERIALISED


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """A protobuf varint at ``at``: (value, next offset); ValueError if cut short."""
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


def _sentencepiece(head: bytes, pieces: int = 3) -> bool:
    """Whether ``head`` starts like a SentencePiece model (``ModelProto``: field 1
    repeated ``SentencePiece {1: piece, 2: score, 3: type}``), whatever the file is
    named: DeBERTa's ``spm.model``, mBART's ``sentence.bpe.model``... are shared by
    every fine-tune of their base, like the names in :data:`_TOKENIZER_NAMES`."""
    at = 0
    try:
        for _ in range(pieces):
            if head[at : at + 1] != b"\x0a":
                return False
            length, at = _varint(head, at + 1)
            end = at + length
            if length > 1024 or end > len(head) or head[at : at + 1] != b"\x0a":
                return False
            size, at = _varint(head, at + 1)
            if at + size > end:
                return False
            head[at : at + size].decode("utf-8")
            at += size
            while at < end:
                tag = head[at]
                if tag == 0x15 and at + 5 <= end:  # score: a float
                    at += 5
                elif tag == 0x18:  # type: a varint
                    _, at = _varint(head, at + 1)
                else:
                    return False
            if at != end:
                return False
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def identifies_model(path: str, size: int, head: bytes) -> bool:
    """Whether a file identifies the model it belongs to, so that a copy of it elsewhere
    is a copy of that model: what a takedown, a gate or a registration hold follows.

    Decided by content, size and, for metadata only, name (``head``: the file's first
    :data:`SNIFF_BYTES` bytes, or fewer):

    1. a model serialisation by content (pickle, zip/torch, safetensors, GGUF, NumPy,
       HDF5, TFLite, ONNX, compressed streams...) or a weight suffix, from
       :data:`SERIALISED_MIN_BYTES`: yes, whatever its name;
    2. an image or a PDF: no;
    3. text metadata by name (README, LICENSE, ``*.md``, ``*.txt``, ``*.json``,
       ``*.yaml``, ``vocab.*``, ``merges.txt``...) whose content is text, or a
       SentencePiece tokenizer by name (``tokenizer.model``...) or by content
       (``spm.model``, ``sentence.bpe.model``...): no, at any size (a tokenizer shared
       by thousands of models never carries a takedown to them);
    4. anything else from :data:`WEIGHT_MIN_BYTES` (``model.onnx_data``, ``*.part``,
       a file without a suffix): yes; smaller files (code, configs): no.
    """
    if size <= 0:
        return False
    name = PurePosixPath(path.lower()).name
    suffix = PurePosixPath(name).suffix
    if suffix in WEIGHT_SUFFIXES or _serialised(head, size):
        return size >= SERIALISED_MIN_BYTES
    if head.startswith(_MEDIA_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return False
    from openward.artifacts.detection import looks_like_text

    text = looks_like_text(head[:8192])
    if text and (suffix in _TEXT_META_SUFFIXES or name.startswith(_TEXT_META_STEMS)):
        return False
    if name in _TOKENIZER_NAMES or suffix == ".spm" or _sentencepiece(head):
        return False
    return size >= WEIGHT_MIN_BYTES


def file_identifies_model(name: str, path: Path) -> bool:
    """:func:`identifies_model` of a file on disk, listed as ``name``."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
        size = os.fstat(fh.fileno()).st_size
    return identifies_model(name, size, head)


def is_weight_file(path: str) -> bool:
    """A weight suffix (kept for callers that have only a path; matching uses
    :func:`identifies_model`)."""
    return PurePosixPath(path.lower()).suffix in WEIGHT_SUFFIXES


Classifier = Callable[[str, str], bool]
"""(path in the flagged version, sha256) -> whether that file identifies the model."""


def check_content(flagged: list[dict[str, Any]], clean_files: set[str], digest: str,
                  files: dict[str, str], classify: Classifier | None = None,
                  ) -> list[dict[str, Any]]:  # fmt: skip
    """Match a copy on disk (manifest digest, path -> sha256) against flagged versions:
    the exact content, or a file that identifies a flagged version's model (its
    ``weights``; from an export without them, ``classify`` decides, by the rule of
    :func:`identifies_model`). Shared tokenizers, licenses and configs never flag.

    Taken-down versions and versions under an advisory (an admin's decision) match
    whoever else publishes the same weights, except the versions an admin excepted
    (``exempt``: their manifest digests); one whose very files another organisation
    published earlier and still serves (``exact`` false) matches no exact copy. A
    quarantined version (the checks' verdict, which anyone can provoke by adding a bad
    file to someone else's weights, or re-pushing them with a signature that does not
    verify) matches only weights that no published version carries (``clean_files``),
    and an exact copy only when one of its files is in no published version."""
    out = []
    mine = set(files.values())
    for v in flagged:
        quarantined = v.get("status") == "quarantined" and not v.get("advisories")
        if v.get("digest") == digest and v.get("exact", True):
            # A quarantine of files that published versions carry, all of them (a copy
            # re-pushed with a signature that does not verify), says nothing of them.
            if not (quarantined and mine <= clean_files):
                out.append({**_strip(v), "match": "exact", "files": sorted(files)})
            continue
        if digest in set(v.get("exempt") or ()):
            continue
        theirs: dict[str, str] = v.get("files") or {}
        if isinstance(v.get("weights"), list):
            weights = set(map(str, v["weights"])) & mine
        else:
            judge = classify or (lambda p, _d: is_weight_file(p))
            weights = {d for p, d in theirs.items() if d in mine and judge(p, d)}
        if quarantined:
            weights -= clean_files
        shared = sorted(p for p, d in files.items() if d in weights)
        if shared:
            out.append({**_strip(v), "match": "files", "files": shared})
    return out


def _strip(v: dict[str, Any]) -> dict[str, Any]:
    return {k: v[k] for k in ("name", "version", "digest", "status", "reasons", "advisories")
            if k in v}  # fmt: skip
