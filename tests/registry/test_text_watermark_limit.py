"""The per-user hourly limit on text watermark tests (``text_watermark_tests_per_hour``),
over real HTTP on both configurations (SQLite; PostgreSQL with a Celery worker): each
answer reads some 16 exact green counts, so a user with unlimited tests would read a
green list one query at a time.

A user at the limit gets 429 with ``Retry-After`` (when the oldest test of the hour
leaves it) and a one-line message, and nothing is logged; the model's publishers and
admins are not limited; the count is per user; the window slides (the stored times are
moved back instead of waiting an hour); concurrent tests of one user do not overshoot;
the CLI prints the refusal in one line and exits 2; migration 0013 upgrades and
downgrades."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from openward.watermark.text.keys import WatermarkKey
from tests.registry import test_text_watermark_registry as feature
from tests.registry.conftest import PG_URL, Server, _pg_schema
from tests.registry.test_registry import _model
from tests.registry.test_text_watermark_registry import DETECT_PATH, KEY_PATH, _api, _ok, _ow

words = feature.words  # the feature tests' word tokenizer and KGW key (fixtures)
key = feature.key

LIMIT = 3
TEXT = {"text": "Some words to test here, nothing more. " * 20}


def _tests_logged(server: Server) -> int:
    entries = _ok(_api(server, "GET", "/api/v1/log/entries?start=0&end=1000"))["entries"]
    return sum('"kind":"text-watermark-test"' in e["body"] for e in entries)


def _age(server: Server, user: str, by: timedelta, *, oldest_only: bool = False) -> None:
    """Move ``user``'s stored test times ``by`` into the past (all, or the oldest one)."""
    from sqlalchemy import select

    from openward.registry.models import TextWatermarkTest, User

    with server.app.state.registry.sessions() as s:
        rows = s.scalars(
            select(TextWatermarkTest)
            .join(User, User.id == TextWatermarkTest.user_id)
            .where(User.name == user)
            .order_by(TextWatermarkTest.at)
        ).all()
        assert rows
        for row in rows[:1] if oldest_only else rows:
            row.at = row.at - by
        s.commit()


def _stored(server: Server, user: str) -> int:
    from sqlalchemy import func, select

    from openward.registry.models import TextWatermarkTest, User

    with server.app.state.registry.sessions() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(TextWatermarkTest)
                .join(User, User.id == TextWatermarkTest.user_id)
                .where(User.name == user)
            )
            or 0
        )


@pytest.mark.registry_settings(text_watermark_tests_per_hour=LIMIT)
def test_hourly_limit_per_user(server: Server, tmp_path: Path, key: WatermarkKey) -> None:
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    bob = server.user("bob", "labs2", "reader")
    assert server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")["status"] == "published"
    _ok(_api(server, "PUT", KEY_PATH, pub, key.to_json()))

    for _ in range(LIMIT):
        _ok(_api(server, "POST", DETECT_PATH, ann, TEXT))
    logged = _tests_logged(server)
    refused = _api(server, "POST", DETECT_PATH, ann, TEXT)
    assert refused.status_code == 429, refused.text
    wait = int(refused.headers["Retry-After"])
    assert 3500 < wait <= 3600
    detail = refused.json()["detail"]
    assert f"{LIMIT} text watermark tests in the last hour" in detail
    assert "try again in" in detail and "\n" not in detail
    assert _tests_logged(server) == logged  # a refused test is not in the log
    assert _stored(server, "ann") == LIMIT  # ...nor counted

    # The CLI says so in one line and exits 2.
    (tmp_path / "t.txt").write_text(TEXT["text"])
    out = _ow("watermark", "detect", str(tmp_path / "t.txt"), "--registry-model", "acme/chat",
              "--registry", server.url, "--token", ann)  # fmt: skip
    assert out.exit_code == 2, out.output
    assert len(out.output.strip().splitlines()) == 1
    assert "429" in out.output and "try again in" in out.output

    # Per user: bob has his own hour; the publisher and the admin are not limited.
    for _ in range(LIMIT):
        _ok(_api(server, "POST", DETECT_PATH, bob, TEXT))
    assert _api(server, "POST", DETECT_PATH, bob, TEXT).status_code == 429
    for token in (pub, server.admin):
        for _ in range(LIMIT + 2):
            _ok(_api(server, "POST", DETECT_PATH, token, TEXT))
    assert _stored(server, "pat") == _stored(server, "admin") == 0
    # The limit is per user, not per token: another token of ann's is refused too.
    ann2 = server.user("ann", None, "reader")
    assert _api(server, "POST", DETECT_PATH, ann2, TEXT).status_code == 429

    # The window slides: the oldest test 59.5 minutes ago leaves it in some 30 s...
    _age(server, "ann", timedelta(minutes=59, seconds=30), oldest_only=True)
    soon = _api(server, "POST", DETECT_PATH, ann, TEXT)
    assert soon.status_code == 429 and 1 <= int(soon.headers["Retry-After"]) <= 31
    # ...and once it is over an hour old, one more test goes through (and the old row
    # is removed), then the limit holds again.
    _age(server, "ann", timedelta(minutes=1), oldest_only=True)
    _ok(_api(server, "POST", DETECT_PATH, ann, TEXT))
    assert _stored(server, "ann") == LIMIT
    assert _api(server, "POST", DETECT_PATH, ann, TEXT).status_code == 429
    # All of them an hour old: a whole new hour.
    _age(server, "ann", timedelta(hours=1))
    for _ in range(LIMIT):
        _ok(_api(server, "POST", DETECT_PATH, ann, TEXT))
    assert _stored(server, "ann") == LIMIT
    assert _api(server, "POST", DETECT_PATH, ann, TEXT).status_code == 429

    # Tests that fail for another reason are not counted.
    carl = server.user("carl", "labs3", "reader")
    for _ in range(LIMIT + 1):
        assert _api(server, "POST", DETECT_PATH, carl, {"text": "x" * 300_000}).status_code == 413
    assert _stored(server, "carl") == 0


