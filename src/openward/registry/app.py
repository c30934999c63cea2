"""The registry's HTTP API (``/api/v1``), a FastAPI application.

Handlers never hash or write files on the event loop: blob uploads stream through
``FileBlobStore.put`` (disk and SHA-256 in worker threads), downloads are served by
``FileResponse`` (which honours Range and HEAD), and the check pipeline runs in a
thread pool after the commit request has been answered.
"""

import logging
import os
import re
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, selectinload, undefer

from openward._version import __version__
from openward.registry import governance as gov
from openward.registry import marks
from openward.registry.api_accounts import add_account_routes
from openward.registry.api_governance import add_governance_routes
from openward.registry.api_textmarks import add_text_watermark_routes
from openward.registry.blobs import (
    BlobMismatch,
    BlobTooLarge,
    FileBlobStore,
    InsufficientStorage,
    PartialUploads,
    Space,
    is_digest,
    is_disk_full,
    open_blob_store,
    prove,
)
from openward.registry.db import make_engine, migrate, session_factory
from openward.registry.models import Model, Organisation, StatusEvent, User, Version
from openward.registry.service import FINAL, Registry, RegistryError, Settings, check_path

__all__ = ["create_app"]


class FileEntry(BaseModel):
    path: str = Field(max_length=1000)
    size: int
    sha256: str = Field(max_length=64)


class PushRequest(BaseModel):
    version: str = Field(max_length=100)
    files: list[FileEntry]
    signature: str | None = Field(default=None, max_length=64 << 20)


class UserRequest(BaseModel):
    name: str = Field(max_length=100)
    organisation: str | None = Field(default=None, max_length=100)
    role: str = "publisher"


def _version_doc(row: Version, *, full: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": f"{row.model.organisation.name}/{row.model.name}",
        "version": row.version,
        "digest": row.digest,
        "status": row.status,
        "reasons": row.reasons,
        "size": row.size,
        "access_tier": row.model.access_tier,
        "created_at": row.created_at.isoformat(),
        "recheck_pending": row.recheck_requested_at is not None,
        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in row.files],
    }
    facts = row.facts or {}
    params = facts.get("parameters") if isinstance(facts, dict) else None
    doc["parameters"] = params.get("total") if isinstance(params, dict) else None
    if full:
        doc["facts"] = row.facts
        doc["scan_report"] = row.scan_report
        doc["signature"] = row.signature
        doc["signature_status"] = row.signature_status
    return doc


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


STORAGE_FULL = (
    "the registry ran out of storage space while storing this; nothing of it was kept: "
    "try again later (its operator must free or add space)"
)


def storage_full(exc: BaseException) -> bool:
    """A full disk, seen through the database (SQLite: 'database or disk is full';
    PostgreSQL: SQLSTATE 53100) or a file write (ENOSPC, EDQUOT)."""
    if is_disk_full(exc):
        return True
    orig = getattr(exc, "orig", None)
    if orig is None:
        return False
    return getattr(orig, "sqlstate", None) == "53100" or "disk is full" in str(orig)


