"""Text watermark keys held by the registry: publishers register a model's key, users
allowed the model ask the registry to test a text, and the key never leaves it.

A model's publisher (or an admin) registers the key file ``openward watermark keygen``
wrote for the model (``PUT /api/v1/models/{org}/{name}/text-watermark-key``). The
registry checks it as ``openward watermark detect`` reads a key file and keeps it sealed
in its database (:class:`TextWatermarkKey`): AES-256-GCM under a key derived from the
registry's secret (the ``registry-mark-secret`` file per-recipient weight marks are
keyed with, mode 0600, shared by every API replica), with the model's id and the key
id as associated data, so a database dump or backup alone does not give the key away
and a sealed key moved to another model's row does not open. The API only ever
returns the key's public identity: ``key_id``, ``scheme`` and ``tokenizer``.

A text test (``POST /api/v1/models/{org}/{name}/text-watermark/detect``) is open to
whoever may have the model's weights (:func:`governance.may_read_weights`: anyone
signed in for an open model; its publishers, admins and holders of a live grant for a
gated or restricted one), answers what ``openward watermark detect --json`` prints for
the same text and key (texts of many paragraphs: at most :data:`MAX_PARTS` paragraph
results, so one test cannot read a green list), and is recorded in the transparency log
(``text-watermark-test``: a salted commitment to the text, never the text nor its plain
hash, and the verdict). Registering, replacing and
removing a key are logged too (``text-watermark-key``).

Each answer reads some 16 exact green counts, so many answers would read a green list:
a user runs at most ``Settings.text_watermark_tests_per_hour`` tests in any hour (60 by
default, over every model and API replica: counted in the database,
:class:`TextWatermarkTest`), then gets 429 with ``Retry-After`` and nothing is logged.
The model's publishers and admins are not counted.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, undefer

from openward.registry import governance as gov
from openward.registry import tlog
from openward.registry.models import Model, TextWatermarkKey, TextWatermarkTest, User
from openward.registry.service import RegistryError

if TYPE_CHECKING:
    from openward.registry.service import Registry
    from openward.watermark.text.keys import WatermarkKey

__all__ = [
    "MAX_TEXT_BYTES",
    "detect",
    "key_doc",
    "remove_key",
    "set_key",
]

MAX_PARTS: Final = 16
"""Most per-paragraph results one test answers. Each result is an exact green count, so
paragraphs that differ in one token read one (context, token) colour each: a text of
hundreds of short paragraphs would hand out a context's green list in one test. Longer
texts are scored in at most this many runs of consecutive paragraphs."""
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_TEXT_BYTES: Final = 256 * 1024
"""Largest text (UTF-8 bytes) one test reads: some 50 000 tokens, far more than a verdict
needs (a few hundred tokens), small enough to tokenize and score in well under a second."""
_SEAL_LABEL: Final = b"openward-text-watermark-key-seal/v1\0"
_CACHE_SIZE: Final = 8
_WINDOW: Final = timedelta(hours=1)
"""The window ``Settings.text_watermark_tests_per_hour`` counts a user's tests in."""
_cache: OrderedDict[tuple[int, str, str], WatermarkKey] = OrderedDict()
"""Keys unsealed and parsed (their tokenizer built) lately, by (model id, key id, SHA-256
of the sealed bytes)."""
_cache_lock = threading.Lock()


def _text_module() -> Any:
    try:
        from openward.watermark import text
    except ImportError as exc:  # pragma: no cover - the registry extra ships them
        raise RegistryError(
            501,
            f"this registry cannot test texts ({exc.name} is missing): "
            "pip install 'openward[watermark]' on the server",
        ) from None
    try:
        import numpy  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        raise RegistryError(
            501,
            f"this registry cannot test texts ({exc.name} is missing): "
            "pip install 'openward[watermark]' on the server",
        ) from None
    return text


# -- sealing -------------------------------------------------------------------------
def _aead(reg: Registry) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(hashlib.sha256(_SEAL_LABEL + reg.mark_secret).digest())


def _associated(model_id: int, key_id: str) -> bytes:
    return f"model {model_id} key {key_id}".encode()


def _seal(reg: Registry, model_id: int, key_id: str, document: dict[str, Any]) -> bytes:
    nonce = os.urandom(12)
    plain = json.dumps(document, separators=(",", ":")).encode()
    sealed: bytes = nonce + _aead(reg).encrypt(nonce, plain, _associated(model_id, key_id))
    return sealed


