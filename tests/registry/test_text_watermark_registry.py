"""Text watermark keys held by the registry, over real HTTP on both configurations
(SQLite and files; PostgreSQL, S3 via moto and a Celery worker): a publisher registers
a model's key, users allowed the model test texts against it (watermarked text found,
human text cleared, a gated model's non-grantees refused), the key never appears in
an answer, a page or the log, each test is logged with the text's hash, and the
migration upgrades a database of the previous revision.

Watermarked text is made without a language model: a word-level tokenizer over the
Lee news corpus's words, and a sampler that draws each next word from the key's green
list for the previous word (KGW LeftHash), which is what a watermarked model does at
delta = infinity. The human text is a Lee corpus article."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from openward.cli.main import app as cli
from openward.watermark.text import new_key, tokenizer_identity
from openward.watermark.text._hashing import green_value
from openward.watermark.text.keys import WatermarkKey
from openward.watermark.text.kgw import KGWParams
from tests.registry.conftest import PG_URL, Server, _pg_schema
from tests.registry.test_registry import _model
from tests.watermark.human_text import lee_corpus

runner = CliRunner()
SECRET = bytes(range(7, 39))


@pytest.fixture(scope="module")
def words() -> tuple[str, list[str]]:
    """(tokenizer.json of a word-level tokenizer over the Lee corpus's words, its words)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    pre = pre_tokenizers.Whitespace()
    vocab = sorted({w for doc in lee_corpus() for w, _ in pre.pre_tokenize_str(doc)})
    table = {"[UNK]": 0} | {w: i + 1 for i, w in enumerate(vocab)}
    tok = Tokenizer(models.WordLevel(table, unk_token="[UNK]"))  # noqa: S106
    tok.pre_tokenizer = pre
    return tok.to_str(), ["[UNK]", *vocab]


@pytest.fixture(scope="module")
def key(words: tuple[str, list[str]]) -> WatermarkKey:
    return new_key("kgw", tokenizer_identity(words[0], "lee-words"), secret=SECRET)


def _watermarked(key: WatermarkKey, vocab: list[str], n: int = 200, seed: int = 0) -> str:
    """``n`` words, each drawn from the green list of the word before it."""
    params = KGWParams.from_key(key)
    codes = params.codes(np.arange(len(vocab), dtype=np.int64))
    rng = np.random.default_rng(seed)
    ids = [int(rng.integers(1, len(vocab)))]
    for _ in range(n):
        seed_ = params.left_seed(np.array([ids[-1]], dtype=np.int64))
        green = np.flatnonzero(green_value(seed_, codes) < params.threshold)
        ids.append(int(rng.choice(green[green > 0])))
    return " ".join(vocab[i] for i in ids)


def _api(server: Server, method: str, path: str, token: str | None = None,
         body: Any = None) -> httpx.Response:  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=60)


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def _ow(*args: str, input: str | None = None) -> Any:
    return runner.invoke(cli, list(args), input=input)


def _secrets_of(key: WatermarkKey) -> list[str]:
    """What must never leave the registry: the secret, and the key file's embedded
    tokenizer (only the key file has it in that form)."""
    doc = key.to_json()
    return [key.secret.hex(), doc["tokenizer"]["tokenizer_json_zlib_b64"][:64]]


KEY_PATH = "/api/v1/models/acme/chat/text-watermark-key"
DETECT_PATH = "/api/v1/models/acme/chat/text-watermark/detect"


