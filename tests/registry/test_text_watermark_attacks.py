"""Attacks on the registry's text watermark keys (issue 17, security review): what a user
allowed to test texts, a user who is not, and a malicious publisher can get out of the
key service or do to it.

Each test runs against the embedded configuration only: the behaviour under attack is
the registry's own code, the same on both configurations (test_text_watermark_registry
runs the feature on both)."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from openward.watermark.text import new_key, tokenizer_identity
from openward.watermark.text._hashing import green_value
from openward.watermark.text.keys import WatermarkKey
from openward.watermark.text.kgw import KGWParams
from tests.registry import test_text_watermark_registry as feature
from tests.registry.conftest import Server
from tests.registry.test_accounts import _token
from tests.registry.test_registry import _model
from tests.registry.test_text_watermark_registry import (
    DETECT_PATH,
    KEY_PATH,
    _api,
    _ok,
    _ow,
    _watermarked,
)

words = feature.words  # the feature tests' word tokenizer and KGW key (fixtures)
key = feature.key

embedded = pytest.mark.parametrize("server", ["embedded"], indirect=True)


def _green(key: WatermarkKey, context: int, token: int) -> bool:
    params = KGWParams.from_key(key)
    seed = params.left_seed(np.array([context], dtype=np.int64))
    code = params.codes(np.array([token], dtype=np.int64))
    return bool(green_value(seed, code)[0] < params.threshold)


@embedded
def test_one_test_does_not_hand_out_a_green_list(
    server: Server, tmp_path: Path, key: WatermarkKey, words: tuple[str, list[str]]
) -> None:
    """The oracle attack: per-paragraph results each give an exact green count, so a text
    of many short paragraphs that differ in one word reads the colour of hundreds of
    (context, token) pairs in one test. The registry answers at most a few parts."""
    vocab = words[1]
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")
    _ok(_api(server, "PUT", KEY_PATH, pub, key.to_json()))

    # 25 distinct base words, then one candidate after the last one: paragraph j scores
    # the 24 base pairs plus (base[-1], candidate j).
    base = list(range(1, 26))
    candidates = list(range(100, 300))
    paragraphs = [" ".join(vocab[i] for i in [*base, t]) for t in candidates]
    answer = _ok(_api(server, "POST", DETECT_PATH, ann, {"text": "\n\n".join(paragraphs)}))
    truth = [_green(key, base[-1], t) for t in candidates]
    base_greens = sum(_green(key, a, b) for a, b in itertools.pairwise(base))

    # What the attacker learns: each part's exact green count, less the base pairs
    # (granted to them), is the sum of the colours of the candidates the part covers
    # (and, for a run of paragraphs, of the pairs across their boundaries).
    parts = answer.get("paragraphs", [])
    spans = [p.get("paragraph_range", [i + 1, i + 1]) for i, p in enumerate(parts)]
    learned = 0
    for part, (first, last) in zip(parts, spans, strict=True):
        greens = round(part["score"] * part["tokens_scored"]) - base_greens
        covered = truth[first - 1 : last]
        covered += [_green(key, t, base[0]) for t in candidates[first - 1 : last - 1]]
        assert greens == sum(covered)  # the answer is exact: the attacker reads it right
        if greens in (0, len(covered)):  # all red or all green: every colour known
            learned += last - first + 1
    assert len(parts) <= 16, f"one test answered {len(parts)} parts"
    assert learned <= 32, f"one test gave away {learned} of {len(candidates)} colours"
    # A long document still gets results for all of its paragraphs, in consecutive runs.
    assert spans[0][0] == 1 and spans[-1][1] == len(paragraphs)
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))
    # A text of a few paragraphs keeps one result per paragraph, as detect --key prints.
    few = _ok(_api(server, "POST", DETECT_PATH, ann, {"text": "\n\n".join(paragraphs[:3])}))
    assert len(few["paragraphs"]) == 3 and "paragraph_range" not in few["paragraphs"][0]


@embedded
def test_the_public_log_gives_no_verdict_to_whoever_holds_the_text(
    server: Server, tmp_path: Path, key: WatermarkKey, words: tuple[str, list[str]]
) -> None:
    """A grantee tests a text against a gated model; a user refused the model (or anyone:
    the log is public) who has the same text must not find its verdict in the log by
    hashing the text. The grantee can still prove what they tested."""
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    bob = server.user("bob", "labs2", "reader")
    server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")
    _ok(_api(server, "PUT", KEY_PATH, pub, key.to_json()))
    _ok(_api(server, "PUT", "/api/v1/models/acme/chat/access", pub, {"tier": "gated"}))
    _ok(_api(server, "POST", "/api/v1/models/acme/chat/access/grants", pub, {"user": "ann"}), 201)
    marked = _watermarked(key, words[1])
    answer = _ok(_api(server, "POST", DETECT_PATH, ann, {"text": marked}))
    assert answer["watermarked"] is True
    assert _api(server, "POST", DETECT_PATH, bob, {"text": marked}).status_code == 403

    entries = _ok(_api(server, "GET", "/api/v1/log/entries?start=0&end=1000"))["entries"]
    bodies = [e["body"] for e in entries]
    digest = hashlib.sha256(marked.encode()).hexdigest()
    assert not any(digest in b for b in bodies), "the log names the text by its SHA-256"
    entry = next(json.loads(b) for b in bodies if '"kind":"text-watermark-test"' in b)
    assert entry["watermarked"] is True and entry["by"] == "ann"
    # The tester's proof: the salt in their answer opens the commitment in the log.
    salt = bytes.fromhex(answer["text_salt"])
    assert entry["text_commitment"] == hashlib.sha256(salt + marked.encode()).hexdigest()


@embedded
def test_detect_does_not_tell_a_held_model_from_a_missing_one(
    server: Server, tmp_path: Path, key: WatermarkKey
) -> None:
    """Held models stay unlisted: testing a text against one answers exactly what a model
    that does not exist answers, signed in or not."""
    from sqlalchemy import select

    from openward.registry.models import Model, Version

    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    server.client(pub).push(_model(tmp_path / "m"), "acme/held:1")
    _ok(_api(server, "PUT", "/api/v1/models/acme/held/text-watermark-key", pub, key.to_json()))
    with server.app.state.registry.sessions() as s:
        model = s.scalar(select(Model).where(Model.name == "held"))
        for v in s.scalars(select(Version).where(Version.model_id == model.id)):
            v.status = "needs-review"
        s.commit()
    text = {"text": "Some words to test here. " * 20}
    for token in (None, ann):
        held = _api(server, "POST", "/api/v1/models/acme/held/text-watermark/detect", token, text)
        gone = _api(server, "POST", "/api/v1/models/acme/gone/text-watermark/detect", token, text)
        assert held.status_code == gone.status_code == 404, (held.text, gone.text)
        assert held.json()["detail"].replace("held", "gone") == gone.json()["detail"]
    # Its publisher still tests texts against it.
    assert _api(server, "POST", "/api/v1/models/acme/held/text-watermark/detect", pub,
                text).status_code == 200  # fmt: skip


@embedded
def test_a_tokenizer_name_cannot_drive_a_users_terminal(
    server: Server, tmp_path: Path, key: WatermarkKey
) -> None:
    """The tokenizer name is the key file's free text (not covered by the vocabulary
    hash): a publisher's escape sequences must not reach users' terminals."""
    pub = server.user("pat", "acme", "publisher")
    server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")
    doc = key.to_json()
    doc["tokenizer"]["name"] = "lee\x1b]0;owned\x07\x1b[2J\rwords"
    _ok(_api(server, "PUT", KEY_PATH, pub, doc))
    shown = _ok(_api(server, "GET", KEY_PATH))["text_watermark"]["tokenizer"]
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in shown), repr(shown)
    out = _ow("registry", "watermark-key", "show", "acme/chat", "--registry", server.url)
    assert out.exit_code == 0 and "\x1b" not in out.output and "\r" not in out.output


@embedded
def test_a_publisher_cannot_register_a_key_that_exhausts_the_registry(
    server: Server, tmp_path: Path, words: tuple[str, list[str]]
) -> None:
    """A SynthID key's depth (and n-gram length) sets the size of the g-value array a
    test builds (positions x depth): a key of depth 10^6 passes the registration check on
    a short sentence, then makes the next 256 KiB test allocate tens of GB."""
    pub = server.user("pat", "acme", "publisher")
    server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")
    synthid = new_key("synthid", tokenizer_identity(words[0], "lee-words"), secret=b"s" * 32)
    for params in ({"depth": 10**6, "keys": list(range(10**6))}, {"ngram_len": 10**5}):
        doc = synthid.to_json()
        doc["params"] = doc["params"] | params
        r = _api(server, "PUT", KEY_PATH, pub, doc)
        assert r.status_code == 422, (r.status_code, r.text[:200])
        assert "invalid parameters" in r.json()["detail"]
    # Its real parameters register.
    assert _ok(_api(server, "PUT", KEY_PATH, pub, synthid.to_json()))["scheme"] == "synthid"


@embedded
def test_who_may_register_and_test(
    server: Server, tmp_path: Path, key: WatermarkKey, words: tuple[str, list[str]]
) -> None:
    """Refusals that hold: another organisation's publisher, a publisher's reader-scoped
    token, anonymous callers; a revoked grant; a user grant on a restricted model."""
    pub = server.user("pat", "acme", "publisher")
    eve = server.user("eve", "evil", "publisher")
    ann = server.user("ann", "labs", "reader")
    server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")
    _ok(_api(server, "PUT", KEY_PATH, pub, key.to_json()))
    other = new_key("kgw", tokenizer_identity(words[0], "lee-words"), secret=b"e" * 32)
    res = _token(server, "--user", "pat", "--role", "reader")
    assert res.exit_code == 0, res.output
    pat_reader = json.loads(res.stdout)["token"]
    for token, status in ((eve, 403), (pat_reader, 403), (None, 401)):
        assert _api(server, "PUT", KEY_PATH, token, other.to_json()).status_code == status
        assert _api(server, "DELETE", KEY_PATH, token).status_code == status
    assert _ok(_api(server, "GET", KEY_PATH))["text_watermark"]["key_id"] == key.key_id

    marked = {"text": _watermarked(key, words[1])}
    _ok(_api(server, "PUT", "/api/v1/models/acme/chat/access", pub, {"tier": "gated"}))
    grant = _ok(_api(server, "POST", "/api/v1/models/acme/chat/access/grants", pub,
                     {"user": "ann"}), 201)  # fmt: skip
    assert _api(server, "POST", DETECT_PATH, ann, marked).status_code == 200
    _ok(_api(server, "POST", f"/api/v1/models/acme/chat/access/grants/{grant['id']}/revoke",
             pub, {"reason": "ended"}))  # fmt: skip
    assert _api(server, "POST", DETECT_PATH, ann, marked).status_code == 403
    _ok(_api(server, "POST", "/api/v1/models/acme/chat/access/grants", pub, {"user": "ann"}), 201)
    assert _api(server, "POST", DETECT_PATH, ann, marked).status_code == 200
    _ok(_api(server, "PUT", "/api/v1/models/acme/chat/access", server.admin,
             {"tier": "restricted"}))  # fmt: skip
    assert _api(server, "POST", DETECT_PATH, ann, marked).status_code == 403
    assert _api(server, "POST", DETECT_PATH, pub, marked).status_code == 200


@embedded
def test_a_key_for_another_tokenizer_is_refused(
    server: Server, tmp_path: Path, key: WatermarkKey, words: tuple[str, list[str]]
) -> None:
    """The model page would say "Outputs watermarked" while every test of the model's own
    text answers "no watermark found" (another vocabulary's ids): a key whose tokenizer
    is none of the model's shipped tokenizer.json files is refused."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    pub = server.user("pat", "acme", "publisher")
    shipped = Tokenizer(models.WordLevel({"[UNK]": 0, "other": 1, "words": 2}, unk_token="[UNK]"))  # noqa: S106
    shipped.pre_tokenizer = pre_tokenizers.Whitespace()
    model = _model(tmp_path / "m", extra={"tokenizer.json": shipped.to_str().encode()})
    server.client(pub).push(model, "acme/chat:1")
    r = _api(server, "PUT", KEY_PATH, pub, key.to_json())
    assert r.status_code == 422 and "another tokenizer" in r.json()["detail"], r.text
    assert _ok(_api(server, "GET", KEY_PATH))["text_watermark"] is None
    # A key made for the tokenizer the model ships registers.
    own = new_key("kgw", tokenizer_identity(shipped.to_str(), "chat"), secret=b"o" * 32)
    assert _ok(_api(server, "PUT", KEY_PATH, pub, own.to_json()))["key_id"] == own.key_id
    # A second version with the key's tokenizer: either tokenizer's key is accepted.
    server.client(pub).push(
        _model(tmp_path / "m2", seed=2, extra={"tokenizer.json": words[0].encode()}),
        "acme/chat:2",
    )
    assert _ok(_api(server, "PUT", KEY_PATH, pub, key.to_json()))["previous"] == own.key_id


def test_a_crafted_model_reference_does_not_send_the_key_elsewhere(tmp_path: Path) -> None:
    """ORG/NAME goes into the request's path: "acme%2Fchat/access?" would PUT the key file
    to /api/v1/models/acme/chat/access (the server decodes %2F; "?" ends the path). Only
    names the registry allows (letters, digits, . _ -) are sent; nothing is requested."""
    key_file = tmp_path / "k.wmkey"
    key_file.write_text("{}")
    dead = ["--registry", "http://127.0.0.1:9", "--token", "t"]
    for ref in ("acme%2Fchat/access?", "acme/chat?x", "acme/chat#", "../x", "acme/.."):
        out = _ow("registry", "watermark-key", "set", ref, "--key", str(key_file), *dead)
        assert out.exit_code == 2 and "expected ORG/NAME" in out.output, (ref, out.output)
        out = _ow("watermark", "detect", "-", "--registry-model", ref, *dead, input="text")
        assert out.exit_code == 2 and "expected ORG/NAME" in out.output, (ref, out.output)


@embedded
def test_a_synthid_key_that_cannot_score_is_refused_at_registration(
    server: Server, tmp_path: Path, words: tuple[str, list[str]]
) -> None:
    """Registration scores one short sentence; with 16-grams that sentence has no scored
    position, so a truncated g-value table or out-of-range layer keys passed it and then
    made every real test of the model fail (500)."""
    pub = server.user("pat", "acme", "publisher")
    server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")
    synthid = new_key(
        "synthid", tokenizer_identity(words[0], "lee-words"), params={"ngram_len": 16}
    )
    for broken in ({"table": "AA=="}, {"keys": [-1] * 30}, {"keys": ["1"] * 30}):
        doc = synthid.to_json()
        doc["params"] = doc["params"] | broken
        r = _api(server, "PUT", KEY_PATH, pub, doc)
        assert r.status_code == 422 and "invalid parameters" in r.json()["detail"], r.text
    _ok(_api(server, "PUT", KEY_PATH, pub, synthid.to_json()))
    text = {"text": " ".join(words[1][1:400])}
    assert _ok(_api(server, "POST", DETECT_PATH, pub, text))["tokens_scored"] > 300


@embedded
def test_a_stored_key_that_fails_todays_checks_says_so(
    server: Server, tmp_path: Path, words: tuple[str, list[str]]
) -> None:
    """A key registered before a check was added (here: 100 SynthID layers) is refused
    with a reason its publisher can act on, not a bare 500 page."""
    from sqlalchemy import select

    from openward.registry import textmarks
    from openward.registry.models import TextWatermarkKey

    pub = server.user("pat", "acme", "publisher")
    server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")
    synthid = new_key("synthid", tokenizer_identity(words[0], "lee-words"), secret=b"d" * 32)
    _ok(_api(server, "PUT", KEY_PATH, pub, synthid.to_json()))
    registry = server.app.state.registry
    doc = synthid.to_json()
    doc["params"] = doc["params"] | {"depth": 100, "keys": list(range(100))}
    with registry.sessions() as s:
        row = s.scalar(select(TextWatermarkKey))
        row.sealed = textmarks._seal(registry, row.model_id, row.key_id, doc)
        s.commit()
    r = _api(server, "POST", DETECT_PATH, pub, {"text": " ".join(words[1][1:100])})
    assert r.status_code == 500 and "register the key again" in r.json()["detail"], r.text
