"""Per-recipient weight marks, the registry's side: marked downloads, recipient copies
(their digests and signed bundles) and traces of leaked copies.

A model whose publisher set ``--watermark per-recipient`` (gated or restricted) is
served to each grantee as a copy whose markable weight files carry a mark keyed by
``grant_key(registry secret, "ORG/NAME", str(grant id))``
(:mod:`openward.watermark.weights`). No marked bytes are stored: each download streams
``marked_chunks`` of the original. What a grant's copy of a version *is* (the SHA-256 of
each marked file, its manifest digest, an OMS bundle the registry signs over it) is
computed once, the first time the grantee looks the version up or downloads a file, by
streaming the marks through SHA-256, and kept (:class:`RecipientCopy`), so `openward
pull` verifies every byte and `openward verify` passes on the copy.

The owner side never sees marks: publishers of the model's organisation and admins get
the original. The grant keys never leave the registry: a trace uploads the suspect's
weights here and runs the detector against the stored original (:func:`trace_suspect`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tarfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openward.registry import tlog
from openward.registry.models import (
    Grant,
    Model,
    Organisation,
    RecipientCopy,
    RecipientFile,
    User,
    Version,
    VersionFile,
)
from openward.registry.service import VISIBLE, RegistryError, _aware

_log = logging.getLogger("openward.registry")

if TYPE_CHECKING:
    from starlette.responses import Response

    from openward.registry.service import Registry

__all__ = [
    "RECIPIENT_SIGNATURE",
    "WATERMARKS",
    "MarkSecretError",
    "load_secret",
    "marked_download",
    "read_secret",
    "recipient_copy",
    "recipient_doc",
    "recipient_grant",
    "relate_copy",
    "secret_fingerprint",
    "sweep_marks_cache",
    "trace_suspect",
    "withheld",
    "withheld_error",
    "withheld_notes",
]

WATERMARKS: Final = ("none", "per-recipient")
RECIPIENT_SIGNATURE: Final = "openward-recipient.sig"
"""Where `openward pull` writes a recipient copy's bundle, inside the copy (OMS verifiers
leave a signature inside the model out of the files they compare)."""
SECRET_BYTES: Final = 32
MAX_TRACE_FILES: Final = 10_000


# -- the registry secret -----------------------------------------------------------
FINGERPRINT_ROW: Final = "mark-secret"
"""The ``registry_state`` row that records the secret's fingerprint."""


class MarkSecretError(RegistryError):
    """The mark secret is missing or is not the one the recorded copies were marked under:
    the registry does not start (``openward serve`` prints the message)."""

    def __init__(self, message: str) -> None:
        super().__init__(500, message)


def secret_fingerprint(secret: bytes) -> str:
    """A fingerprint of the mark secret that reveals nothing of it: HMAC-SHA256 of a fixed
    label under the secret, hex."""
    return hmac.new(secret, b"openward/mark-secret-fingerprint/v1", hashlib.sha256).hexdigest()


