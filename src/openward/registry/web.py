"""The registry's web UI: server-rendered pages on the API's own FastAPI app.

Jinja2 templates with autoescaping, one stylesheet and no JavaScript at all: the
Content-Security-Policy every page carries forbids scripts, so text from models
(names, file paths, scan findings) can only ever be shown as text. Model cards are
Markdown rendered with raw HTML off and links sanitised (``cards.render_card``).

Sign-in is the registry's only credential, an API token, pasted once; the session
then holds the user's id, the token's id and a random session id in a signed cookie
(Starlette's ``SessionMiddleware``: HttpOnly, SameSite=Lax, Secure with
``OPENWARD_SECURE_COOKIES=1``). The database keeps the session id's SHA-256
(``web_sessions``, 12 h), and every request checks that the session has not been
signed out or expired and that the token is still valid: signing out ends the
session on the server (a copy of the cookie is worth nothing afterwards), and
revoking the token signs the browser out too. Pages act with the token's scope.
The signing secret comes from ``OPENWARD_SESSION_SECRET`` (set it on every replica
of a scale-out deployment) or a file ``session-secret`` (mode 0600) created once in
the data directory.

Every form carries a per-session CSRF token, checked on every POST together with
the ``Origin`` and ``Sec-Fetch-Site`` headers: a POST from another site gets 403.
The origin is compared with ``Host`` (or ``X-Forwarded-Host``: a reverse proxy in
front must pass one of them through unchanged).
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' parameter
# types (the DB, viewer and form dependencies declared in add_web_routes).

import contextlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Final
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker, undefer
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openward._version import __version__
from openward.registry import governance as gov
from openward.registry.accounts import principal
from openward.registry.blobs import FileBlobStore, S3BlobStore
from openward.registry.cards import render_card
from openward.registry.models import (
    Advisory,
    Audit,
    LogEntry,
    Model,
    Organisation,
    StatusEvent,
    Token,
    User,
    Version,
    VersionFile,
    WebSession,
)
from openward.registry.service import (
    TAKEN_DOWN,
    VISIBLE,
    Registry,
    RegistryError,
    check_path,
    hash_token,
)

__all__ = ["CSP", "add_web_routes", "session_secret"]

TEMPLATES: Final = Path(__file__).parent / "templates"
RowId = Annotated[int, PathParam(ge=0, le=1 << 62)]
"""A database id in a URL: bounded, so a huge number is a 422, not an overflow."""
SESSION_COOKIE: Final = "openward_session"
SESSION_MAX_AGE: Final = 12 * 3600
CSP: Final = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
)
PAGE_HEADERS: Final = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
_NOT_PAGES: Final = ("/api/", "/docs", "/redoc", "/openapi.json")
"""Paths the page headers leave alone: the JSON API and FastAPI's API explorer."""
MAX_FORM_BYTES: Final = 256 * 1024
PAGE_SIZE: Final = 100
CARD_NAMES: Final = ("README.md", "readme.md", "README.MD", "README")
MAX_CARD_BYTES: Final = 200 * 1024
STATUSES: Final = (
    "published", "quarantined", "needs-registration", "needs-audit", "needs-review",
    "taken-down", "checking", "uploading",
)  # fmt: skip


# -- sessions, headers, CSRF ---------------------------------------------------------
def session_secret(data: Path) -> str:
    """``OPENWARD_SESSION_SECRET``, or a random secret kept in ``data/session-secret``
    (created once, mode 0600; concurrent first starts agree on one file)."""
    configured = os.environ.get("OPENWARD_SESSION_SECRET", "").strip()
    if configured:
        if len(configured) < 32:
            raise ValueError("OPENWARD_SESSION_SECRET must be at least 32 characters")
        return configured
    path = data / "session-secret"
    if not path.exists():
        data.mkdir(parents=True, exist_ok=True)
        tmp = data / f".session-secret.{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # atomic: the first process to link wins
        finally:
            tmp.unlink()
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise ValueError(f"{path} holds no usable secret: delete it to make a new one")
    return secret