def _unseal(reg: Registry, row: TextWatermarkKey) -> WatermarkKey:
    from cryptography.exceptions import InvalidTag

    text = _text_module()
    blob = bytes(row.sealed)
    # The sealed bytes name the registration (a fresh nonce each time): a key replaced by
    # another replica is never served from this one's cache.
    cached = (row.model_id, row.key_id, hashlib.sha256(blob).hexdigest())
    with _cache_lock:
        if cached in _cache:
            _cache.move_to_end(cached)
            return _cache[cached]
    try:
        plain = _aead(reg).decrypt(blob[:12], blob[12:], _associated(row.model_id, row.key_id))
    except (InvalidTag, ValueError):
        raise RegistryError(
            500,
            f"the text watermark key of {gov._model_name(row.model)} cannot "
            "be unsealed with this registry's secret (was registry-mark-secret "
            "replaced?): its publisher must register the key again",
        ) from None
    try:
        key: WatermarkKey = text.key_from_json(json.loads(plain), "the registered key")
    except text.KeyError_:  # registered before a check it fails was added
        raise RegistryError(
            500,
            f"the text watermark key of {gov._model_name(row.model)} no longer passes this "
            "registry's key checks: its publisher must register the key again (or a new one)",
        ) from None
    with _cache_lock:
        _cache[cached] = key
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return key


# -- registering ------------------------------------------------------------------------
def key_doc(model: Model, row: TextWatermarkKey | None) -> dict[str, Any] | None:
    """The key's public identity, or None: what the API and the model page show."""
    if row is None:
        return None
    return {"key_id": row.key_id, "scheme": row.scheme, "tokenizer": row.tokenizer}


def registered(s: Session, model: Model) -> TextWatermarkKey | None:
    return s.scalar(select(TextWatermarkKey).where(TextWatermarkKey.model_id == model.id))


def _owner(reg: Registry, s: Session, user: User | None, model: Model, what: str) -> User:
    return gov._owner(reg, s, user, model, what)


def set_key(
    reg: Registry, s: Session, user: User | None, org: str, name: str, document: object
) -> dict[str, Any]:
    """Register (or replace) the text watermark key of ORG/NAME (its publishers and
    admins): ``document`` is the key file's JSON. Checked as ``watermark detect`` checks
    a key file, then sealed; logged. Returns the public identity (no secret)."""
    model = gov._model(s, org, name)
    actor = _owner(reg, s, user, model, f"register a text watermark key for {org}/{name}")
    text = _text_module()
    try:
        key = text.key_from_json(document, "the key file")
        text.detect_text(key, "A text the registry scores once, to check the key works.")
    except text.KeyError_ as exc:
        raise RegistryError(422, str(exc)) from None
    except Exception as exc:  # a table or parameters the detector cannot use
        raise RegistryError(
            422, f"the key file cannot be used to detect: {type(exc).__name__}: {exc}"
        ) from None
    assert isinstance(document, dict)
    shipped = _model_vocabularies(reg, s, model)
    if shipped and key.tokenizer.vocab_sha256 not in shipped:
        raise RegistryError(
            422,
            f"the key is for another tokenizer than {org}/{name}'s: its vocabulary "
            f"(SHA-256 {key.tokenizer.vocab_sha256[:16]}...) is not the one of any "
            f"tokenizer.json the model's versions ship; make the key from the model as "
            f"published (openward watermark keygen --model DIR)",
        )
    row = registered(s, model)
    previous = row.key_id if row is not None else None
    if row is None:
        row = TextWatermarkKey(model_id=model.id)
        s.add(row)
    row.key_id = key.key_id
    row.scheme = key.scheme
    # The name is the key file's free text: no control characters (terminals show it).
    row.tokenizer = _CONTROL.sub("\N{REPLACEMENT CHARACTER}", key.tokenizer.name or "")[:200]
    row.vocab_sha256 = key.tokenizer.vocab_sha256
    row.sealed = _seal(reg, model.id, key.key_id, document)
    row.registered_by = actor.id
    tlog.append(
        s,
        "text-watermark-key",
        {
            "model": gov._model_name(model),
            "key_id": key.key_id,
            "scheme": key.scheme,
            "tokenizer": row.tokenizer,
            "vocab_sha256": row.vocab_sha256,
            "previous": previous,
            "by": actor.name,
        },
    )
    return {"model": gov._model_name(model), **(key_doc(model, row) or {}), "previous": previous}