def read_secret(path: Path) -> bytes:
    """The registry's mark secret at ``path``: 32 random bytes, created once (mode
    0600, atomically: two processes starting together end up with the same secret).
    Every API replica must read the same file (as with the signing key): a copy marked
    under one secret is traced only with it."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(SECRET_BYTES))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # another process created it first
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    data = path.read_bytes()
    if len(data) < SECRET_BYTES:
        raise MarkSecretError(f"the registry's mark secret {path} is shorter than "
                              f"{SECRET_BYTES} bytes: restore it from a backup")  # fmt: skip
    return data


def load_secret(reg: Registry) -> bytes:
    """The mark secret (:func:`read_secret`), checked against the fingerprint the database
    records, which it records the first time. Called at start-up by every API process.

    A missing secret file where a fingerprint is recorded is not created afresh, and a
    secret with another fingerprint is refused: copies already downloaded carry marks of
    the recorded secret (only it traces them), and the recipient copies' digests and
    bundles were computed under it. With ``Settings.mark_secret_rotate`` (a deliberate
    change) the new secret is accepted: every recipient copy is forgotten (made again
    under the new secret on next use) and the new fingerprint recorded.

    Raises:
        MarkSecretError: missing or changed, without ``mark_secret_rotate``.
    """
    from openward.registry.models import RegistryState, TextWatermarkKey

    path = reg.mark_secret_path
    rotate = reg.settings.mark_secret_rotate
    how = ("restore the file from a backup (every API replica must read the same one), or, "
           "to start over with a new secret (copies downloaded so far keep the old marks: "
           "only the old secret traces them), start once with "
           "OPENWARD_MARK_SECRET_ROTATE=1")  # fmt: skip
    with reg.sessions() as s:
        recorded = s.get(RegistryState, FINGERPRINT_ROW)
        if recorded is not None and not path.exists() and not rotate:
            raise MarkSecretError(f"the registry's mark secret {path} is missing, yet copies "
                                  f"were marked under one (fingerprint "
                                  f"{recorded.value[:16]}): {how}")  # fmt: skip
        secret = read_secret(path)
        fingerprint = secret_fingerprint(secret)
        if recorded is None:
            try:
                with s.begin_nested():
                    s.add(RegistryState(name=FINGERPRINT_ROW, value=fingerprint))
            except IntegrityError:  # another replica recorded one first: compare with it
                recorded = s.get(RegistryState, FINGERPRINT_ROW)
                assert recorded is not None
        if recorded is not None and recorded.value != fingerprint:
            if not rotate:
                raise MarkSecretError(f"the registry's mark secret {path} is not the one its "
                                      f"recipient copies were marked under (fingerprint "
                                      f"{fingerprint[:16]}, recorded {recorded.value[:16]}): "
                                      f"{how}")  # fmt: skip
            dropped = forget_copies(s)
            sealed = s.scalar(select(func.count(TextWatermarkKey.id))) or 0
            _log.warning("the mark secret changed (fingerprint %s, was %s): %d recipient "
                         "copies forgotten, made again under the new secret on next use; "
                         "copies downloaded before carry the old marks (keep the old secret "
                         "to trace them); %d text watermark key(s) were sealed under the old "
                         "secret: their publishers must register them again",
                         fingerprint[:16], recorded.value[:16], dropped, sealed)  # fmt: skip
            recorded.value = fingerprint
            recorded.updated_at = datetime.now(UTC)
        s.commit()
    return secret


def forget_copies(s: Session) -> int:
    """Delete every recipient copy (their files too); the number deleted."""
    n = len(s.scalars(select(RecipientCopy.id)).all())
    s.execute(delete(RecipientFile))
    s.execute(delete(RecipientCopy))
    return n


def _weights() -> Any:
    from openward.watermark import weights

    return weights


def _model_name(model: Model) -> str:
    return f"{model.organisation.name}/{model.name}"


def _ref(row: Version) -> str:
    return f"{_model_name(row.model)}:{row.version}"


def grant_key(reg: Registry, model: Model, grant_id: int) -> bytes:
    key: bytes = _weights().grant_key(reg.mark_secret, _model_name(model), str(grant_id))
    return key


# -- who gets a marked copy ----------------------------------------------------------
def recipient_grant(reg: Registry, s: Session, user: User | None, row: Version) -> Grant | None:
    """The grant whose mark ``user``'s download of ``row`` carries, or None: the model is
    not marked, or the user is one of its publishers or an admin (the original). Call
    after :func:`governance.may_download` allowed the download. With several live grants
    covering the version, the user's own (not their organisation's) and then the oldest:
    the same grant for every download, whichever is asked first."""
    from openward.registry import governance as gov

    model = row.model
    if model.watermark != "per-recipient" or model.access_tier == "open" or user is None:
        return None
    if user.is_admin or reg.can_publish(s, user, model.organisation.name):
        return None
    grants = gov._active_grants(s, model, user)
    if model.access_tier == "restricted":
        grants = [g for g in grants if g.organisation_id is not None and gov._by_admin(s, g)]
    now = gov._now()
    live = [g for g in grants
            if (g.expires_at is None or _aware(g.expires_at) > now)
            and (g.versions is None or row.version in g.versions)]  # fmt: skip
    if not live:
        # may_download let them through without a grant: nothing to mark for (it refuses
        # everyone else), but never the original to someone who is not an owner.
        raise RegistryError(403, f"{_ref(row)} is marked per recipient and no grant of "
                            "yours covers it")  # fmt: skip
    live.sort(key=lambda g: (g.user_id is None, g.id))
    return live[0]


# -- the original's bytes ------------------------------------------------------------
def local_blob(reg: Registry, digest: str) -> Path:
    """A local file holding the blob: the blob itself in the file store; with an object
    store, a copy fetched once into ``DATA/marks-cache`` (the originals of marked files,
    never a marked copy)."""
    from openward.registry.blobs import FileBlobStore

    blobs = reg.blobs
    if isinstance(blobs, FileBlobStore):
        return blobs.path(digest)
    cache = reg.settings.data / "marks-cache" / digest[:2]
    path = cache / digest
    if path.is_file():
        with contextlib.suppress(OSError):  # last used now: a sweep spares it a while
            os.utime(path)
        return path
    cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = cache / f".{digest}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        blobs.link_into(digest, tmp)
        with open(tmp, "rb") as fh:
            got = hashlib.file_digest(fh, "sha256").hexdigest()
        if got != digest:
            raise RegistryError(500, f"the object store's blob {digest} hashes to {got}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


CACHE_GRACE: Final = 3600.0
"""Seconds a marks-cache entry is kept after its last use whatever the grants say (a
download that has just looked it up), and a fetch's temporary file before it counts as
left behind."""


def sweep_marks_cache(reg: Registry, grace: float = CACHE_GRACE) -> int:
    """Remove from ``DATA/marks-cache`` the originals no grantee can download any more
    (their versions deleted or taken down, the grants revoked or expired, marks turned
    off) and fetches a killed process left behind, unless used in the last ``grace``
    seconds; the number of files removed. Run at start-up, now and then by the API
    process, and after a grant is revoked or marks are turned off."""
    cache = reg.settings.data / "marks-cache"
    if not cache.is_dir():
        return 0
    with reg.sessions() as s:
        keep = _downloadable_originals(s)
    now = time.time()
    removed = 0
    for sub in sorted(cache.iterdir()):
        if not sub.is_dir() or sub.is_symlink():
            continue
        for f in sub.iterdir():
            if f.name in keep:
                continue
            try:
                recent = now - f.stat().st_mtime < grace
            except FileNotFoundError:
                continue
            if not recent:
                f.unlink(missing_ok=True)
                removed += 1
        with contextlib.suppress(OSError):  # only when empty
            sub.rmdir()
    if removed:
        _log.info("marks cache: %d original(s) no grantee can download removed", removed)
    return removed


def _downloadable_originals(s: Session) -> set[str]:
    """The SHA-256 of every file of a published version of a marked model that a live
    grant covers."""
    from openward.registry import governance as gov

    now = gov._now()
    grants: dict[int, list[Grant]] = {}
    for g in s.scalars(select(Grant).join(Model, Grant.model_id == Model.id).where(
            Grant.revoked_at.is_(None), Model.watermark == "per-recipient",
            Model.access_tier != "open")):  # fmt: skip
        if g.expires_at is None or _aware(g.expires_at) > now:
            grants.setdefault(g.model_id, []).append(g)
    keep: set[str] = set()
    for model_id, live in grants.items():
        for row in s.scalars(select(Version).where(Version.model_id == model_id,
                                                   Version.status == VISIBLE)):  # fmt: skip
            if any(g.versions is None or row.version in g.versions for g in live):
                keep.update(f.sha256 for f in row.files)
    return keep


def _maybe_safetensors(reg: Registry, f: VersionFile) -> bool:
    """Cheap pre-test before fetching a blob from an object store: a safetensors file
    starts with an 8-byte header length and a JSON object."""
    from openward.registry.blobs import FileBlobStore

    if isinstance(reg.blobs, FileBlobStore):
        return True
    head = reg.blobs.read(f.sha256, 16)
    return len(head) >= 9 and head[8:9] == b"{"


def _markable(reg: Registry, f: VersionFile) -> Path | None:
    if not f.weight or not _maybe_safetensors(reg, f):
        return None
    local = local_blob(reg, f.sha256)
    return local if _weights().is_markable(local) else None


# -- weight files no recipient receives ----------------------------------------------
# A grantee of a marked model never receives a weight file that carries no mark: which
# files are weights is the registry's own classification (``VersionFile.weight``,
# :func:`openward.registry.check.identifies_model`: a serialisation by content or a
# weight suffix (.bin .pt .pth .ckpt .onnx .gguf .h5 .msgpack .npz .safetensors...) from
# SERIALISED_MIN_BYTES, any other non-text, non-metadata file from WEIGHT_MIN_BYTES).
# Those the scheme cannot mark (ONNX external data, pickles, GGUF, quantised or
# unmatched safetensors) are withheld: left out of the recipient's listing and signed
# bundle, and refused (403) to a grantee's download.
def withheld_error(path: str) -> RegistryError:
    return RegistryError(403, f"{path} holds weights that cannot carry a per-recipient "
                         "mark; this model's recipients receive its marked safetensors "
                         "files only")  # fmt: skip


def withheld(reg: Registry, row: Version) -> list[str]:
    """The paths of ``row``'s weight files a recipient of a marked copy never receives
    (weights the scheme cannot mark), sorted. Reads the safetensors headers of the
    version's weight files (from an object store: fetched into the marks cache)."""
    reg.classify(row.files)
    return sorted(f.path for f in row.files if f.weight and _markable(reg, f) is None)