@pytest.mark.registry_settings(text_watermark_tests_per_hour=LIMIT)
def test_concurrent_tests_do_not_overshoot(
    server: Server, tmp_path: Path, key: WatermarkKey
) -> None:
    """Tests of one user sent at once: exactly the limit pass (the count and the test are
    one transaction, serialised per user)."""
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")
    _ok(_api(server, "PUT", KEY_PATH, pub, key.to_json()))
    _ok(_api(server, "POST", DETECT_PATH, pub, TEXT))  # the key parsed once, up front
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _api(server, "POST", DETECT_PATH, ann, TEXT), range(8)))
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * LIMIT + [429] * (8 - LIMIT), [r.text for r in answers]
    assert _stored(server, "ann") == LIMIT


def test_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from openward.registry.config import settings_from_env

    monkeypatch.setenv("OPENWARD_DATA", str(tmp_path))
    monkeypatch.delenv("OPENWARD_TEXT_WATERMARK_TESTS_PER_HOUR", raising=False)
    assert settings_from_env().text_watermark_tests_per_hour == 60
    monkeypatch.setenv("OPENWARD_TEXT_WATERMARK_TESTS_PER_HOUR", "0")
    assert settings_from_env().text_watermark_tests_per_hour == 0
    monkeypatch.setenv("OPENWARD_TEXT_WATERMARK_TESTS_PER_HOUR", "-1")
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        settings_from_env()


@pytest.mark.parametrize("server", ["embedded"], indirect=True)
@pytest.mark.registry_settings(text_watermark_tests_per_hour=0)
def test_zero_is_unlimited(server: Server, tmp_path: Path, key: WatermarkKey) -> None:
    pub = server.user("pat", "acme", "publisher")
    ann = server.user("ann", "labs", "reader")
    server.client(pub).push(_model(tmp_path / "m"), "acme/chat:1")
    _ok(_api(server, "PUT", KEY_PATH, pub, key.to_json()))
    for _ in range(LIMIT + 2):
        _ok(_api(server, "POST", DETECT_PATH, ann, TEXT))
    assert _stored(server, "ann") == 0


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migration_0013_upgrades_a_database_of_0012(database: str, tmp_path: Path) -> None:
    """A registry at 0012 with a user and a model upgrades to 0013 (the table and its
    index are there and take a test), downgrades back, and upgrades again."""
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

    to("0012")
    assert "text_watermark_tests" not in inspect(engine).get_table_names()
    with engine.begin() as c:
        c.execute(text("INSERT INTO organisations (id, name, created_at) VALUES (1, 'acme', "
                       "CURRENT_TIMESTAMP)"))  # fmt: skip
        c.execute(text("INSERT INTO models (id, organisation_id, name, access_tier, "
                       "watermark, created_at) VALUES (1, 1, 'chat', 'open', 'none', "
                       "CURRENT_TIMESTAMP)"))  # fmt: skip
        c.execute(text("INSERT INTO users (id, name, is_admin, created_at) VALUES "
                       "(1, 'ann', false, CURRENT_TIMESTAMP)"))  # fmt: skip
    to("head")
    columns = {c["name"] for c in inspect(engine).get_columns("text_watermark_tests")}
    assert columns == {"id", "user_id", "model_id", "at"}
    indexes = inspect(engine).get_indexes("text_watermark_tests")
    assert [i["column_names"] for i in indexes] == [["user_id", "at"]]
    with engine.begin() as c:
        c.execute(text("INSERT INTO text_watermark_tests (user_id, model_id, at) VALUES "
                       "(1, 1, :at)"), {"at": datetime.now(UTC)})  # fmt: skip
        assert c.execute(text("SELECT count(*) FROM text_watermark_tests")).scalar() == 1
    to("0012", down=True)
    assert "text_watermark_tests" not in inspect(engine).get_table_names()
    with engine.begin() as c:
        assert c.execute(text("SELECT count(*) FROM users")).scalar() == 1
    to("head")
    assert "text_watermark_tests" in inspect(engine).get_table_names()
    engine.dispose()


def test_the_refusal_reads_in_one_line() -> None:
    from openward.registry.textmarks import _duration

    assert [_duration(n) for n in (1, 59, 60, 61, 3600)] == [
        "1 s", "59 s", "1 min", "1 min 1 s", "60 min",
    ]  # fmt: skip