class PageHeaders:
    """Adds the Content-Security-Policy and the other hardening headers to every
    response outside the JSON API (pages, error pages, the stylesheet, downloads)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(_NOT_PAGES):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in PAGE_HEADERS.items():
                    if key not in headers:
                        headers[key] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def _csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def _check_origin(request: Request) -> None:
    """Refuse a POST another site's page made the browser send."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise RegistryError(403, f"a form from another site ({site}) cannot act here")
    origin = request.headers.get("origin")
    if origin is not None:
        # Behind a reverse proxy that rewrites Host, the name the browser used arrives
        # in X-Forwarded-Host; a cross-site form cannot set either header.
        hosts = {request.headers.get(h, "").lower() for h in ("host", "x-forwarded-host")}
        if origin == "null" or urlsplit(origin).netloc.lower() not in hosts - {""}:
            raise RegistryError(403, "a form from another origin cannot act here")


async def _posted_form(request: Request) -> dict[str, str]:
    """The POSTed form's text fields, after the origin and CSRF checks."""
    _check_origin(request)
    try:
        length = int(request.headers.get("content-length") or 0)
    except ValueError:
        raise RegistryError(400, "bad Content-Length") from None
    if length > MAX_FORM_BYTES:
        raise RegistryError(413, "the form is too large")
    form = await request.form(max_files=0, max_fields=200)
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not (
        isinstance(sent, str) and isinstance(expected, str) and expected
        and secrets.compare_digest(sent.encode(), expected.encode())
    ):  # fmt: skip
        raise RegistryError(
            403, "this form has expired or did not come from this site: reload the page and "
            "submit it again"
        )  # fmt: skip
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _end_session(s: Session, request: Request) -> None:
    """Mark the request's web session ended (signed out), if it has one."""
    sid = request.session.get("sid")
    if isinstance(sid, str):
        row = s.get(WebSession, hash_token(sid))
        if row is not None and row.ended_at is None:
            row.ended_at = _now()


def _flash(request: Request, message: str) -> None:
    messages = list(request.session.get("flash") or [])
    request.session["flash"] = [*messages, message][-5:]


def _safe_next(target: str | None) -> str:
    """A local path to go back to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 33 for c in target):
        return "/"
    return target


# -- formatting ------------------------------------------------------------------
def _size(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} PiB"  # pragma: no cover


def _count(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    for limit, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= limit:
            return f"{value / limit:.2f} {unit}"
    return str(value)


def _flop(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "—"
    return f"{float(value):.3g}"


def _when(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if not isinstance(value, datetime):
        return "—"
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _plain(value: Any) -> str:
    """Any JSON value as readable text (escaped by the template like any text)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return "; ".join(str(v) for v in value)
    return json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True)


def _web_url(value: Any) -> str | None:
    """A link target only for http(s) URLs: never javascript:, data: or the like."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"], default_for_string=True, default=True),
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(size=_size, count=_count, flop=_flop, when=_when, plain=_plain,
                       web_url=_web_url, q=lambda v: quote(str(v), safe="/"))  # fmt: skip
    env.globals["version"] = __version__
    return env


# -- reading the database ----------------------------------------------------------------
def _facts(row: Version) -> dict[str, Any]:
    return row.facts if isinstance(row.facts, dict) else {}


def _summary(row: Version) -> dict[str, Any]:
    facts = _facts(row)
    arch: dict[str, Any] = facts.get("architecture") or {}
    card: dict[str, Any] = facts.get("card") or {}
    params: dict[str, Any] = facts.get("parameters") or {}
    tiers = sorted({str(t.get("id")) for t in facts.get("tiers") or [] if t.get("crossed")})
    return {"row": row, "name": f"{row.model.organisation.name}/{row.model.name}",
            "architecture": arch.get("family"), "license": card.get("license"),
            "parameters": params.get("total"), "tiers": tiers}  # fmt: skip


def _log_entries(s: Session, model: Model, limit: int = 100) -> list[dict[str, Any]]:
    """Transparency-log entries about the model or one of its versions, newest first.
    Text watermark tests are left out: users allowed the model may make many, and they
    would push its decisions off the page (they stay in the log itself)."""
    full = f"{model.organisation.name}/{model.name}"
    rows = s.scalars(
        select(LogEntry)
        .where(LogEntry.model == full, LogEntry.kind != "text-watermark-test")
        .order_by(LogEntry.idx.desc())
        .limit(limit)
    ).all()
    out = []
    for e in rows:
        try:
            body = json.loads(e.body)
        except ValueError:
            body = {}
        details = {k: v for k, v in body.items() if k not in ("index", "kind", "at", "model")}
        out.append({"index": e.idx, "kind": e.kind, "at": body.get("at") or e.at,
                    "model": body.get("model"), "details": details})  # fmt: skip
    return out


class CardCache:
    """Model cards rendered to HTML (``cards.render_card``), by the SHA-256 of the
    README's bytes: a card is content-addressed, so its HTML never changes, and a page
    view does not pay for rendering (up to a few seconds for a 200 KiB card) again."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.items: dict[str, str] = {}
        self.lock = threading.Lock()

    def html(self, s: Session, blobs: FileBlobStore | S3BlobStore, row: Version) -> Markup | None:
        """The card of ``row`` (a README at the model's root, if small) as HTML."""
        found = {f.path: f for f in s.scalars(select(VersionFile).where(
            VersionFile.version_id == row.id, VersionFile.path.in_(CARD_NAMES)
        ))}  # fmt: skip
        entry = next((found[n] for n in CARD_NAMES if n in found), None)
        if entry is None or entry.size > MAX_CARD_BYTES:
            return None
        with self.lock:
            html = self.items.get(entry.sha256)
        if html is None:
            try:
                data = blobs.read(entry.sha256, MAX_CARD_BYTES)
            except Exception:  # the page shows the facts without the card
                return None
            html = render_card(data.decode("utf-8", errors="replace"))
            with self.lock:
                while len(self.items) >= self.size:
                    self.items.pop(next(iter(self.items)))
                self.items[entry.sha256] = html
        return Markup(html)  # noqa: S704 - render_card's output is sanitised HTML