def withheld_notes(reg: Registry, s: Session, model: Model,
                   rows: list[Version] | None = None) -> list[str]:  # fmt: skip
    """One line per version of ``model`` (published or held, or ``rows``) with weight
    files its recipients will not receive, when its marks are on; else []."""
    from openward.registry.service import HELD

    if model.watermark != "per-recipient" or model.access_tier == "open":
        return []
    if rows is None:
        rows = list(s.scalars(select(Version).where(
            Version.model_id == model.id, Version.status.in_([VISIBLE, *HELD])
        ).order_by(Version.id)))  # fmt: skip
    notes = []
    for row in rows:
        paths = withheld(reg, row)
        if paths:
            notes.append(f"{_ref(row)}: withheld from recipients of per-recipient marks "
                         f"(weights that cannot carry a mark): {', '.join(paths)}")  # fmt: skip
    return notes


# -- a grant's copy of a version -----------------------------------------------------
_computing: dict[tuple[int, int], tuple[threading.Lock, list[int]]] = {}
"""The copies being computed in this process: a lock and how many callers hold or wait
for it; the entry goes with its last caller."""
_computing_lock = threading.Lock()


@contextlib.contextmanager
def _computing_one(key: tuple[int, int]) -> Iterator[None]:
    """Hold the lock of one grant's copy of one version (callers for the same copy wait
    for each other); the entry is removed when no caller is left."""
    with _computing_lock:
        lock, users = _computing.setdefault(key, (threading.Lock(), [0]))
        users[0] += 1
    try:
        with lock:
            yield
    finally:
        with _computing_lock:
            users[0] -= 1
            if users[0] == 0:
                del _computing[key]


