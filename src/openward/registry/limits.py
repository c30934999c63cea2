"""Request body limits: every body the registry reads is bounded before it is parsed.

An ASGI middleware in front of every route (API, web forms): a body whose
``Content-Length`` is over the limit is refused with 413 before a byte is read; a
body without one (chunked) is counted as it streams and refused the moment it
crosses the limit, so no request holds more than the limit in memory.

- JSON and form bodies: ``Settings.max_json_bytes`` (1 MiB); web forms at most
  ``web.MAX_FORM_BYTES``.
- A push manifest (``POST /api/v1/models/{org}/{name}/versions``) and a ``check``
  request, sent with a valid token: ``Settings.max_manifest_bytes`` (64 MiB; a
  100 000-file manifest with its signature is ~30 MiB). Anonymous ones get the
  JSON limit: a push without a token is refused anyway, and anonymous checks of
  copies of up to ~10 000 files fit.
- Blob uploads (``PUT /api/v1/blobs/{digest}``) are streamed to disk, never held in
  memory; the route bounds them by the size the manifest declared.
- Trace uploads (``POST /api/v1/models/{org}/{name}/trace``) are streamed to disk by
  the route, bounded by ``Settings.max_trace_bytes``.
- Text watermark key files (``PUT /api/v1/models/{org}/{name}/text-watermark-key``)
  embed their tokenizer: up to ``max_manifest_bytes`` from a caller with a valid token.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openward.registry.blobs import human

__all__ = ["BodyLimit", "BodyTooLarge"]

_BLOB: Final = re.compile(r"^/api/v1/blobs/[^/]+$")
_TRACE: Final = re.compile(r"^/api/v1/models/[^/]+/[^/]+/trace$")
_MANIFEST: Final = re.compile(r"^/api/v1/(models/[^/]+/[^/]+/versions|check)$")
_TEXT_KEY: Final = re.compile(r"^/api/v1/models/[^/]+/[^/]+/text-watermark-key$")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body crosses the limit. An HTTPException,
    so FastAPI's body parsing passes it on and the response is a 413."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail)


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        json_bytes: int,
        manifest_bytes: int,
        form_bytes: int,
        authenticated: Callable[[str], Awaitable[bool]],
    ) -> None:
        self.app = app
        self.json_bytes = json_bytes
        self.manifest_bytes = manifest_bytes
        self.form_bytes = form_bytes
        self.authenticated = authenticated

    async def limit(self, scope: Scope, headers: Headers) -> tuple[int | None, str]:
        """The limit for this request (None: exempt) and what to say when it is crossed."""
        method, path = scope["method"], scope["path"]
        if method == "PUT" and _BLOB.match(path):
            return None, ""  # streamed to disk, bounded by the declared size
        if method == "POST" and _TRACE.match(path):
            return None, ""  # streamed to disk by the route, bounded by max_trace_bytes
        if not path.startswith("/api/"):
            limit = min(self.json_bytes, self.form_bytes)
            return limit, f"the form is larger than {human(limit)}"
        if method == "PUT" and _TEXT_KEY.match(path) and await self._signed_in(headers):
            # A text watermark key file embeds its tokenizer (a few MB for large
            # vocabularies): read up to the manifest limit from a caller with a token.
            return self.manifest_bytes, (
                f"the key file is larger than {human(self.manifest_bytes)}, the registry's "
                "limit for key files"
            )  # fmt: skip
        if method == "POST" and _MANIFEST.match(path):
            scheme, _, token = headers.get("authorization", "").partition(" ")
            if (
                scheme.lower() == "bearer"
                and token.strip()
                and await self.authenticated(token.strip())
            ):
                return self.manifest_bytes, (
                    f"the request body is larger than {human(self.manifest_bytes)}, the "
                    "registry's limit for manifests"
                )  # fmt: skip
            return self.json_bytes, (
                f"the request body is larger than {human(self.json_bytes)}; with a valid "
                f"token, manifests and checks of up to {human(self.manifest_bytes)} are read"
            )  # fmt: skip
        return self.json_bytes, f"the request body is larger than {human(self.json_bytes)}"

    async def _signed_in(self, headers: Headers) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return (
            scheme.lower() == "bearer"
            and bool(token.strip())
            and await self.authenticated(token.strip())
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit, detail = await self.limit(scope, headers)
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                await JSONResponse({"detail": "bad Content-Length"}, 400)(scope, receive, send)
                return
            if too_large:
                await _refuse(detail, scope, receive, send)
                return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(detail)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(detail, scope, receive, send)


async def _refuse(detail: str, scope: Scope, receive: Receive, send: Send) -> None:
    # The rest of the body is not read; the server closes the connection after this.
    response = JSONResponse({"detail": detail}, status_code=413, headers={"Connection": "close"})
    await response(scope, receive, send)