# -- routes ----------------------------------------------------------------------------
def add_web_routes(app: FastAPI, registry: Registry, sessions: sessionmaker[Session]) -> None:
    """Mount the web UI (and its session and header middleware) on the API's app."""
    env = _environment()
    stylesheet = (TEMPLATES / "style.css").read_bytes()
    cards = CardCache()
    app.add_middleware(
        SessionMiddleware, secret_key=session_secret(registry.settings.data),
        session_cookie=SESSION_COOKIE, max_age=SESSION_MAX_AGE, same_site="lax",
        https_only=os.environ.get("OPENWARD_SECURE_COOKIES", "") in ("1", "true", "yes"),
    )  # fmt: skip
    app.add_middleware(PageHeaders)

    def nav(request: Request, user: User | None) -> dict[str, Any] | None:
        if user is not None:
            return {"name": user.name, "reviewer": user.is_admin or user.is_reviewer}
        name = request.session.get("name")
        if isinstance(name, str) and request.session.get("uid") is not None:
            return {"name": name, "reviewer": bool(request.session.get("reviewer"))}
        return None

    def render(request: Request, template: str, user: User | None, code: int = 200,
               **context: Any) -> HTMLResponse:  # fmt: skip
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            here = "/"  # a form's action is no page to come back to after signing in
        flashes = request.session.pop("flash", None) or []
        html = env.get_template(template).render(
            viewer=nav(request, user), csrf=_csrf_token(request), flashes=flashes, here=here,
            **context,
        )  # fmt: skip
        return HTMLResponse(html, status_code=code, headers={"cache-control": "no-store"})

    def error_page(request: Request, status: int, message: str) -> HTMLResponse:
        titles = {400: "Bad request", 401: "Sign in needed", 403: "Not allowed",
                  404: "Not found", 409: "Conflict", 413: "Too large",
                  422: "Check the form", 451: "Unavailable for legal reasons"}  # fmt: skip
        return render(request, "error.html", None, status, status_code=status,
                      title=titles.get(status, "Refused"), message=message)  # fmt: skip

    class PageRoute(APIRoute):
        """A page: the registry's refusals become readable HTML pages with the same
        status (451 for a takedown, 403, 404…), not JSON."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def page(request: Request) -> Response:
                try:
                    return await handler(request)
                except RegistryError as exc:
                    return error_page(request, exc.status, exc.message)
                except RequestValidationError as exc:
                    problems = "; ".join(str(e.get("msg", "")) for e in exc.errors()[:3])
                    return error_page(request, 422, f"the request is not valid: {problems}")

            return page

    router = APIRouter(route_class=PageRoute, include_in_schema=False,
                       default_response_class=HTMLResponse)  # fmt: skip

    def db() -> Iterator[Session]:
        with sessions() as s:
            yield s

    DB = Annotated[Session, Depends(db)]

    def viewer(request: Request, s: DB) -> User | None:
        """The signed-in user (narrowed to their token's scope), while the session has
        not been signed out or expired and the token they signed in with stays valid."""
        uid, tid, sid = (request.session.get(k) for k in ("uid", "tid", "sid"))
        if uid is None:
            return None
        row = s.get(WebSession, hash_token(sid)) if isinstance(sid, str) else None
        if (row is None or row.ended_at is not None or _aware(row.expires_at) <= _now()
                or row.user_id != uid or row.token_id != tid):  # fmt: skip
            request.session.clear()
            _flash(request, "Your session has ended: sign in again.")
            return None
        token = s.get(Token, tid) if isinstance(tid, int) else None
        if token is None or token.revoked_at is not None or token.user_id != uid:
            request.session.clear()
            _flash(request, "Your token was revoked or is unknown: sign in again.")
            return None
        return principal(token)

    Viewer = Annotated[User | None, Depends(viewer)]
    Form = Annotated[dict[str, str], Depends(_posted_form)]

    def need_user(user: User | None, what: str) -> User:
        if user is None:
            raise RegistryError(401, f"sign in to {what}")
        return user

    def back(path: str) -> RedirectResponse:
        return RedirectResponse(path, status_code=303)

    # -- static, sign-in ---------------------------------------------------------------
    @router.get("/static/style.css")
    def style() -> Response:
        return Response(stylesheet, media_type="text/css",
                        headers={"cache-control": "public, max-age=3600"})  # fmt: skip

    @router.get("/signin")
    def signin_form(request: Request, user: Viewer, next: str = "/") -> HTMLResponse:
        return render(request, "signin.html", user, next=_safe_next(next), error=None)

    @router.post("/signin")
    def signin(request: Request, form: Form, s: DB) -> Response:
        token = form.get("token", "").strip()
        target = _safe_next(form.get("next"))
        try:
            user = registry.user_for(s, token) if token else None
        except RegistryError as exc:
            return render(request, "signin.html", None, exc.status, next=target,
                          error=exc.message)  # fmt: skip
        row = s.scalar(select(Token).where(Token.digest == hash_token(token))) if token else None
        if user is None or row is None:
            return render(request, "signin.html", None, 422, next=target,
                          error="paste the API token an admin gave you")  # fmt: skip
        _end_session(s, request)  # a new session: nothing carries over from before
        request.session.clear()
        sid = secrets.token_urlsafe(32)
        now = _now()
        s.execute(delete(WebSession).where(WebSession.expires_at < now))  # expired ones
        s.add(WebSession(digest=hash_token(sid), user_id=user.id, token_id=row.id,
                         created_at=now,
                         expires_at=now + timedelta(seconds=SESSION_MAX_AGE)))  # fmt: skip
        s.commit()
        request.session.update(uid=user.id, tid=row.id, sid=sid, name=user.name,
                               reviewer=user.is_admin or user.is_reviewer,
                               csrf=secrets.token_urlsafe(32))  # fmt: skip
        _flash(request, f"Signed in as {user.name}.")
        return back(target)

    @router.post("/signout")
    def signout(request: Request, form: Form, s: DB) -> Response:
        """End the session on the server too: the cookie is refused from now on,
        whoever still holds a copy of it."""
        _end_session(s, request)
        s.commit()
        request.session.clear()
        _flash(request, "Signed out.")
        return back("/")

    # -- search and browse ------------------------------------------------------------------
    @router.get("/")
    def home(
        request: Request, s: DB, user: Viewer, q: str = "", status: str = "", tier: str = "",
        architecture: str = "", page: int = 0,
    ) -> HTMLResponse:  # fmt: skip
        q, page = q.strip()[:200], max(page, 0)
        query = (select(Version).join(Model).join(Organisation).order_by(Version.id.desc())
                 .options(undefer(Version.facts)))  # fmt: skip
        if q:
            full = func.lower(Organisation.name.concat("/").concat(Model.name))
            query = query.where(full.contains(q.lower(), autoescape=True))
        if status:
            query = query.where(Version.status == status)
        rows, families, tier_ids = [], set(), set()
        for row in s.scalars(query):
            if not registry.may_see(s, user, row):
                continue
            doc = _summary(row)
            if doc["architecture"]:
                families.add(str(doc["architecture"]))
            tier_ids.update(doc["tiers"])
            if architecture and doc["architecture"] != architecture:
                continue
            if tier and tier not in doc["tiers"]:
                continue
            rows.append(doc)
        shown = rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
        return render(
            request, "home.html", user, results=shown, total=len(rows), page=page,
            more=len(rows) > (page + 1) * PAGE_SIZE, offset=page * PAGE_SIZE, q=q,
            status=status, tier=tier, architecture=architecture, statuses=STATUSES,
            families=sorted(families), tier_ids=sorted(tier_ids),
        )  # fmt: skip

    # -- a model and its versions -------------------------------------------------------------
    def version_page(request: Request, s: Session, user: User | None, model: Model,
                     versions: list[Version], row: Version) -> HTMLResponse:  # fmt: skip
        refusal: str | None = None
        try:
            gov.may_download(registry, s, user, row)
        except RegistryError as exc:
            refusal = exc.message
        may_request = (row.status == VISIBLE and model.access_tier != "open"
                       and refusal is not None)  # fmt: skip
        show_card = row.status != TAKEN_DOWN and (model.access_tier == "open" or refusal is None)
        scan: dict[str, Any] = row.scan_report if isinstance(row.scan_report, dict) else {}
        history = s.scalars(
            select(StatusEvent).where(StatusEvent.version_id == row.id).order_by(StatusEvent.id)
        ).all()
        base = str(request.base_url).rstrip("/")
        advisories = []
        for adv in s.scalars(select(Advisory).where(Advisory.model_id == model.id)
                             .order_by(Advisory.published.desc())):  # fmt: skip
            doc = gov.osv_document(s, adv, base)
            advisories.append({"doc": doc, "affects": row.version in adv.versions})
        from openward.registry.audits import audit_doc

        audits = [audit_doc(s, a) for a in s.scalars(
            select(Audit).where(Audit.version_id == row.id).order_by(Audit.id))]  # fmt: skip
        from openward.registry.lineage import lineage_doc

        withheld: set[str] = set()  # weight files this grantee of a marked model never gets
        if (refusal is None and row.status == VISIBLE and model.watermark == "per-recipient"
                and model.access_tier != "open"):  # fmt: skip
            from openward.registry import marks

            with contextlib.suppress(RegistryError):
                if marks.recipient_grant(registry, s, user, row) is not None:
                    withheld = set(marks.withheld(registry, row))
        from openward.registry.textmarks import key_doc, registered

        text_watermark = key_doc(model, registered(s, model))
        return render(
            request, "model.html", user, model=model, row=row, audits=audits, withheld=withheld,
            text_watermark=text_watermark,
            lineage=lineage_doc(registry, s, user, row),
            name=f"{model.organisation.name}/{model.name}", versions=versions, scan=scan,
            facts=_facts(row),
            findings=scan.get("findings") or [], history=history, refusal=refusal,
            may_request=may_request,
            card=cards.html(s, registry.blobs, row) if show_card else None,
            log=_log_entries(s, model), advisories=advisories,
            publisher=registry.can_publish(s, user, model.organisation.name),
        )  # fmt: skip

    @router.get("/models/{org}/{name}")
    def model_page(org: str, name: str, request: Request, s: DB, user: Viewer) -> HTMLResponse:
        model, versions = gov.visible_model(registry, s, user, org, name)
        row = versions[0]
        try:
            latest = registry.find_version(s, user, org, name, "latest")
            row = next((v for v in versions if v.id == latest.id), row)
        except RegistryError:
            pass  # no published version yet: the newest one the viewer may see
        return version_page(request, s, user, model, versions, row)

    @router.get("/models/{org}/{name}/v/{version}")
    def version_view(org: str, name: str, version: str, request: Request, s: DB,
                     user: Viewer) -> HTMLResponse:  # fmt: skip
        model, versions = gov.visible_model(registry, s, user, org, name)
        row = registry.find_version(s, user, org, name, version)
        return version_page(request, s, user, model, versions, row)

    @router.get("/models/{org}/{name}/v/{version}/files/{path:path}")
    def download(org: str, name: str, version: str, path: str, request: Request, s: DB,
                 user: Viewer) -> Response:  # fmt: skip
        check_path(path, windows=False)  # files published before the Windows rules too
        row = registry.find_version(s, user, org, name, version)
        gov.may_download(registry, s, user, row)
        entry = registry.version_file(s, row, path)  # never the whole file list
        digest, filename = entry.sha256, PurePosixPath(path).name
        if user is not None or "range" not in request.headers:  # as the API records
            # The session holds the id of the token the user signed in with, not the
            # token itself: the download log names it all the same.
            gov.log_download(s, user, None, row, path, token_id=request.session.get("tid"))
        from openward.registry import marks

        grant = marks.recipient_grant(registry, s, user, row)
        if grant is not None:  # a grantee of a marked model: their copy, as the API serves it
            marked = marks.marked_download(registry, s, grant, row, entry, request.method,
                                           request.headers.get("range"))  # fmt: skip
            if marked is not None:
                s.close()
                marked.headers["content-disposition"] = (
                    f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
                )
                marked.headers["content-security-policy"] = CSP + "; sandbox"
                return marked
        s.close()  # the bytes are streamed without holding a database connection
        blobs = registry.blobs
        if isinstance(blobs, FileBlobStore):
            return FileResponse(
                blobs.path(digest), filename=filename, media_type="application/octet-stream",
                headers={"X-Sha256": digest, "content-security-policy": CSP + "; sandbox"},
            )  # fmt: skip
        return RedirectResponse(blobs.url(digest, filename=filename), status_code=307)

    # -- access requests ---------------------------------------------------------------
    def request_page(request: Request, s: Session, user: User, org: str, name: str,
                     status: int = 200, error: str | None = None,
                     values: dict[str, str] | None = None) -> HTMLResponse:  # fmt: skip
        model, versions = gov.visible_model(registry, s, user, org, name)
        overview = gov.access_overview(registry, s, user, org, name)
        license_ = _summary(versions[0])["license"]
        return render(request, "request.html", user, status, model=model, name=overview["name"],
                      overview=overview, license=license_, error=error,
                      values=values or {})  # fmt: skip

    @router.get("/models/{org}/{name}/request")
    def request_form(org: str, name: str, request: Request, s: DB, user: Viewer) -> HTMLResponse:
        return request_page(request, s, need_user(user, "request access"), org, name)

    @router.post("/models/{org}/{name}/request")
    def request_submit(org: str, name: str, request: Request, form: Form, s: DB,
                       user: Viewer) -> Response:  # fmt: skip
        actor = need_user(user, "request access")
        model, _ = gov.visible_model(registry, s, actor, org, name)
        fields: dict[str, Any] = {}
        for field in gov.access_fields(model):
            value = form.get(f"field_{field}", "").strip()
            if field == "accept_license":
                fields[field] = value in ("on", "yes", "true")
            elif value:
                fields[field] = value[:2000]
        try:
            row = gov.request_access(registry, s, actor, org, name, fields)
        except RegistryError as exc:
            if exc.status != 422:
                raise
            s.rollback()
            values = {k[len("field_") :]: v for k, v in form.items() if k.startswith("field_")}
            return request_page(request, s, actor, org, name, 422, exc.message, values)
        s.commit()
        _flash(request, f"Request #{row.id} sent: {org}/{name}'s publisher will decide.")
        return back(f"/models/{org}/{name}/request")

    # -- the publisher's page --------------------------------------------------------------
    @router.get("/models/{org}/{name}/manage")
    def manage(org: str, name: str, request: Request, s: DB, user: Viewer) -> HTMLResponse:
        actor = need_user(user, "manage a model")
        downloads = gov.download_log(registry, s, actor, org, name, limit=500)  # authorizes
        overview = gov.access_overview(registry, s, actor, org, name)
        model, _ = gov.visible_model(registry, s, actor, org, name)
        requests = overview.get("requests") or []
        return render(
            request, "manage.html", actor, model=model, name=overview["name"], overview=overview,
            pending=[r for r in requests if r["status"] == "pending"],
            decided=[r for r in requests if r["status"] != "pending"],
            grants=overview.get("grants") or [], downloads=downloads,
        )  # fmt: skip

    @router.post("/models/{org}/{name}/manage/tier")
    def manage_tier(org: str, name: str, request: Request, form: Form, s: DB,
                    user: Viewer) -> Response:  # fmt: skip
        actor = need_user(user, "set the access tier")
        raw = form.get("fields", "").strip()
        fields = [f.strip() for f in raw.replace(",", " ").split()] if raw else None
        watermark = form.get("watermark") or None
        model = gov.set_tier(registry, s, actor, org, name, form.get("tier", ""), fields,
                             watermark)  # fmt: skip
        s.commit()
        marked = ", weights marked per recipient" if model.watermark == "per-recipient" else ""
        _flash(request, f"{org}/{name} is now {model.access_tier}{marked}.")
        if marked:
            from openward.registry.marks import withheld_notes

            notes = withheld_notes(registry, s, model)
            for note in notes[:3]:  # the session cookie is small: the API lists them all
                _flash(request, "Warning: " + (note if len(note) <= 300 else note[:299] + "…"))
            if len(notes) > 3:
                _flash(request, f"Warning: {len(notes) - 3} more versions withhold weight "
                       "files from recipients")  # fmt: skip
        return back(f"/models/{org}/{name}/manage")

    @router.post("/models/{org}/{name}/manage/requests/{request_id}/approve")
    def approve(org: str, name: str, request_id: RowId, request: Request, form: Form, s: DB,
                user: Viewer) -> Response:  # fmt: skip
        actor = need_user(user, "approve a request")
        versions = [v for v in form.get("versions", "").replace(",", " ").split() if v]
        grant = gov.grant_access(
            registry, s, actor, org, name, request_id=request_id, versions=versions or None,
            expires=form.get("expires", "").strip() or None, reason=form.get("reason", ""),
        )  # fmt: skip
        s.commit()
        _flash(request, f"Request #{request_id} approved: grant #{grant.id}.")
        return back(f"/models/{org}/{name}/manage")

    @router.post("/models/{org}/{name}/manage/requests/{request_id}/deny")
    def deny(org: str, name: str, request_id: RowId, request: Request, form: Form, s: DB,
             user: Viewer) -> Response:  # fmt: skip
        actor = need_user(user, "deny a request")
        gov.deny_access(registry, s, actor, org, name, request_id, form.get("reason", ""))
        s.commit()
        _flash(request, f"Request #{request_id} denied.")
        return back(f"/models/{org}/{name}/manage")

    @router.post("/models/{org}/{name}/manage/grants/{grant_id}/revoke")
    def revoke(org: str, name: str, grant_id: RowId, request: Request, form: Form, s: DB,
               user: Viewer) -> Response:  # fmt: skip
        actor = need_user(user, "revoke access")
        gov.revoke_access(registry, s, actor, org, name, grant_id, form.get("reason", ""))
        s.commit()
        _flash(request, f"Grant #{grant_id} revoked.")
        return back(f"/models/{org}/{name}/manage")

    # -- the reviewers' queue ------------------------------------------------------------------
    def user_name(s: Session, user_id: int | None) -> str | None:
        found = s.get(User, user_id) if user_id is not None else None
        return found.name if found else None

    @router.get("/review")
    def review(request: Request, s: DB, user: Viewer, status: str = "pending") -> HTMLResponse:
        actor = need_user(user, "review registrations")
        rows = gov.list_registrations(s, actor, status if status != "all" else None)
        entries = []
        for r in rows:
            doc = gov.registration_doc(r)
            doc["submitted_by"] = user_name(s, r.submitted_by)
            doc["reviewer"] = user_name(s, r.reviewer_id)
            doc["path"] = (f"/models/{r.version.model.organisation.name}/"
                           f"{r.version.model.name}/v/{r.version.version}")  # fmt: skip
            entries.append(doc)
        return render(request, "review.html", actor, entries=entries, status=status,
                      fields=gov.REGISTRATION_FIELDS)  # fmt: skip

    @router.post("/review/{registration_id}")
    def decide(registration_id: RowId, request: Request, form: Form, s: DB,
               user: Viewer) -> Response:  # fmt: skip
        actor = need_user(user, "review registrations")
        decision = form.get("decision")
        if decision not in ("accept", "reject"):
            raise RegistryError(422, "choose accept or reject")
        entry = gov.decide_registration(registry, s, actor, registration_id,
                                        decision == "accept", form.get("reason", ""))  # fmt: skip
        s.commit()
        _flash(request, f"Registration #{entry.id} {entry.status}.")
        return back("/review")

    app.include_router(router)