def recipient_copy(reg: Registry, s: Session, grant: Grant, row: Version) -> RecipientCopy:
    """The grant's copy of ``row``: computed (marks streamed through SHA-256, the bundle
    signed) on first use and kept. In one process a second caller waits for the first
    (a grant's precomputation, a download) instead of computing it again; across
    processes a concurrent first use keeps one of the two."""
    query = select(RecipientCopy).where(RecipientCopy.grant_id == grant.id,
                                        RecipientCopy.version_id == row.id)  # fmt: skip
    found = s.scalar(query)
    if found is not None and not _stale(reg, found, row):
        return found
    with _computing_one((grant.id, row.id)):
        found = s.scalar(query)
        if found is not None:
            if not _stale(reg, found, row):
                return found
            # Kept by an older registry that listed the withheld files in the copy: made
            # again (its marked files' digests do not change).
            s.execute(delete(RecipientFile).where(RecipientFile.copy_id == found.id))
            s.delete(found)
            s.flush()
        return _compute_copy(reg, s, grant, row, query)


def _stale(reg: Registry, copy: RecipientCopy, row: Version) -> bool:
    """Whether the kept ``copy`` is not the copy of ``row`` this registry serves: its
    digest is not that of the version's files less the withheld ones, marked files by
    their marked digests (no blob is read)."""
    from openward.signing.manifest import FileDigest, model_digest

    reg.classify(row.files)
    served = [FileDigest(f.path, copy.files.get(f.path, f.sha256), f.size)
              for f in sorted(row.files, key=lambda f: f.path)
              if f.path in copy.files or not f.weight]  # fmt: skip
    return model_digest(served) != copy.digest


def precompute(reg: Registry, grant_ids: list[int]) -> None:
    """Compute the copies of every published version the grants cover, in the background
    (the API's pool) when a grant is made or marks are turned on, so the grantee's first
    look does not wait for the hashing pass. Failures are logged; the first look
    computes what is missing."""
    for gid in grant_ids:
        try:
            with reg.sessions() as s:
                grant = s.get(Grant, gid)
                if grant is None or grant.revoked_at is not None:
                    continue
                model = grant.model
                if model.watermark != "per-recipient" or model.access_tier == "open":
                    continue
                rows = s.scalars(select(Version).where(Version.model_id == model.id,
                                                       Version.status == VISIBLE))  # fmt: skip
                for row in list(rows):
                    if grant.versions is None or row.version in grant.versions:
                        recipient_copy(reg, s, grant, row)
        except Exception:
            _log.exception("precomputing the recipient copies of grant %s failed", gid)


