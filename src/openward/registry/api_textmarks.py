"""Text watermark routes of the registry API: a model's key (registered, replaced and
removed by its publishers; its public identity shown to everyone who sees the model)
and text tests against it (:mod:`openward.registry.textmarks`). Mounted by
:func:`openward.registry.app.create_app`."""

# No `from __future__ import annotations`: FastAPI resolves the dependency types
# (DB, Actor) passed in as arguments when the routes are declared.

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from openward.registry import textmarks
from openward.registry.service import Registry

__all__ = ["DetectBody", "add_text_watermark_routes"]


class DetectBody(BaseModel):
    text: str
    """The text to test (at most :data:`textmarks.MAX_TEXT_BYTES` bytes of UTF-8: 413)."""
    alpha: float | None = Field(default=None, ge=1e-300, le=0.5)
    """The verdict's level (``watermark detect --alpha``); unset: 1e-5."""


def add_text_watermark_routes(app: FastAPI, registry: Registry, DB: Any, Actor: Any) -> None:
    @app.get("/api/v1/models/{org}/{name}/text-watermark-key")
    def text_key(org: str, name: str, s: DB, user: Actor) -> dict[str, Any]:
        """Whether the model's outputs are watermarked: ``{"model", "text_watermark":
        {"key_id", "scheme", "tokenizer"} | null}`` (never the key)."""
        return textmarks.public(registry, s, user, org, name)

    @app.put("/api/v1/models/{org}/{name}/text-watermark-key")
    def set_text_key(
        org: str, name: str, body: dict[str, Any], s: DB, user: Actor
    ) -> dict[str, Any]:
        """Register or replace the model's text watermark key (its publishers and admins):
        the body is the key file ``openward watermark keygen`` wrote. Answers the key's
        public identity (``key_id``, ``scheme``, ``tokenizer``) and the key id it
        replaced (``previous``); 422 for a file ``watermark detect`` would refuse."""
        result = textmarks.set_key(registry, s, user, org, name, body)
        s.commit()
        return result

    @app.delete("/api/v1/models/{org}/{name}/text-watermark-key")
    def remove_text_key(org: str, name: str, s: DB, user: Actor) -> dict[str, Any]:
        """Remove the model's text watermark key (its publishers and admins)."""
        result = textmarks.remove_key(registry, s, user, org, name)
        s.commit()
        return result

    @app.post("/api/v1/models/{org}/{name}/text-watermark/detect")
    def detect_text(org: str, name: str, body: DetectBody, s: DB, user: Actor) -> dict[str, Any]:
        """Test a text for the model's watermark with the key the registry holds (users
        who may have the model's weights): the JSON of ``openward watermark detect
        --json`` (``scheme, tokens_scored, z, p_value, watermarked``, ...) plus ``model``,
        ``log_index`` and ``text_salt`` (at most 16 paragraph results). Logged with a
        salted commitment to the text (``text_commitment``), never the text. At most
        ``text_watermark_tests_per_hour`` tests per user and hour (429 with
        ``Retry-After`` above; the model's publishers and admins are not limited)."""
        result = textmarks.detect(registry, s, user, org, name, body.text, body.alpha)
        s.commit()
        return result