def _model_vocabularies(reg: Registry, s: Session, model: Model) -> set[str]:
    """The vocabulary SHA-256s (:func:`~openward.watermark.text.keys.vocab_sha256`) of the
    ``tokenizer.json`` files the model's versions ship; empty when none is a tokenizer the
    ``tokenizers`` package reads (GGUF-only models: nothing to compare with)."""
    from openward.registry.models import Version, VersionFile
    from openward.watermark.text.keys import MAX_TOKENIZER_JSON

    text = _text_module()
    digests = s.scalars(
        select(VersionFile.sha256)
        .join(Version)
        .where(
            Version.model_id == model.id,
            Version.status != "uploading",
            VersionFile.size <= MAX_TOKENIZER_JSON,
            (VersionFile.path == "tokenizer.json") | VersionFile.path.endswith("/tokenizer.json"),
        )
        .distinct()
    ).all()
    found = set()
    for digest in digests:
        try:
            raw = reg.blobs.read(digest, MAX_TOKENIZER_JSON)
            found.add(text.tokenizer_identity(raw.decode(), "").vocab_sha256)
        except Exception:  # noqa: S112 - a missing blob or not a tokenizer: not comparable
            continue
    return found


def remove_key(reg: Registry, s: Session, user: User | None, org: str, name: str) -> dict[str, Any]:
    """Remove ORG/NAME's text watermark key (its publishers and admins); logged."""
    model = gov._model(s, org, name)
    actor = _owner(reg, s, user, model, f"remove the text watermark key of {org}/{name}")
    row = registered(s, model)
    if row is None:
        raise RegistryError(404, f"{org}/{name} has no text watermark key")
    removed = row.key_id
    s.delete(row)
    tlog.append(
        s,
        "text-watermark-key",
        {
            "model": gov._model_name(model),
            "key_id": None,
            "previous": removed,
            "by": actor.name,
        },
    )
    return {"model": gov._model_name(model), "removed": removed}


def public(reg: Registry, s: Session, user: User | None, org: str, name: str) -> dict[str, Any]:
    """Whether ORG/NAME's outputs are watermarked: the key's public identity (or
    ``text_watermark: null``), for whoever may see the model."""
    model, _ = gov.visible_model(reg, s, user, org, name)
    return {"model": gov._model_name(model), "text_watermark": key_doc(model, registered(s, model))}


# -- testing a text -----------------------------------------------------------------------
def _may_test(reg: Registry, s: Session, user: User | None, model: Model) -> User:
    """The caller, if they may test texts against the model's key: signed in, and allowed
    the weights of one of its versions they may see (open model; publisher or admin; a
    live grant covering a version, restricted: an admin's organisation grant)."""
    ref = gov._model_name(model)
    versions = gov.visible_versions(reg, s, user, model)
    if not versions:  # held models stay unlisted: the answer a missing model gets
        raise RegistryError(404, f"model {ref} does not exist or is not visible")
    if user is None:
        raise RegistryError(
            401,
            f"testing a text against {ref}'s watermark needs a token (--token or OPENWARD_TOKEN)",
        )
    if any(gov.may_read_weights(reg, s, user, v) for v in versions):
        return user
    raise RegistryError(
        403,
        f"{ref} is {model.access_tier}: only its publishers, admins and "
        "users granted access may test texts against its watermark; " + gov.how_to_request(model),
    )


def _count_test(reg: Registry, s: Session, actor: User, model: Model) -> None:
    """Count a text test against the caller's hourly limit
    (``Settings.text_watermark_tests_per_hour``), in the caller's transaction: 429 with
    ``Retry-After`` when they have run as many in the last hour. The model's publishers
    and admins are not counted (they registered the key, or run the registry).

    The count is in the database, so every API replica keeps one limit. Two tests of one
    user at once must not both pass at the limit: on PostgreSQL the user's row is locked
    first (``FOR NO KEY UPDATE``: inserts referencing the user still go ahead), and the
    second test waits, then counts the first; SQLite has no row locks, so the test is
    written first (which takes the database's write lock, queueing the other writer) and
    counted after it. A refused test is rolled back with the rest of the request."""
    limit = reg.settings.text_watermark_tests_per_hour
    if limit <= 0 or reg.can_publish(s, actor, model.organisation.name):
        return
    from openward.registry.accounts import unscoped

    user_id = unscoped(actor).id
    now = datetime.now(UTC)
    since = now - _WINDOW
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))
    s.execute(
        delete(TextWatermarkTest).where(
            TextWatermarkTest.user_id == user_id, TextWatermarkTest.at <= since
        )
    )
    s.add(TextWatermarkTest(user_id=user_id, model_id=model.id, at=now))
    s.flush()
    counted = select(TextWatermarkTest.at).where(
        TextWatermarkTest.user_id == user_id, TextWatermarkTest.at > since
    )
    if (s.scalar(select(func.count()).select_from(counted.subquery())) or 0) <= limit:
        return
    # The test that leaves the window first lets the next one in.
    oldest = s.scalar(counted.order_by(TextWatermarkTest.at).limit(1))
    assert oldest is not None
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
    wait = max(1, math.ceil((oldest + _WINDOW - now).total_seconds()))
    raise RegistryError(
        429,
        f"you have run {limit} text watermark tests in the last hour, this registry's "
        f"limit per user: try again in {_duration(wait)} (at "
        f"{(now + timedelta(seconds=wait)).strftime('%H:%M:%S')} UTC)",
        headers={"Retry-After": str(wait)},
    )