def test_register_detect_authorise_log_and_remove(
    server: Server, tmp_path: Path, key: WatermarkKey, words: tuple[str, list[str]]
) -> None:
    url = ["--registry", server.url]
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    bob = server.user("bob", "labs2", "reader")
    assert server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")["status"] == "published"
    key_file = tmp_path / "chat.wmkey"
    key.save(key_file)
    marked = _watermarked(key, words[1])
    human = lee_corpus()[3]
    (tmp_path / "marked.txt").write_text(marked)
    (tmp_path / "human.txt").write_text(human)
    seen: list[str] = []  # every answer and page, searched for the key below

    # Nothing registered yet: the model says so, and a test has nothing to test with.
    assert _ok(_api(server, "GET", KEY_PATH))["text_watermark"] is None
    page = httpx.get(f"{server.url}/models/acme/chat").text
    assert 'data-testid="text-watermark"' not in page
    r = _api(server, "POST", DETECT_PATH, ann, {"text": marked})
    assert r.status_code == 404 and "no text watermark key" in r.json()["detail"]

    # Only the model's publishers (and admins) register a key.
    denied = _ow("registry", "watermark-key", "set", "acme/chat", "--key", str(key_file),
                 *url, "--token", ann)  # fmt: skip
    assert denied.exit_code == 2 and "403" in denied.output and "publisher" in denied.output
    made = _ow("registry", "watermark-key", "set", "acme/chat", "--key", str(key_file),
               *url, "--token", pub, "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    registered = json.loads(made.output)
    assert registered == {"model": "acme/chat", "key_id": key.key_id, "scheme": "kgw",
                          "tokenizer": "lee-words", "previous": None}  # fmt: skip
    seen.append(made.output)
    shown = _ow("registry", "watermark-key", "show", "acme/chat", *url)
    assert shown.exit_code == 0 and f"kgw, key id {key.key_id}" in shown.output, shown.output
    public = _ok(_api(server, "GET", KEY_PATH))
    assert public["text_watermark"] == {"key_id": key.key_id, "scheme": "kgw",
                                        "tokenizer": "lee-words"}  # fmt: skip
    version = _ok(_api(server, "GET", "/api/v1/models/acme/chat/versions/1"))
    assert version["text_watermark"]["key_id"] == key.key_id
    seen += [json.dumps(public), json.dumps(version)]
    page = httpx.get(f"{server.url}/models/acme/chat").text
    assert 'data-testid="text-watermark"' in page
    assert f"Outputs watermarked (kgw, key id <code>{key.key_id}</code>)" in page
    seen.append(page)

    # A reader tests a watermarked text through the registry: the same JSON as a local
    # detect with the key file, plus where it was logged.
    via = _ow("watermark", "detect", str(tmp_path / "marked.txt"), "--registry-model",
              "acme/chat", *url, "--token", ann, "--json")  # fmt: skip
    assert via.exit_code == 0, via.output
    remote = json.loads(via.output)
    local = json.loads(_ow("watermark", "detect", str(tmp_path / "marked.txt"), "--key",
                           str(key_file), "--json").output)  # fmt: skip
    assert remote["watermarked"] is True and remote["p_value"] < 1e-5
    assert remote["tokens_scored"] >= 150
    answered = {k: v for k, v in remote.items() if k not in ("model", "log_index", "text_salt")}
    assert answered == local
    assert remote["model"] == "acme/chat" and isinstance(remote["log_index"], int)
    seen.append(via.output)
    # Human text: no watermark (a verdict, exit 0); the text form says so too.
    plain = _ow("watermark", "detect", "-", "--registry-model", "acme/chat", *url,
                "--token", ann, input=human)  # fmt: skip
    assert plain.exit_code == 0 and plain.output.startswith("no watermark found"), plain.output
    cleared = _ok(_api(server, "POST", DETECT_PATH, ann, {"text": human}))
    assert cleared["watermarked"] is False and cleared["p_value"] > 1e-3
    seen += [plain.output, json.dumps(cleared)]
    # Too short for a verdict: exit 1 and the reason, as with a key file.
    short = _ow("watermark", "detect", "-", "--registry-model", "acme/chat", *url,
                "--token", ann, input="Far too short.")  # fmt: skip
    assert short.exit_code == 1 and "no verdict" in short.output

    # Refusals: no token; a text over the size limit; not valid input; both key forms.
    r = _api(server, "POST", DETECT_PATH, None, {"text": marked})
    assert r.status_code == 401 and "token" in r.json()["detail"]
    r = _api(server, "POST", DETECT_PATH, ann, {"text": "word " * 60_000})
    assert r.status_code == 413 and "at most" in r.json()["detail"]
    r = _api(server, "POST", DETECT_PATH, ann, {"text": marked, "alpha": 2})
    assert r.status_code == 422
    both = _ow("watermark", "detect", str(tmp_path / "marked.txt"), "--key", str(key_file),
               "--registry-model", "acme/chat", *url)  # fmt: skip
    assert both.exit_code == 2 and "exactly one of --key" in both.output
    neither = _ow("watermark", "detect", str(tmp_path / "marked.txt"))
    assert neither.exit_code == 2 and "exactly one of --key" in neither.output

    # A gated model: only its publishers, admins and grantees test texts against it.
    _ok(_api(server, "PUT", "/api/v1/models/acme/chat/access", pub, {"tier": "gated"}))
    for token in (ann, bob):
        gated = _ow("watermark", "detect", str(tmp_path / "marked.txt"), "--registry-model",
                    "acme/chat", *url, "--token", token)  # fmt: skip
        assert gated.exit_code == 2 and "403" in gated.output and "gated" in gated.output
    _ok(_api(server, "POST", "/api/v1/models/acme/chat/access/grants", pub, {"user": "ann"}), 201)
    assert _ok(_api(server, "POST", DETECT_PATH, ann, {"text": marked}))["watermarked"] is True
    assert _api(server, "POST", DETECT_PATH, bob, {"text": marked}).status_code == 403
    assert _ok(_api(server, "POST", DETECT_PATH, pub, {"text": human}))["watermarked"] is False
    # ...and the page still says the outputs are watermarked, to everyone; its log lists
    # the key's registration, not the tests (many users' tests would push decisions off).
    page = httpx.get(f"{server.url}/models/acme/chat").text
    assert 'data-testid="text-watermark"' in page
    assert "text-watermark-key" in page and "text-watermark-test" not in page

    # Each test is in the transparency log with a commitment to the text, never the text.
    entries = _ok(_api(server, "GET", "/api/v1/log/entries?start=0&end=1000"))["entries"]
    bodies = [e["body"] for e in entries]
    seen += bodies
    tests = [json.loads(b) for b in bodies if '"kind":"text-watermark-test"' in b]
    mark_entry = next(t for t in tests if t["index"] == remote["log_index"])
    # (a salted commitment: only the tester, with the salt in their answer, opens it)
    salt = bytes.fromhex(remote["text_salt"])
    assert mark_entry["text_commitment"] == hashlib.sha256(salt + marked.encode()).hexdigest()
    assert mark_entry["model"] == "acme/chat" and mark_entry["by"] == "ann"
    assert mark_entry["watermarked"] is True and mark_entry["key_id"] == key.key_id
    assert mark_entry["p_value"] == remote["p_value"]
    salt = bytes.fromhex(cleared["text_salt"])
    human_commitment = hashlib.sha256(salt + human.encode()).hexdigest()
    assert [t["watermarked"] for t in tests if t["text_commitment"] == human_commitment] == [False]
    assert {t["by"] for t in tests} == {"ann", "pat"}  # refused tests are not results
    assert not any(marked[:80] in b or human[:80] in b for b in bodies)
    keys_logged = [json.loads(b) for b in bodies if '"kind":"text-watermark-key"' in b]
    assert [(k["key_id"], k["by"]) for k in keys_logged] == [(key.key_id, "pat")]

    # The key is in no answer, page or log entry.
    for secret in _secrets_of(key):
        for text in seen:
            assert secret not in text

    # Replacing the key: a file that is not a valid key is refused in one line; a new
    # key replaces the old one (logged with the one it replaced).
    bad = key.to_json() | {"tokenizer": key.to_json()["tokenizer"] | {"vocab_sha256": "0" * 64}}
    (tmp_path / "bad.wmkey").write_text(json.dumps(bad))
    refused = _ow("registry", "watermark-key", "set", "acme/chat", "--key",
                  str(tmp_path / "bad.wmkey"), *url, "--token", pub)  # fmt: skip
    assert refused.exit_code == 2 and "422" in refused.output and "altered" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
    other = new_key("kgw-selfhash", tokenizer_identity(words[0], "lee-words"))
    other.save(tmp_path / "other.wmkey")
    replaced = _ok(_api(server, "PUT", KEY_PATH, pub, other.to_json()))
    assert replaced["previous"] == key.key_id and replaced["key_id"] == other.key_id
    # The old key's text is no longer found watermarked under the new key.
    again = _ok(_api(server, "POST", DETECT_PATH, ann, {"text": marked}))
    assert again["scheme"] == "kgw-selfhash" and again["watermarked"] is False

    # Removing it: readers cannot, the publisher can; then the page and API say nothing.
    assert _api(server, "DELETE", KEY_PATH, ann).status_code == 403
    gone = _ow("registry", "watermark-key", "remove", "acme/chat", *url, "--token", pub)
    assert gone.exit_code == 0 and other.key_id in gone.output, gone.output
    assert _ok(_api(server, "GET", KEY_PATH))["text_watermark"] is None
    assert 'data-testid="text-watermark"' not in httpx.get(f"{server.url}/models/acme/chat").text
    assert _api(server, "POST", DETECT_PATH, ann, {"text": marked}).status_code == 404
    assert _api(server, "DELETE", KEY_PATH, pub).status_code == 404


def test_the_key_is_sealed_in_the_database(
    server: Server, tmp_path: Path, key: WatermarkKey
) -> None:
    """The database row holds no readable key: a dump alone does not give it away, and a
    sealed key copied to another model's row does not open there."""
    from sqlalchemy import select

    from openward.registry.models import TextWatermarkKey

    pub = server.user("pat", "acme", "publisher")
    for name in ("chat", "other"):
        server.client(pub).push(_model(tmp_path / name, seed=len(name)), f"acme/{name}:1")
        _ok(_api(server, "PUT", f"/api/v1/models/acme/{name}/text-watermark-key", pub,
                 key.to_json()))  # fmt: skip
    registry = server.app.state.registry
    with registry.sessions() as s:
        rows = {r.model.name: r for r in s.scalars(select(TextWatermarkKey))}
        assert set(rows) == {"chat", "other"}
        for row in rows.values():
            assert key.secret.hex().encode() not in row.sealed
            assert key.secret not in row.sealed
        rows["other"].sealed = rows["chat"].sealed  # a swapped ciphertext
        s.commit()
    text = "Some words to test here. " * 20
    assert _api(server, "POST", DETECT_PATH, pub, {"text": text}).status_code == 200
    swapped = _api(server, "POST", "/api/v1/models/acme/other/text-watermark/detect", pub,
                   {"text": text})  # fmt: skip
    assert swapped.status_code == 500 and "register the key again" in swapped.json()["detail"]


def test_large_key_files_are_read_from_publishers_only(
    server: Server, tmp_path: Path, key: WatermarkKey
) -> None:
    """A key file embeds its tokenizer (MBs for large vocabularies): read past the JSON
    limit from a signed-in caller, refused (413) from anyone else before it is read."""
    pub = server.user("pat", "acme", "publisher")
    server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")
    doc = key.to_json() | {"padding": "x" * (2 << 20)}  # over the 1 MiB JSON limit
    assert _api(server, "PUT", KEY_PATH, None, doc).status_code == 413
    assert _ok(_api(server, "PUT", KEY_PATH, pub, doc))["key_id"] == key.key_id


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migration_0011_upgrades_a_database_of_0010(database: str, tmp_path: Path) -> None:
    """A registry at revision 0010 with a model upgrades to 0011 (the table is there and
    takes a key), downgrades back, and upgrades again."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect, text

    from openward.registry.db import MIGRATIONS, make_engine

    url = (f"sqlite:///{tmp_path / 'r.db'}" if database == "sqlite"
           else f"{PG_URL}?options=-csearch_path%3D{_pg_schema()}")  # fmt: skip
    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))

    def to(revision: str, down: bool = False) -> None:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)

    to("0010")
    assert "text_watermark_keys" not in inspect(engine).get_table_names()
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO organisations (id, name, created_at) VALUES (1, 'acme', "
                "CURRENT_TIMESTAMP)"
            )
        )
        c.execute(
            text(
                "INSERT INTO models (id, organisation_id, name, access_tier, watermark, "
                "created_at) VALUES (1, 1, 'chat', 'open', 'none', CURRENT_TIMESTAMP)"
            )
        )
    to("head")
    columns = {c["name"] for c in inspect(engine).get_columns("text_watermark_keys")}
    assert {"model_id", "key_id", "scheme", "tokenizer", "sealed"} <= columns
    with engine.begin() as c:
        c.execute(text("INSERT INTO text_watermark_keys (model_id, key_id, scheme, tokenizer, "
                       "vocab_sha256, sealed, created_at) VALUES (1, 'k', 'kgw', 't', 'v', "
                       ":sealed, CURRENT_TIMESTAMP)"), {"sealed": b"\x00" * 40})  # fmt: skip
        assert c.execute(text("SELECT count(*) FROM models")).scalar() == 1
    to("0010", down=True)
    assert "text_watermark_keys" not in inspect(engine).get_table_names()
    to("head")
    assert "text_watermark_keys" in inspect(engine).get_table_names()
    engine.dispose()