def _compute_copy(reg: Registry, s: Session, grant: Grant, row: Version,
                  query: Any) -> RecipientCopy:  # fmt: skip
    from concurrent.futures import ThreadPoolExecutor

    from openward.signing.bundle import INTOTO_PAYLOAD_TYPE, make_bundle, make_statement, pae
    from openward.signing.keys import key_hint, sign_bytes
    from openward.signing.manifest import FileDigest, Manifest

    key = grant_key(reg, row.model, grant.id)
    reg.classify(row.files)
    files = sorted(row.files, key=lambda f: f.path)
    ref = _ref(row)

    def digest(f: VersionFile) -> str | None:
        """The marked file's SHA-256 (None: served unchanged)."""
        local = _markable(reg, f)
        if local is None:
            return None
        h = hashlib.sha256()
        size = 0
        for chunk in _weights().marked_chunks(local, key):
            h.update(chunk)
            size += len(chunk)
        if size != f.size:
            raise RegistryError(500, f"marking {f.path} of {ref} gave {size} bytes, "
                                f"not {f.size}")  # fmt: skip
        return h.hexdigest()

    # Shards in parallel: hashing and the marking's numpy work release the GIL.
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        shas = list(pool.map(digest, files))
    listed: list[FileDigest] = []
    marked: dict[str, tuple[str, str]] = {}
    for f, sha in zip(files, shas, strict=True):
        if sha is not None:
            marked[f.path] = (sha, f.sha256)
        elif f.weight:
            continue  # withheld: weights without a mark are no file of the copy
        listed.append(FileDigest(f.path, sha or f.sha256, f.size))
    manifest = Manifest(Path("."), listed, ignore_paths=[RECIPIENT_SIGNATURE])
    statement = make_statement(manifest, _ref(row))
    payload = json.dumps(statement, separators=(",", ":")).encode()
    signing = reg.signing_key
    bundle = make_bundle(payload, sign_bytes(signing, pae(INTOTO_PAYLOAD_TYPE, payload)),
                         key_hint(signing.public_key()))  # fmt: skip
    copy = RecipientCopy(grant_id=grant.id, version_id=row.id, digest=manifest.digest,
                         files={p: sha for p, (sha, _) in marked.items()},
                         bundle=json.dumps(bundle))  # fmt: skip
    try:
        with s.begin_nested():
            s.add(copy)
            s.flush()
            for path, (sha, original) in marked.items():
                s.add(RecipientFile(copy_id=copy.id, path=path, sha256=sha, original=original))
            s.flush()
    except IntegrityError:
        found: RecipientCopy | None = s.scalar(query)
        if found is None:
            raise
        return found
    s.commit()
    return copy