def _duration(seconds: int) -> str:
    """``seconds`` for people: "45 s", "12 min 5 s"."""
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def detect(
    reg: Registry,
    s: Session,
    user: User | None,
    org: str,
    name: str,
    text_: str,
    alpha: float | None = None,
) -> dict[str, Any]:
    """Test ``text_`` for ORG/NAME's watermark: what ``openward watermark detect --json``
    prints (``scheme, tokens_scored, z, p_value, watermarked``, ``reason``, ``alpha``,
    ``paragraphs``...) plus ``model``, ``log_index`` and ``text_salt``. Texts of more than
    :data:`MAX_PARTS` paragraphs get :data:`MAX_PARTS` results, each for a run of
    consecutive paragraphs (``paragraph_range``: first and last, from 1). Logged
    (``text-watermark-test``, with ``text_commitment``: the SHA-256 of ``text_salt`` and
    the text, which only the caller can open). Counted against the caller's hourly
    limit (429 above it; not for the model's publishers and admins). The caller commits."""
    model = gov.visible_model(reg, s, user, org, name)[0]
    actor = _may_test(reg, s, user, model)
    row = s.scalar(
        select(TextWatermarkKey)
        .where(TextWatermarkKey.model_id == model.id)
        .options(undefer(TextWatermarkKey.sealed))
    )
    if row is None:
        raise RegistryError(
            404,
            f"{org}/{name} has no text watermark key: its outputs are not "
            "watermarked (or its publisher has not registered the key)",
        )
    try:
        raw = text_.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a JSON escape
        raise RegistryError(422, "the text is not valid Unicode (lone surrogates)") from None
    if len(raw) > MAX_TEXT_BYTES:
        raise RegistryError(
            413,
            f"the text is {len(raw)} bytes; the registry tests at most "
            f"{MAX_TEXT_BYTES} bytes at a time (a verdict needs a few hundred "
            "tokens: send an excerpt)",
        )
    _count_test(reg, s, actor, model)
    module = _text_module()
    key = _unseal(reg, row)
    kw = {} if alpha is None else {"alpha": alpha}
    paragraphs = module.split_paragraphs(text_)
    try:
        result = module.detect_text(key, text_, paragraphs=len(paragraphs) <= MAX_PARTS, **kw)
        doc: dict[str, Any] = result.to_json()
        if len(paragraphs) > MAX_PARTS:
            doc["paragraphs"] = []
            for first, last in _runs(len(paragraphs), MAX_PARTS):
                run = "\n\n".join(paragraphs[first - 1 : last])
                part = module.detect_text(key, run, paragraphs=False, **kw).to_json()
                doc["paragraphs"].append(part | {"paragraph_range": [first, last]})
    except ValueError as exc:
        raise RegistryError(422, str(exc)) from None
    # A salted commitment, not the text's hash: the log is public, and whoever holds a
    # text could otherwise look its verdict up there without a right to the model.
    salt = os.urandom(16)
    index = tlog.append(
        s,
        "text-watermark-test",
        {
            "model": gov._model_name(model),
            "by": actor.name,
            "key_id": row.key_id,
            "text_commitment": hashlib.sha256(salt + raw).hexdigest(),
            "tokens_scored": result.tokens_scored,
            "p_value": result.p_value,
            "watermarked": result.watermarked,
        },
    )
    doc["model"] = gov._model_name(model)
    doc["log_index"] = index
    doc["text_salt"] = salt.hex()
    return doc


def _runs(count: int, parts: int) -> list[tuple[int, int]]:
    """``count`` paragraphs as ``parts`` runs of consecutive ones, sizes within one:
    (first, last) from 1."""
    size, extra = divmod(count, parts)
    out, first = [], 1
    for i in range(parts):
        last = first + size + (1 if i < extra else 0) - 1
        out.append((first, last))
        first = last + 1
    return out
