"""The registry's web UI, in a real browser (Playwright driving the system's Chromium,
headless) and over plain HTTP: the gated-access flow end to end, a quarantined model's
findings, hostile names, cards, findings and form fields staying text, CSRF and
origin checks, the pages' status codes and security headers, the reviewers' queue."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.registry.conftest import Server
from tests.registry.test_registry import _model

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page

CHROMIUM = os.environ.get("OPENWARD_CHROMIUM", "/usr/bin/chromium")
PATIENT = 30.0
"""Seconds a page may take: the server runs in the test's process, and CI's two cores run two
test workers; httpx's default of 5 s timed out one page on a slow CI machine."""
CSP = (
    "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"
)
EMBEDDED = pytest.mark.parametrize("server", ["embedded"], indirect=True)
"""Tests that exercise the pages, not the storage: the embedded configuration only."""


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests must run under CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (Debian's, driven by Playwright)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set "
                     "OPENWARD_CHROMIUM)")  # fmt: skip
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


SignIn = Callable[..., "Page"]


@pytest.fixture
def sign_in(browser: Browser, server: Server) -> Iterator[SignIn]:
    """A new browser context (its own cookies) signed in with a token through the
    sign-in form; ``None`` stays anonymous."""
    contexts = []

    def open_page(token: str | None, **options: Any) -> Page:
        context = browser.new_context(base_url=server.url, accept_downloads=True, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        if token is not None:
            page.goto("/signin")
            page.fill("#token", token)
            page.click("form[action='/signin'] button[type=submit]")
            from playwright.sync_api import expect

            expect(page.get_by_test_id("who")).to_have_count(1)
        return page

    yield open_page
    for context in contexts:
        context.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match[1]


def _http_session(server: Server, token: str) -> httpx.Client:
    """An HTTP client signed in through the form, as a browser would be."""
    client = httpx.Client(base_url=server.url, timeout=PATIENT)
    r = client.post("/signin", data={"csrf_token": _csrf(client.get("/signin").text),
                                     "token": token, "next": "/"})  # fmt: skip
    assert r.status_code == 303, r.text
    return client


def _gate(server: Server, publisher: str, model: str) -> None:
    r = httpx.put(f"{server.url}/api/v1/models/{model}/access", json={"tier": "gated"},
                  headers=_auth(publisher))  # fmt: skip
    assert r.status_code == 200, r.text


def _poisoned(root: Path, marker: Path) -> Path:
    import os as os_module
    import pickle

    class Evil:
        def __reduce__(self) -> tuple[object, ...]:
            return (os_module.system, (f"touch {marker}",))

    return _model(root, extra={"pytorch_model.bin": pickle.dumps(Evil(), protocol=2)})


# -- in the browser -------------------------------------------------------------------
def test_request_access_approve_and_download_in_the_browser(
    server: Server,
    sign_in: SignIn,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    publisher = server.user("pam", "acme", "publisher")
    reader = server.user("rita", None, "reader")
    card = b"---\nlicense: mit\n---\n# The gated model's card\n"
    model = _model(tmp_path / "m", seed=11, extra={"README.md": card})
    assert server.client(publisher).push(model, "acme/gated:1")["status"] == "published"
    _gate(server, publisher, "acme/gated")

    page = sign_in(reader)
    page.goto("/models/acme/gated")
    expect(page.get_by_test_id("refusal")).to_contain_text("acme/gated is gated")
    assert page.locator("[data-testid=files] a").count() == 0  # no download links
    assert page.get_by_test_id("card").count() == 0  # the card is one of the files
    expect(page.get_by_test_id("license")).to_have_text("mit")  # its facts are public
    refused = page.goto("/models/acme/gated/v/1/files/config.json")
    assert refused is not None and refused.status == 403
    expect(page.get_by_test_id("error")).to_contain_text("gated")

    page.goto("/models/acme/gated")
    page.get_by_role("link", name="Request access").click()
    page.fill("#field_organisation", "Rita's lab")
    page.fill("#field_intended_use", "evaluating refusals")
    page.check("#field_accept_license")
    page.click("[data-testid=request-form] button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Request #")
    expect(page.get_by_test_id("my-requests")).to_contain_text("pending")

    owner = sign_in(publisher)
    owner.goto("/models/acme/gated/manage")
    pending = owner.locator("article.request", has_text="rita")
    expect(pending).to_contain_text("evaluating refusals")
    pending.get_by_role("button", name="Approve").click()
    expect(owner.locator(".flash")).to_contain_text("approved")
    expect(owner.get_by_test_id("grants")).to_contain_text("rita")

    page.goto("/models/acme/gated")
    assert page.get_by_test_id("refusal").count() == 0
    heading = page.get_by_test_id("card").get_by_role("heading", name="The gated model's card")
    expect(heading).to_have_count(1)  # the card's Markdown, rendered
    shard = "model-00001-of-00002.safetensors"
    with page.expect_download() as info:
        page.locator("[data-testid=files] a", has_text=shard).click()
    download = info.value
    assert download.suggested_filename == shard
    assert Path(download.path()).read_bytes() == (model / shard).read_bytes()

    owner.goto("/models/acme/gated/manage")
    log = owner.get_by_test_id("downloads")
    expect(log).to_contain_text("rita")
    expect(log).to_contain_text(shard)
    # The same log through the API names the token the browser session signed in with.
    r = httpx.get(f"{server.url}/api/v1/models/acme/gated/downloads", headers=_auth(publisher))
    assert [(d["user"], d["path"]) for d in r.json()["downloads"]] == [("rita", shard)]
    assert r.json()["downloads"][0]["token_id"] is not None


@EMBEDDED
def test_a_quarantined_model_shows_its_findings(
    server: Server,
    sign_in: SignIn,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    marker = tmp_path / "marker"
    publisher = server.user("pam", "acme", "publisher")
    bad = _poisoned(tmp_path / "bad", marker)
    assert server.client(publisher).push(bad, "acme/bad:1")["status"] == "quarantined"

    page = sign_in(publisher)
    page.goto("/models/acme/bad")
    expect(page.get_by_test_id("quarantine")).to_contain_text("pytorch_model.bin")
    findings = page.get_by_test_id("findings")
    expect(findings).to_contain_text("pickle-dangerous-global")
    expect(findings).to_contain_text("critical")
    expect(findings).to_contain_text("system")
    assert page.locator("[data-testid=files] a").count() == 0
    expect(page.get_by_test_id("refusal")).to_contain_text("quarantined")
    # Anonymous visitors do not learn it exists.
    assert sign_in(None).goto("/models/acme/bad").status == 404  # type: ignore[union-attr]
    assert not marker.exists()


HOSTILE_CARD = """---
license: "<script>alert(1)</script>"
datasets: ["<img src=x onerror=alert(2)>"]
---
# Totally normal model "><script>alert(3)</script>

<img src=x onerror=alert(4)>
<a href="javascript:alert(5)">click</a>
"""
# Manifest paths cannot hold < > " (Windows forbids them: refused at push, see
# test_storage.py); what is left to break out of an attribute or entity is ' and &.
HOSTILE_FILE = "x' onmouseover='alert(6)' y='&amp;&#60;img src=x onerror=alert(6)&#62;.bin"
HOSTILE_PICKLE = b"\x80\x02c<script>alert(7)</script>\nsystem\n)R."


@EMBEDDED
def test_cards_render_as_markdown_and_stay_inert(
    server: Server,
    sign_in: SignIn,
    tmp_path: Path,
) -> None:
    """A card's Markdown becomes headings, lists, code and tables; with the CSP
    bypassed, none of a hostile card's script, handlers, links or images comes alive."""
    from playwright.sync_api import expect

    from tests.registry.test_cards import RICH_CARD, XSS_CARD

    admin = server.client(server.admin)
    rich = _model(tmp_path / "rich", seed=61, extra={"README.md": RICH_CARD.encode()})
    assert admin.push(rich, "acme/card:1")["status"] == "published"
    hostile = _model(tmp_path / "hostile", seed=62, extra={"README.md": XSS_CARD.encode()})
    assert admin.push(hostile, "acme/xss-card:1")["status"] == "published"

    dialogs: list[str] = []
    page = sign_in(None, bypass_csp=True)
    _watch_dialogs(page, dialogs)
    page.goto("/models/acme/card")
    card = page.get_by_test_id("card")
    expect(card.get_by_role("heading", level=3, name="Tiny Llama")).to_have_count(1)
    expect(card.get_by_role("heading", level=4, name="Usage")).to_have_count(1)
    expect(card.locator("ol > li")).to_have_count(2)
    expect(card.locator("pre code.language-python")).to_contain_text("AutoModel")
    expect(card.locator("table td")).to_have_text(["accuracy", "0.9"])
    docs = card.get_by_role("link", name="the docs")
    expect(docs).to_have_attribute("href", "https://example.org/docs")
    expect(docs).to_have_attribute("rel", "nofollow noopener noreferrer")

    page.goto("/models/acme/xss-card")
    card = page.get_by_test_id("card")
    expect(card).to_contain_text("<script>alert(1)</script>")
    expect(card).to_contain_text("<img src=x onerror=alert(2)>")
    card.get_by_text("hover", exact=False).first.hover()
    for link in card.locator("a").all():  # every link left is http(s), mailto or relative
        href = link.get_attribute("href") or ""
        assert not re.match(r"(?i)^\s*(javascript|vbscript|data|file):", href), href
    assert card.locator("[onerror], [onclick], [onload], [onmouseover], [style]").count() == 0
    card.get_by_role("link", name="image: tracker").hover()
    _no_markup_injected(page, dialogs)


def _watch_dialogs(page: Page, dialogs: list[str]) -> None:
    """Record (and dismiss) every alert, confirm or prompt the page opens."""

    def seen(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", seen)


def _no_markup_injected(page: Page, dialogs: list[str]) -> None:
    assert dialogs == []
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator("iframe, object, embed").count() == 0


@EMBEDDED
def test_hostile_names_cards_and_findings_stay_text(
    server: Server,
    sign_in: SignIn,
    tmp_path: Path,
) -> None:
    """With the CSP bypassed (so that only escaping protects the page), nothing a
    publisher or requester controls becomes markup, and no script runs."""
    from playwright.sync_api import expect

    publisher = server.user("pam", "acme", "publisher")
    reader = server.user("rita", None, "reader")
    extra = {"README.md": HOSTILE_CARD.encode(), HOSTILE_FILE: b"hello",
             "evil.pkl": HOSTILE_PICKLE}  # fmt: skip
    bad = _model(tmp_path / "bad", seed=2, extra=extra)
    assert server.client(publisher).push(bad, "acme/hostile:1")["status"] == "quarantined"
    del extra["evil.pkl"]
    clean = _model(tmp_path / "clean", seed=3, extra=extra)
    assert server.client(publisher).push(clean, "acme/friendly:1")["status"] == "published"
    _gate(server, publisher, "acme/friendly")

    dialogs: list[str] = []
    owner = sign_in(publisher, bypass_csp=True)
    _watch_dialogs(owner, dialogs)
    owner.goto("/models/acme/hostile")
    expect(owner.get_by_test_id("findings")).to_contain_text("<script>alert(7)</script>.system")
    expect(owner.get_by_test_id("license")).to_have_text("<script>alert(1)</script>")
    card = owner.get_by_test_id("card")
    expect(card).to_contain_text("<img src=x onerror=alert(4)>")
    expect(card).to_contain_text('<a href="javascript:alert(5)">click</a>')
    expect(owner.get_by_test_id("files")).to_contain_text(HOSTILE_FILE)
    _no_markup_injected(owner, dialogs)

    # A requester's answers are shown to the publisher: they stay text too.
    page = sign_in(reader, bypass_csp=True)
    _watch_dialogs(page, dialogs)
    page.goto("/models/acme/friendly/request")
    page.fill("#field_organisation", "</textarea><script>alert(8)</script>")
    page.fill("#field_intended_use", '"><img src=x onerror=alert(9)>')
    page.check("#field_accept_license")
    page.click("[data-testid=request-form] button[type=submit]")
    expect(page.get_by_test_id("my-requests")).to_contain_text("pending")
    _no_markup_injected(page, dialogs)
    owner.goto("/models/acme/friendly/manage")
    expect(owner.locator("article.request")).to_contain_text("</textarea><script>alert(8)")
    _no_markup_injected(owner, dialogs)

    # The hostile file of the published model downloads under its own name.
    owner.goto("/models/acme/friendly")
    with owner.expect_download() as info:
        owner.locator("[data-testid=files] a", has_text="onerror=alert(6)").click()
    assert Path(info.value.path()).read_bytes() == b"hello"
    _no_markup_injected(owner, dialogs)

    # The same pages with the CSP enforced: the header is there, and still no dialog.
    strict = sign_in(publisher)
    _watch_dialogs(strict, dialogs)
    response = strict.goto("/models/acme/hostile")
    assert response is not None and response.headers["content-security-policy"] == CSP
    _no_markup_injected(strict, dialogs)


# -- over HTTP ----------------------------------------------------------------------------
@EMBEDDED
def test_forms_need_the_csrf_token_and_this_origin(server: Server, tmp_path: Path) -> None:
    publisher = server.user("pam", "acme", "publisher")
    reader = server.user("rita", None, "reader")
    assert server.client(publisher).push(_model(tmp_path / "m"), "acme/g:1")["status"] == (
        "published"
    )
    _gate(server, publisher, "acme/g")

    anonymous = httpx.Client(base_url=server.url, timeout=PATIENT)
    page = anonymous.get("/signin")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "openward_session=" in cookie
    token = _csrf(page.text)
    sign = {"token": reader, "next": "/"}
    assert anonymous.post("/signin", data=sign).status_code == 403  # no token
    assert anonymous.post("/signin", data={**sign, "csrf_token": "x" * 43}).status_code == 403
    evil = {"Origin": "https://evil.example"}
    r = anonymous.post("/signin", data={**sign, "csrf_token": token}, headers=evil)
    assert r.status_code == 403 and "another origin" in r.text
    assert r.headers["content-type"].startswith("text/html")
    r = anonymous.post("/signin", data={**sign, "csrf_token": token},
                       headers={"Sec-Fetch-Site": "cross-site"})  # fmt: skip
    assert r.status_code == 403
    r = anonymous.post("/signin", data={**sign, "csrf_token": token, "next": "//evil.example"},
                       headers={"Origin": server.url})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/"  # never another site

    session = anonymous  # now signed in as the reader
    form = session.get("/models/acme/g/request")
    assert form.status_code == 200
    token = _csrf(form.text)
    assert token != _csrf(page.text)  # signing in starts a new session
    fields = {"field_organisation": "lab", "field_intended_use": "tests",
              "field_accept_license": "on"}  # fmt: skip
    assert session.post("/models/acme/g/request", data=fields).status_code == 403
    r = session.post("/models/acme/g/request", data={**fields, "csrf_token": token}, headers=evil)
    assert r.status_code == 403
    # The CSRF token without the session cookie it belongs to is refused too.
    bare = httpx.post(f"{server.url}/models/acme/g/request", data={**fields, "csrf_token": token})
    assert bare.status_code == 403
    requests = httpx.get(f"{server.url}/api/v1/models/acme/g/access", headers=_auth(publisher))
    assert requests.json()["requests"] == []  # nothing got through
    # A request that leaves out a field comes back with the answers kept.
    r = session.post("/models/acme/g/request", data={**fields, "csrf_token": token,
                                                     "field_accept_license": ""})  # fmt: skip
    assert r.status_code == 422 and "missing: accept_license" in r.text
    assert 'value="lab"' in r.text and ">tests</textarea>" in r.text
    # Behind a proxy that rewrites Host, the browser's origin is in X-Forwarded-Host.
    proxied = {"Origin": "https://registry.example", "X-Forwarded-Host": "registry.example"}
    r = session.post("/models/acme/g/request", data={**fields, "csrf_token": token},
                     headers=proxied)  # fmt: skip
    assert r.status_code == 303
    requests = httpx.get(f"{server.url}/api/v1/models/acme/g/access", headers=_auth(publisher))
    assert [q["user"] for q in requests.json()["requests"]] == ["rita"]
    # Signing out ends the session: its CSRF token and cookie no longer act.
    assert session.post("/signout", data={"csrf_token": token}).status_code == 303
    assert session.post("/models/acme/g/request",
                        data={**fields, "csrf_token": token}).status_code == 403  # fmt: skip


@EMBEDDED
def test_pages_status_codes_and_headers(server: Server, tmp_path: Path) -> None:
    publisher = server.user("pam", "acme", "publisher")
    reader = server.user("rita", None, "reader")
    client = server.client(publisher)
    assert client.push(_model(tmp_path / "a", seed=1), "acme/alpha:1")["status"] == "published"
    assert client.push(_model(tmp_path / "b", seed=2), "acme/beta:1")["status"] == "published"
    bad = _poisoned(tmp_path / "bad", tmp_path / "marker")
    assert client.push(bad, "acme/bad:1")["status"] == "quarantined"
    takedown = {
        "reason": "leaked weights (court order 12/34)",
        "advisory": {
            "severity": "critical",
            "summary": "weights leaked",
            "references": ["javascript:alert(1)", "https://example.org/a"],
        },
    }
    r = httpx.post(f"{server.url}/api/v1/models/acme/beta/versions/1/takedown", json=takedown,
                   headers=_auth(server.admin))  # fmt: skip
    assert r.status_code == 200, r.text

    anonymous = httpx.Client(base_url=server.url, timeout=PATIENT)
    owner = _http_session(server, publisher)
    rita = _http_session(server, reader)
    cases = [
        (anonymous, "/", 200), (anonymous, "/?q=ALPHA", 200), (anonymous, "/signin", 200),
        (anonymous, "/models/acme/alpha", 200), (anonymous, "/models/acme/alpha/v/1", 200),
        (anonymous, "/models/acme/alpha/v/latest", 200),
        (anonymous, "/models/acme/alpha/v/9", 404), (anonymous, "/models/acme/nope", 404),
        (anonymous, "/models/acme/bad", 404), (owner, "/models/acme/bad", 200),
        (anonymous, "/models/acme/beta", 200),
        (anonymous, "/models/acme/beta/v/1/files/config.json", 451),
        (anonymous, "/models/acme/alpha/v/1/files/nope.bin", 404),
        (anonymous, "/models/acme/alpha/v/1/files/a/%2e%2e/x", 422),
        (anonymous, "/models/acme/alpha/request", 401), (rita, "/models/acme/alpha/request", 200),
        (anonymous, "/models/acme/alpha/manage", 401), (rita, "/models/acme/alpha/manage", 403),
        (owner, "/models/acme/alpha/manage", 200),
        (anonymous, "/review", 401), (rita, "/review", 403), (owner, "/review", 403),
        (anonymous, "/no/such/page", 404), (anonymous, "/static/style.css", 200),
    ]  # fmt: skip
    for client_, path, status in cases:
        r = client_.get(path)
        assert r.status_code == status, (path, r.status_code, r.text[:300])
        assert r.headers["content-security-policy"] == CSP, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        if path != "/static/style.css" and path != "/no/such/page":
            assert r.headers["content-type"].startswith("text/html"), path
    # The API and its explorer keep their own headers.
    assert "content-security-policy" not in httpx.get(f"{server.url}/api/v1/health").headers
    assert "content-security-policy" not in httpx.get(f"{server.url}/docs").headers
    assert not any(p.startswith("/models") or p == "/review"
                   for p in httpx.get(f"{server.url}/openapi.json").json()["paths"])  # fmt: skip

    # Search and browse.
    home = anonymous.get("/").text
    assert "acme/alpha" in home and "acme/beta" in home and "acme/bad" not in home
    assert "acme/bad" in owner.get("/").text  # its publisher sees it
    found = anonymous.get("/", params={"q": "ALP"}).text
    assert "acme/alpha" in found and "acme/beta" not in found
    found = anonymous.get("/", params={"status": "taken-down"}).text
    assert "acme/beta" in found and "acme/alpha" not in found
    assert "acme/alpha" not in anonymous.get("/", params={"tier": "eu-systemic-risk"}).text
    assert "acme/alpha" in anonymous.get("/", params={"architecture": "llama"}).text

    # A takedown says why, prominently; its advisory links only web URLs.
    beta = anonymous.get("/models/acme/beta").text
    assert "Taken down" in beta and "leaked weights (court order 12/34)" in beta
    assert 'href="https://example.org/a"' in beta and 'href="javascript' not in beta
    assert "weights leaked" in beta and "affects this version" in beta
    refused = anonymous.get("/models/acme/beta/v/1/files/config.json")
    assert "taken down" in refused.text and "leaked weights" in refused.text

    # The model page: facts, files, history and the transparency log.
    alpha = anonymous.get("/models/acme/alpha").text
    for text in ("Parameters", "32.77 K", "llama", "config.json", "sub/tokenizer.json",
                 "uploading", "checking", "published", "Transparency log"):  # fmt: skip
        assert text in alpha, text
    entries = re.findall(r"<td>published\b", alpha)
    assert entries, "the log's 'published' entry for acme/alpha:1"
    assert "leaked weights" not in alpha  # another model's entries stay on its page
    # Downloads of an open model need no session, and are logged as anonymous.
    file = anonymous.get("/models/acme/alpha/v/1/files/sub/tokenizer.json")
    assert file.status_code == 200 and file.content == b'{"model": {}}'
    assert file.headers["content-disposition"].startswith("attachment")
    assert "sandbox" in file.headers["content-security-policy"]
    manage = owner.get("/models/acme/alpha/manage").text
    assert "anonymous" in manage and "sub/tokenizer.json" in manage

    # Revoking the token a session was opened with ends the session.
    import sqlite3

    from openward.registry.service import hash_token

    with sqlite3.connect(server.data / "registry.db") as db:
        db.execute("UPDATE tokens SET revoked_at = CURRENT_TIMESTAMP WHERE digest = ?",
                   (hash_token(reader),))  # fmt: skip
    r = rita.get("/models/acme/alpha/request")
    assert r.status_code == 401 and "token was revoked" in r.text
    assert rita.get("/").status_code == 200 and "Sign in</a>" in rita.get("/").text


def test_session_cookie_settings_and_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from openward.registry.app import create_app
    from openward.registry.service import Settings

    monkeypatch.setenv("OPENWARD_SECURE_COOKIES", "1")
    monkeypatch.delenv("OPENWARD_SESSION_SECRET", raising=False)
    app = create_app(Settings(data=tmp_path / "data"))
    secret = tmp_path / "data" / "session-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_text()) >= 32
    with TestClient(app, base_url="https://registry.example") as client:
        cookie = client.get("/signin").headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    again = secret.read_text()
    create_app(Settings(data=tmp_path / "data"))
    assert secret.read_text() == again  # created once
    monkeypatch.setenv("OPENWARD_SESSION_SECRET", "short")
    with pytest.raises(ValueError, match="32 characters"):
        create_app(Settings(data=tmp_path / "other"))


@EMBEDDED
def test_the_review_queue(server: Server, tmp_path: Path) -> None:
    publisher = server.user("pam", "acme", "publisher")
    reviewer = server.user("vera", None, "reviewer")
    card = b"---\nlicense: mit\ntraining_tokens: 100000000000000000000\n---\n# big\n"
    big = _model(tmp_path / "big", seed=4, extra={"README.md": card})
    assert server.client(publisher).push(big, "acme/big:1")["status"] == "needs-registration"
    record = {
        "developer": "<script>alert(1)</script> Labs",
        "training_compute": {"flop": 1e24, "method": "6ND"},
        "training_data": "web", "intended_use": "chat",
        "safety_evaluations": ["red team"], "incident_contact": "sec@example.org",
    }  # fmt: skip
    r = httpx.post(f"{server.url}/api/v1/models/acme/big/versions/1/registration",
                   json={"record": record}, headers=_auth(publisher))  # fmt: skip
    assert r.status_code == 201, r.text
    registration = r.json()["id"]

    vera = _http_session(server, reviewer)
    queue = vera.get("/review")
    assert queue.status_code == 200
    assert "declared compute 1e+24 FLOP is outside the registry&#39;s estimate" in queue.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Labs" in queue.text
    assert "<script>" not in queue.text
    assert "acme/big" in vera.get("/").text  # reviewers see held versions
    held = vera.get("/models/acme/big").text
    assert "Held for registration" in held and "eu-systemic-risk" in held
    token = _csrf(queue.text)
    r = vera.post(f"/review/{registration}", data={"csrf_token": token, "decision": "accept",
                                                   "reason": ""})  # fmt: skip
    assert r.status_code == 422 and "needs a reason" in r.text
    r = vera.post(f"/review/{registration}", data={"csrf_token": token, "decision": "accept",
                                                   "reason": "estimate checked"})  # fmt: skip
    assert r.status_code == 303
    assert f"Registration #{registration} accepted" in vera.get("/review?status=all").text
    doc = httpx.get(f"{server.url}/api/v1/models/acme/big/versions/1").json()
    assert doc["status"] == "published"
    page = vera.get("/models/acme/big").text
    assert "registration-accepted" in page and "estimate checked" in page