def recipient_doc(reg: Registry, s: Session, user: User | None, row: Version,
                  doc: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """A version document as ``user`` downloads it: for a grantee of a marked model, the
    files and digest of their copy, with its registry-signed bundle (``recipient``)."""
    if row.status != VISIBLE:
        return doc
    grant = recipient_grant(reg, s, user, row) if _may_download(reg, s, user, row) else None
    if grant is None:
        return doc
    copy = recipient_copy(reg, s, grant, row)
    reg.classify(row.files)
    held = {f.path for f in row.files if f.weight and f.path not in copy.files}
    if held and "files" in doc:
        doc["files"] = [e for e in doc["files"] or [] if e["path"] not in held]
        if "size" in doc:
            doc["size"] = sum(int(e["size"]) for e in doc["files"])
    for entry in doc.get("files") or []:
        entry["sha256"] = copy.files.get(entry["path"], entry["sha256"])
    doc["original_digest"] = doc["digest"]
    doc["digest"] = copy.digest
    doc["recipient"] = {"grant": grant.id, "digest": copy.digest,
                        "marked_files": sorted(copy.files), "withheld": sorted(held),
                        "bundle": json.loads(copy.bundle),
                        "signature_file": RECIPIENT_SIGNATURE}  # fmt: skip
    return doc


def _may_download(reg: Registry, s: Session, user: User | None, row: Version) -> bool:
    from openward.registry import governance as gov

    try:
        gov.may_download(reg, s, user, row)
    except RegistryError:
        return False
    return True


# -- marked downloads ----------------------------------------------------------------
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive of one ``Range: bytes=…`` (None: the whole file); a
    range this server does not serve raises 416."""
    if header is None:
        return None
    m = _RANGE.match(header.strip().replace(" ", ""))
    if not m or (not m[1] and not m[2]):
        raise RegistryError(416, "a marked file is served whole or in one byte range "
                            "(Range: bytes=START-[END] or bytes=-SUFFIX)",
                            headers={"Content-Range": f"bytes */{size}"})  # fmt: skip
    if not m[1]:
        start, end = max(0, size - int(m[2])), size - 1
    else:
        start = int(m[1])
        end = min(int(m[2]), size - 1) if m[2] else size - 1
    if start >= size or start > end:
        raise RegistryError(416, f"range {header.strip()} is outside the file ({size} bytes)",
                            headers={"Content-Range": f"bytes */{size}"})  # fmt: skip
    return start, end


def marked_download(reg: Registry, s: Session, grant: Grant, row: Version, entry: VersionFile,
                    method: str, range_header: str | None) -> Response | None:  # fmt: skip
    """The response for a grantee's download of ``entry`` when it is a marked file of
    their copy (streamed through the registry, an object store's blob included), or None
    when the file is served unchanged (not weights: configs, tokenizers...). A weight
    file without a mark is withheld: 403, whatever the route, method or range."""
    from starlette.responses import Response, StreamingResponse

    copy = recipient_copy(reg, s, grant, row)
    sha = copy.files.get(entry.path)
    if sha is None:
        reg.classify([entry])
        if entry.weight:
            raise withheld_error(entry.path)
        return None
    key = grant_key(reg, row.model, grant.id)
    local = local_blob(reg, entry.sha256)
    size = entry.size
    span = _byte_range(range_header, size)
    headers = {"X-Sha256": sha, "Accept-Ranges": "bytes", "Cache-Control": "private"}
    if method == "HEAD":
        return Response(status_code=200, media_type="application/octet-stream",
                        headers={**headers, "Content-Length": str(size)})  # fmt: skip
    if span is None:
        chunks = _weights().marked_chunks(local, key)
        return StreamingResponse(chunks, media_type="application/octet-stream",
                                 headers={**headers, "Content-Length": str(size)})  # fmt: skip
    # a range (a resumed pull) is read and marked from its first byte, not from the file's:
    # any element's mark is computed from its index alone
    start, end = span
    chunks = _weights().marked_chunks(local, key, start=start, end=end + 1)
    headers.update({"Content-Range": f"bytes {start}-{end}/{size}",
                    "Content-Length": str(end - start + 1)})  # fmt: skip
    return StreamingResponse(chunks, status_code=206, media_type="application/octet-stream",
                             headers=headers)  # fmt: skip


# -- settings --------------------------------------------------------------------------
def set_watermark(s: Session, model: Model, watermark: str, by: str) -> bool:
    """Set the model's watermark (the caller checked ``by`` may: a user's name, or
    ``policy``); True if it changed (logged as ``watermark``)."""
    if watermark not in WATERMARKS:
        raise RegistryError(422, "watermark must be none or per-recipient")
    if watermark == "per-recipient" and model.access_tier == "open":
        raise RegistryError(422, f"{_model_name(model)} is open: per-recipient marks need a "
                            "gated or restricted tier (--tier gated)")  # fmt: skip
    if model.watermark == watermark:
        return False
    old = model.watermark
    model.watermark = watermark
    tlog.append(s, "watermark", {"model": _model_name(model), "watermark": watermark,
                                 "previous": old, "by": by})  # fmt: skip
    return True


# -- traces -----------------------------------------------------------------------------
def may_trace(reg: Registry, s: Session, user: User | None, org: str, name: str) -> Model:
    """The model, if ``user`` may trace copies of it (its publishers and admins)."""
    model = s.scalar(
        select(Model).join(Organisation).where(Organisation.name == org, Model.name == name)
    )
    if model is None:
        raise RegistryError(404, f"model {org}/{name} does not exist")
    if user is None:
        raise RegistryError(401, "a trace needs a token (--token or OPENWARD_TOKEN)")
    if not (user.is_admin or reg.can_publish(s, user, org)):
        raise RegistryError(403, f"only a publisher of {org!r} or an admin may trace copies "
                            f"of {org}/{name}")  # fmt: skip
    return model


def unpack_suspect(archive: Path, out: Path) -> tuple[str, dict[str, str]]:
    """Extract the uploaded tar (regular files only, paths checked as a manifest's are)
    into ``out``; returns the suspect's manifest digest and {path: sha256}. Nothing in
    it is executed or unpickled: the detector reads safetensors headers and tensors."""
    from openward.registry.paths import safe_target
    from openward.registry.service import check_path
    from openward.signing.manifest import FileDigest, model_digest

    files: dict[str, str] = {}
    sizes: dict[str, int] = {}
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:") as tar:
            for member in tar:
                if len(files) >= MAX_TRACE_FILES:
                    raise RegistryError(422, f"more than {MAX_TRACE_FILES} files uploaded")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise RegistryError(422, f"{member.name!r}: only regular files are traced")
                if member.issparse() or member.type == tarfile.GNUTYPE_SPARSE:
                    # its holes would be written out: far more bytes than were uploaded
                    raise RegistryError(422, f"{member.name!r}: a sparse tar member; send "
                                        "the files as they are (openward trace does)")  # fmt: skip
                rel = check_path(member.name)
                if rel in files:
                    raise RegistryError(422, f"{rel} was uploaded twice")
                try:
                    target = safe_target(out, rel)
                except Exception as exc:  # ClientError: the same path rules, said once
                    raise RegistryError(422, str(exc)) from None
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                h = hashlib.sha256()
                with source, open(target, "wb") as fh:
                    while block := source.read(1 << 20):
                        h.update(block)
                        fh.write(block)
                files[rel] = h.hexdigest()
                sizes[rel] = member.size
    except tarfile.TarError as exc:
        raise RegistryError(422, f"the upload is not a tar of the suspect's files: {exc}") from None
    if not files:
        raise RegistryError(422, "no files uploaded: send the suspect's weight files as a tar")
    digest = model_digest([FileDigest(p, files[p], sizes[p]) for p in sorted(files)])
    return digest, files


def _candidates(s: Session, model: Model) -> list[Version]:
    """The model's versions whose weights a copy may be cut from, newest first."""
    from openward.registry.service import HELD, TAKEN_DOWN

    return list(s.scalars(
        select(Version).where(Version.model_id == model.id,
                              Version.status.in_([VISIBLE, TAKEN_DOWN, *HELD]))
        .order_by(Version.id.desc())
    ))  # fmt: skip


def trace_suspect(reg: Registry, user_id: int, org: str, name: str, suspect: Path,
                  digest: str, work: Path, threshold: float = 1e-6) -> dict[str, Any]:  # fmt: skip
    """Which grant's mark the suspect (extracted under ``suspect``) carries: the detector
    runs with the key of every grant the model ever had (revoked and expired ones too: a
    copy may leak after its grant ends) against the stored original of the first version,
    newest first, whose tensors the suspect's match. Logged (``trace``) whatever the
    outcome; a suspect that is no version's copy raises 422 "not a copy of this model"."""
    weights = _weights()
    with reg.sessions() as s:
        user = s.get(User, user_id)
        assert user is not None
        model = may_trace(reg, s, user, org, name)
        grants = {g.id: g for g in s.scalars(select(Grant).where(Grant.model_id == model.id))}
        keys = {str(gid): grant_key(reg, model, gid) for gid in grants}
        chosen: Version | None = None
        matches: list[Any] = []
        nearest: tuple[float, Version, Path] | None = None

        def unreadable(exc: Exception, root: Path) -> RegistryError:
            # Said without the server's paths.
            why = str(exc).replace(str(root), "the original").replace(str(suspect), "")
            return RegistryError(422, f"cannot trace the upload: {why}")

        # The version the suspect is nearest, not the newest it resembles: a later version
        # fine-tuned from an earlier one passes for a copy of it, and a copy of the earlier
        # one traced against it loses its mark in their difference.
        for row in _candidates(s, model):
            reg.classify(row.files)
            originals = [f for f in row.files if f.weight]
            if not originals:
                continue
            root = work / f"original-{row.id}"
            reg.blobs.link_many([(f.sha256, f.size, root / f.path) for f in originals])
            try:
                far = weights.distance(root, suspect)
            except weights.NotACopy:
                continue
            except weights.WatermarkError as exc:
                raise unreadable(exc, root) from None
            if nearest is None or far < nearest[0]:
                nearest = (far, row, root)
        if nearest is not None:
            _, row, root = nearest
            try:
                matches = weights.trace(root, suspect, keys, threshold=threshold)
                chosen = row
            except weights.NotACopy:
                chosen = None  # nearest, yet not a copy: logged and answered as "not-a-copy"
            except weights.WatermarkError as exc:
                raise unreadable(exc, root) from None
        found = []
        for m in sorted(matches, key=lambda m: m.p_value):
            g = grants.get(int(m.grant))
            if g is None:
                continue
            found.append({
                "grant": g.id, "user": g.user.name if g.user else None,
                "organisation": g.organisation.name if g.organisation else None,
                "p_value": m.p_value, "z": m.z,
                "granted_at": g.created_at.isoformat(timespec="seconds") if g.created_at else None,
                "revoked": g.revoked_at is not None,
            })  # fmt: skip
        result = "not-a-copy" if chosen is None else ("match" if found else "none")
        index = tlog.append(s, "trace", {
            "model": f"{org}/{name}", "by": user.name, "suspect": digest,
            "version": chosen.version if chosen is not None else None,
            "result": result, "grants": [m["grant"] for m in found],
        })  # fmt: skip
        s.commit()
        if chosen is None:
            raise RegistryError(422, f"not a copy of this model: the suspect's weights match "
                                f"no version of {org}/{name}")  # fmt: skip
        return {"model": f"{org}/{name}", "version": chosen.version, "suspect": digest,
                "grants_tested": len(keys), "threshold": threshold, "matches": found,
                "log_index": index}  # fmt: skip


# -- the client's side of a trace: the suspect's markable files as a tar stream ----------
def suspect_files(model: Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, file) of the weight files under ``model`` (a folder or one
    file) the detector reads: markable safetensors and GGUF conversions; symbolic links
    are not followed."""
    weights = _weights()
    if model.is_file():
        return [(model.name, model)] if weights.is_markable(model) or _is_gguf(model) else []
    out = []
    for path in sorted(model.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(model).as_posix()
        if rel.split("/")[0] in (".git", ".cache") or rel.endswith(".sig"):
            continue
        if weights.is_markable(path) or _is_gguf(path):
            out.append((rel, path))
    return out


def _is_gguf(path: Path) -> bool:
    """A GGUF file (by its magic): a quantized conversion the detector reads too."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"GGUF"
    except OSError:
        return False


def _tar_header(rel: str, size: int) -> bytes:
    info = tarfile.TarInfo(rel)
    info.size = size
    info.mode = 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT)


def tar_size(files: list[tuple[str, Path]]) -> int:
    """The length of :func:`tar_stream`'s bytes."""
    total = 1024
    for rel, path in files:
        size = path.stat().st_size
        total += len(_tar_header(rel, size)) + size + (-size % 512)
    return total


def tar_stream(files: list[tuple[str, Path]], block: int = 1 << 20) -> Iterator[bytes]:
    """An uncompressed tar of ``files``, produced as it is sent (nothing staged)."""
    for rel, path in files:
        size = path.stat().st_size
        yield _tar_header(rel, size)
        sent = 0
        with open(path, "rb") as fh:
            while sent < size and (data := fh.read(min(block, size - sent))):
                sent += len(data)
                yield data
        if sent != size:
            raise OSError(f"{path} changed while it was being sent")
        if size % 512:
            yield b"\0" * (-size % 512)
    yield b"\0" * 1024


# -- `openward check` on a recipient's copy ----------------------------------------------
def export_copies(reg: Registry, s: Session, user: User | None,
                  among: set[str] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Every marked file of every recipient copy of a version the caller may see (or
    those whose SHA-256 is in ``among``): its SHA-256, the published file's it marks, the
    version; the grant and its holder only for the model's publishers and admins (others
    learn "a recipient copy of V")."""
    query = (
        select(RecipientFile, RecipientCopy, Version)
        .join(RecipientCopy, RecipientFile.copy_id == RecipientCopy.id)
        .join(Version, RecipientCopy.version_id == Version.id)
        .order_by(RecipientFile.id)
    )  # fmt: skip
    if among is None:
        rows = list(s.execute(query).all())
    else:
        wanted, rows = sorted(among), []
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            rows += s.execute(query.where(RecipientFile.sha256.in_(part))).all()
    seen: dict[int, bool] = {}
    owner: dict[int, bool] = {}
    out = []
    for rf, copy, row in rows:
        if row.id not in seen:
            seen[row.id] = reg.may_see(s, user, row)
        if not seen[row.id]:
            continue
        if row.model_id not in owner:
            owner[row.model_id] = user is not None and (
                user.is_admin or reg.can_publish(s, user, row.model.organisation.name)
            )
        doc: dict[str, Any] = {"sha256": rf.sha256, "original": rf.original, "path": rf.path,
                               "name": _model_name(row.model), "version": row.version,
                               "digest": copy.digest, "original_digest": row.digest}  # fmt: skip
        if owner[row.model_id]:
            grant = copy.grant
            doc["grant"] = grant.id
            doc["user"] = grant.user.name if grant.user else None
            doc["organisation"] = grant.organisation.name if grant.organisation else None
        out.append(doc)
    return out


Related = tuple[dict[str, str], str | None, dict[str, Any] | None]


def relate_copy(entries: object, files: dict[str, str]) -> Related:
    """A copy on disk ({path: sha256}) seen through the export's ``recipient_copies``: the
    files as published (each marked file replaced by the file it marks), their manifest
    digest, and what the copy is (None: no marked file of any recipient copy)."""
    from openward.signing.manifest import FileDigest, model_digest

    known = {str(e["sha256"]): e for e in entries if isinstance(e, dict) and "sha256" in e} \
        if isinstance(entries, list) else {}  # fmt: skip
    hits = [known[d] for d in files.values() if d in known]
    if not hits:
        return files, None, None
    # The bundle `pull` writes inside the copy is no file of the version.
    original = {p: str(known[d].get("original", d)) if d in known else d
                for p, d in files.items() if p != RECIPIENT_SIGNATURE}  # fmt: skip
    digest = model_digest([FileDigest(p, original[p], 0) for p in sorted(original)])
    first = hits[0]
    about: dict[str, Any] = {"name": first.get("name"), "version": first.get("version"),
                             "marked_files": sorted(p for p, d in files.items() if d in known),
                             "exact": digest == first.get("original_digest")
                             and first.get("digest") is not None}  # fmt: skip
    for k in ("grant", "user", "organisation"):
        if k in first:
            about[k] = first[k]
    return original, digest, about