def create_app(settings: Settings) -> FastAPI:
    if settings.policy is not None:
        from openward.facts.policy import load_policy

        load_policy(settings.policy)  # a malformed policy stops the start, not every check
    settings.data.mkdir(mode=0o700, parents=True, exist_ok=True)  # weights of restricted models
    # Space first: a disk that partial uploads filled must not stop the database.
    space = Space(settings.data, settings.min_free_bytes)
    partials = PartialUploads(settings.data, expiry=settings.partial_expiry_seconds,
                              quota=settings.partial_quota_bytes, space=space)  # fmt: skip
    partials.sweep()
    url = settings.database_url or f"sqlite:///{settings.data / 'registry.db'}"
    engine = make_engine(url)
    migrate(engine)
    sessions = session_factory(engine)
    blobs = open_blob_store(settings.blob_url, settings.data)
    registry = Registry(settings, sessions, blobs)
    registry.signing_key  # created here, before any worker needs it  # noqa: B018
    registry.sweep_scratch()  # what checks killed with the last server left behind
    # The mark secret, checked against the fingerprint the database records: a missing or
    # replaced secret stops the start (MarkSecretError) instead of serving untraceable
    # copies. Workers never read it.
    registry.mark_secret  # noqa: B018
    marks.sweep_marks_cache(registry)
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="checks")

    def enqueue(version_id: int) -> None:
        if settings.broker_url:
            from openward.registry.tasks import check_version

            queue = os.environ.get("OPENWARD_QUEUE", "openward-checks")
            check_version.apply_async((version_id,), queue=queue)
        else:
            pool.submit(registry.run_checks, version_id)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Versions a killed server left in "checking", or waiting for a recheck, are
        # checked again (a repeated check of one version is harmless).
        with sessions() as s:
            pending = s.scalars(select(Version.id).where(
                (Version.status == "checking") | Version.recheck_requested_at.is_not(None)
            ).order_by(Version.id)).all()  # fmt: skip
        for vid in pending:
            enqueue(vid)

        async def sweep_now_and_then() -> None:
            # Expired partial uploads go even on a server that receives no new ones.
            while True:
                await anyio.sleep(max(60.0, min(3600.0, settings.partial_expiry_seconds / 4)))
                await anyio.to_thread.run_sync(partials.sweep)
                try:
                    await anyio.to_thread.run_sync(marks.sweep_marks_cache, registry)
                except Exception:  # the next sweep tries again
                    logging.getLogger("openward.registry").exception("marks cache sweep")

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(sweep_now_and_then)
            yield
            tasks.cancel_scope.cancel()
        pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="openward registry", version=__version__, lifespan=lifespan)
    app.state.registry = registry
    app.state.enqueue = enqueue
    app.state.check_pool = pool  # the embedded configuration's check threads
    app.state.bytes_received = 0

    @app.exception_handler(RegistryError)
    async def _refusal(request: Request, exc: RegistryError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status,
                            headers=exc.headers)  # fmt: skip

    async def _full(request: Request, exc: Exception) -> JSONResponse:
        if not storage_full(exc):
            raise exc
        return JSONResponse({"detail": STORAGE_FULL}, status_code=507,
                            headers={"Retry-After": "60"})  # fmt: skip

    # Anything that fails on a full disk says so (507), instead of a bare 500.
    app.add_exception_handler(OperationalError, _full)
    app.add_exception_handler(OSError, _full)

    async def authenticated(token: str) -> bool:
        def valid() -> bool:
            with sessions() as s:
                try:
                    return registry.user_for(s, token) is not None
                except RegistryError:
                    return False

        return await anyio.to_thread.run_sync(valid)

    from openward.registry.limits import BodyLimit
    from openward.registry.web import MAX_FORM_BYTES

    app.add_middleware(
        BodyLimit, json_bytes=settings.max_json_bytes, manifest_bytes=settings.max_manifest_bytes,
        form_bytes=MAX_FORM_BYTES, authenticated=authenticated,
    )  # fmt: skip

    def db() -> Iterator[Session]:
        with sessions() as s:
            yield s

    DB = Annotated[Session, Depends(db)]

    def actor(s: DB, authorization: Annotated[str | None, Header()] = None) -> User | None:
        token = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value:
                raise RegistryError(401, "use 'Authorization: Bearer TOKEN'")
            token = value.strip()
        return registry.user_for(s, token)

    Actor = Annotated[User | None, Depends(actor)]
    add_governance_routes(app, registry, DB, Actor)
    add_account_routes(app, registry, DB, Actor)
    add_text_watermark_routes(app, registry, DB, Actor)

    @app.get("/api/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.post("/api/v1/users", status_code=201)
    def create_user(
        body: UserRequest,
        s: DB,
        user: Actor,
    ) -> dict[str, str]:
        token = registry.create_user(s, user, body.name, body.organisation, body.role)
        s.commit()
        return {"name": body.name, "token": token}

    @app.post("/api/v1/models/{org}/{name}/versions", status_code=201)
    def push(
        org: str,
        name: str,
        body: PushRequest,
        s: DB,
        user: Actor,
    ) -> dict[str, Any]:
        files = [f.model_dump() for f in body.files]
        for attempt in range(5):
            try:
                row, missing = registry.start_version(
                    s, user, org, name, body.version, files, body.signature
                )
                s.commit()
                break
            except IntegrityError:
                # A concurrent push created the same organisation, model or version
                # first: start again and find it.
                s.rollback()
                if attempt == 4:
                    raise RegistryError(409, "concurrent pushes collided; try again") from None
        return {"name": f"{org}/{name}", "version": row.version, "digest": row.digest,
                "status": row.status, "missing": missing}  # fmt: skip

    @app.put("/api/v1/blobs/{digest}", status_code=201)
    async def upload(
        digest: str,
        request: Request,
        s: DB,
        user: Actor,
    ) -> dict[str, Any]:
        """Upload a blob a manifest of yours lists: whole, or in ``Content-Range`` parts
        kept per uploader until the last arrives (``GET /api/v1/uploads/{digest}`` says
        where to continue). Never more bytes than declared; 507 when the disk cannot
        hold them or your resumable uploads in progress would exceed your quota."""
        if not is_digest(digest):
            raise RegistryError(422, "a blob is named by its 64-hex-digit SHA-256")
        size = registry.expected_size(s, user, digest)
        assert user is not None  # expected_size refused anonymous callers
        uploader = user.id
        held = registry.held_for(s, user, digest)
        s.close()
        content_range = request.headers.get("content-range")
        start, end = 0, size - 1
        if content_range:
            m = re.match(r"^bytes (\d+)-(\d+)/(\d+)$", content_range.strip())
            if not m or int(m[3]) != size or int(m[1]) > int(m[2]) or int(m[2]) >= size:
                raise RegistryError(422, f"Content-Range must be 'bytes START-END/{size}' "
                                         f"with START <= END < {size}")  # fmt: skip
            start, end = int(m[1]), int(m[2])
        try:
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            raise RegistryError(400, "bad Content-Length") from None
        if declared > end - start + 1:  # refused before a byte is read
            raise RegistryError(413, f"blob {digest} is larger than the manifest says ({size})")
        try:
            if content_range:
                if held:
                    return {"sha256": digest, "size": size, "received": size}
                try:
                    received, complete = await partials.append(
                        uploader, digest, start, end, size, space.guard(request.stream())
                    )
                except ValueError as exc:
                    raise RegistryError(409, str(exc)) from None
                if complete is not None:
                    if blobs.has(digest):  # stored already: the upload proved possession
                        complete.unlink(missing_ok=True)
                    else:
                        await blobs.commit_file(digest, complete)
                    registry.record_owner(uploader, digest)
                app.state.bytes_received += received - start
                return {"sha256": digest, "size": size, "received": received}
            already = blobs.has(digest)
            if already and not held:
                # Stored, but this user must show they hold the bytes: hash what they
                # send against the digest, keep nothing.
                written = await prove(digest, size, request.stream())
            elif already:
                written = await blobs.put(digest, size, request.stream())  # drains the body
            else:
                with space.claim(size, f"blob {digest}"):
                    written = await blobs.put(digest, size, space.guard(request.stream()))
            registry.record_owner(uploader, digest)
            if not already:
                app.state.bytes_received += written
        except BlobTooLarge:
            raise RegistryError(
                413, f"blob {digest} is larger than the manifest says ({size})"
            ) from None
        except BlobMismatch as exc:
            raise RegistryError(
                422, f"the bytes sent hash to {exc.actual} ({exc.size} bytes), not {digest} "
                f"({size} bytes): the file changed while uploading, or the manifest is wrong"
            ) from None  # fmt: skip
        except InsufficientStorage as exc:
            raise RegistryError(507, str(exc)) from None
        except OSError as exc:
            if is_disk_full(exc):
                raise RegistryError(507, STORAGE_FULL, headers={"Retry-After": "60"}) from None
            raise
        return {"sha256": digest, "size": written}

    class KeyRequest(BaseModel):
        pem: str = Field(max_length=16384)
        challenge: str | None = Field(default=None, max_length=2048)
        """From ``POST /api/v1/keys/challenge``."""
        signature: str | None = Field(default=None, max_length=1024)
        """Base64 signature of the challenge's ``message`` by the key's private key."""

    @app.post("/api/v1/keys", status_code=201)
    def add_key(body: KeyRequest, s: DB, user: Actor) -> dict[str, str]:
        """Register a public key, with proof that the caller holds its private key (a
        signed challenge); signatures uploaded with pushes are checked against it."""
        hint = registry.add_key(s, user, body.pem, body.challenge, body.signature)
        s.commit()
        return {"hint": hint}

    @app.get("/api/v1/uploads/{digest}")
    def upload_state(digest: str, s: DB, user: Actor) -> dict[str, Any]:
        """How many bytes of a resumable upload the server holds."""
        if not is_digest(digest):
            raise RegistryError(422, "a blob is named by its 64-hex-digit SHA-256")
        size = registry.expected_size(s, user, digest)
        assert user is not None  # expected_size refused anonymous callers
        done = registry.held_for(s, user, digest)
        return {"sha256": digest, "size": size,
                "received": size if done else partials.received(user.id, digest, size)}  # fmt: skip

    @app.post("/api/v1/models/{org}/{name}/versions/{version}/commit", status_code=202)
    async def commit(
        org: str,
        name: str,
        version: str,
        s: DB,
        user: Actor,
    ) -> dict[str, Any]:
        row = registry.ready_to_check(s, user, org, name, version)
        s.commit()
        if row.status == "checking":
            enqueue(row.id)
        return _version_doc(row)

    @app.get("/api/v1/models/{org}/{name}/versions/{version}")
    def get_version(
        org: str,
        name: str,
        version: str,
        s: DB,
        user: Actor,
    ) -> dict[str, Any]:
        row = registry.find_version(s, user, org, name, version)
        doc = _version_doc(row, full=True)
        from openward.registry.lineage import lineage_doc

        doc["lineage"] = lineage_doc(registry, s, user, row)
        doc["watermark"] = row.model.watermark
        from openward.registry.textmarks import key_doc, registered

        doc["text_watermark"] = key_doc(row.model, registered(s, row.model))
        doc = marks.recipient_doc(registry, s, user, row, doc)
        doc["history"] = [
            {"status": e.status, "reasons": e.reasons, "at": e.at.isoformat()}
            for e in s.scalars(select(StatusEvent).where(StatusEvent.version_id == row.id)
                               .order_by(StatusEvent.id))
        ]  # fmt: skip
        return doc

    @app.head(
        "/api/v1/models/{org}/{name}/versions/{version}/files/{path:path}",
        operation_id="head_file",
    )
    @app.get(
        "/api/v1/models/{org}/{name}/versions/{version}/files/{path:path}",
        operation_id="download_file",
    )
    def download(
        org: str,
        name: str,
        version: str,
        path: str,
        s: DB,
        user: Actor,
        request: Request,
    ) -> Response:
        check_path(path, windows=False)  # files published before the Windows rules too
        row = registry.find_version(s, user, org, name, version)
        gov.may_download(registry, s, user, row)
        entry = registry.version_file(s, row, path)  # never the whole file list
        digest = entry.sha256
        if request.method == "GET" and (user is not None or "range" not in request.headers):
            # Every fetch by a known user (range requests included: how a range starts
            # must not decide whether it is logged), one record per file and hour.
            gov.log_download(s, user, bearer_token(request), row, path)
        grant = marks.recipient_grant(registry, s, user, row)
        if grant is not None:
            # A grantee of a marked model: their copy's bytes, streamed through the
            # registry (never a redirect to the object store's original).
            marked = marks.marked_download(registry, s, grant, row, entry, request.method,
                                           request.headers.get("range"))  # fmt: skip
            if marked is not None:
                s.close()
                return marked
        s.close()  # the bytes are streamed without holding a database connection
        if not isinstance(blobs, FileBlobStore):
            return RedirectResponse(blobs.url(digest), status_code=307)
        return FileResponse(blobs.path(digest), headers={"X-Sha256": digest},
                            media_type="application/octet-stream")  # fmt: skip

    @app.post("/api/v1/models/{org}/{name}/trace")
    async def trace(org: str, name: str, request: Request, s: DB, user: Actor) -> dict[str, Any]:
        """Which grant's per-recipient mark a suspect copy carries (publishers of the model
        and admins). The body is an uncompressed tar of the suspect's weight files
        (``openward trace`` sends its markable safetensors files), at most
        ``max_trace_bytes``; the grant keys never leave the registry. Recorded in the
        transparency log (``trace``). 422 "not a copy of this model" when the weights
        match no version's tensors."""
        marks.may_trace(registry, s, user, org, name)
        assert user is not None
        user_id = user.id
        s.close()
        limit = settings.max_trace_bytes
        try:
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            raise RegistryError(400, "bad Content-Length") from None
        too_big = f"the suspect's files are larger than the registry's trace limit ({limit} bytes)"
        if declared > limit:
            raise RegistryError(413, too_big)
        from openward.registry.service import check_scratch

        with check_scratch(registry.scratch_root) as work:
            archive = work / "suspect.tar"
            received = 0
            try:
                with space.claim(declared, "a trace upload"):
                    fh = await anyio.to_thread.run_sync(lambda: open(archive, "wb"))  # noqa: SIM115
                    try:
                        async for chunk in space.guard(request.stream()):
                            received += len(chunk)
                            if received > limit:
                                raise RegistryError(413, too_big)
                            await anyio.to_thread.run_sync(fh.write, chunk)
                    finally:
                        fh.close()
            except InsufficientStorage as exc:
                raise RegistryError(507, str(exc)) from None

            def run() -> dict[str, Any]:
                digest, _ = marks.unpack_suspect(archive, work / "suspect")
                archive.unlink()
                return marks.trace_suspect(registry, user_id, org, name, work / "suspect",
                                           digest, work)  # fmt: skip

            result: dict[str, Any] = await anyio.to_thread.run_sync(run)
        return result

    @app.get("/api/v1/models/{org}/{name}/versions/{version}/attestation")
    def attestation(org: str, name: str, version: str, s: DB, user: Actor) -> Response:
        row = registry.find_version(s, user, org, name, version)
        if not row.attestation:
            raise RegistryError(404, f"{org}/{name}:{row.version} has not been decided yet")
        return Response(row.attestation, media_type="application/json")

    @app.get("/api/v1/registry/key")
    def registry_key() -> Response:
        """The public key that signs the registry's decisions (PEM)."""
        return Response(registry.public_key_pem(), media_type="application/x-pem-file")

    @app.get("/api/v1/admin/stats")
    def stats(s: DB, user: Actor) -> dict[str, Any]:
        """Counters of this server process, and the registry's check backlog (admin only):
        versions in their first check, and decided versions waiting for a recheck."""
        if user is None or not user.is_admin:
            raise RegistryError(403 if user else 401, "only an admin may read the counters")
        checking = s.scalar(select(func.count()).where(Version.status == "checking"))
        recheck = s.scalar(select(func.count()).where(Version.recheck_requested_at.is_not(None)))
        return {"bytes_received": app.state.bytes_received, "checking": checking,
                "recheck_pending": recheck}  # fmt: skip

    @app.post("/api/v1/admin/rescan", status_code=202)
    def rescan(s: DB, user: Actor) -> dict[str, Any]:
        ids = registry.rescan(s, user)
        s.commit()
        for vid in ids:
            enqueue(vid)
        return {"queued": len(ids)}

    @app.post("/api/v1/tokens", status_code=201)
    def new_token(body: UserRequest, s: DB, user: Actor) -> dict[str, str]:
        token = registry.create_user(s, user, body.name, body.organisation, body.role)
        s.commit()
        return {"name": body.name, "token": token}

    @app.get("/api/v1/models")
    def search(
        s: DB,
        user: Actor,
        q: str = "",
        status: str | None = None,
        organisation: str | None = None,
        architecture: str | None = None,
        license: str | None = None,
        tier: str | None = None,
        min_parameters: int | None = None,
        max_parameters: int | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=1 << 40)] = 0,
    ) -> dict[str, Any]:
        """Versions visible to the caller, filtered by name, organisation, status,
        architecture family, card license, crossed compute tier and parameter range;
        ``limit`` results from ``offset`` (``next_offset`` is null on the last page)."""
        # Each result lists its files: load them for a batch of versions at a time.
        query = (select(Version).join(Model).join(Organisation).order_by(Version.id)
                 .options(selectinload(Version.files), undefer(Version.facts)))  # fmt: skip
        if organisation:
            query = query.where(Organisation.name == organisation)
        if status:
            query = query.where(Version.status == status)
        out: list[dict[str, Any]] = []
        matched = 0
        if q:
            query = query.where(
                (Organisation.name + "/" + Model.name).icontains(q, autoescape=True)
            )
        for row in s.scalars(query.execution_options(yield_per=500)):
            full = f"{row.model.organisation.name}/{row.model.name}"
            if q and q.lower() not in full.lower():
                continue
            if not registry.may_see(s, user, row):
                continue
            facts: dict[str, Any] = row.facts if isinstance(row.facts, dict) else {}
            arch: dict[str, Any] = facts.get("architecture") or {}
            card: dict[str, Any] = facts.get("card") or {}
            params = (facts.get("parameters") or {}).get("total")
            tiers = {t.get("id") for t in facts.get("tiers") or [] if t.get("crossed")}
            if architecture and arch.get("family") != architecture:
                continue
            if license and card.get("license") != license:
                continue
            if tier and tier not in tiers:
                continue
            if min_parameters is not None and (params is None or params < min_parameters):
                continue
            if max_parameters is not None and (params is None or params > max_parameters):
                continue
            doc = _version_doc(row)
            doc["architecture"] = arch.get("family")
            doc["license"] = card.get("license")
            doc["tiers"] = sorted(t for t in tiers if t)
            matched += 1
            if matched <= offset:
                continue
            if len(out) == limit:
                return {"results": out, "next_offset": offset + limit}
            out.append(doc)
        return {"results": out, "next_offset": None}

    app.state.final = FINAL
    from openward.registry.web import add_web_routes

    add_web_routes(app, registry, sessions)  # the web UI: pages, sessions, CSRF, CSP
    return app


def data_path(text: str) -> Path:
    return Path(text).expanduser().resolve()
