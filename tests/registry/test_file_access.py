"""A download of one file costs the same whatever the number of files in its version
(both configurations): the same SQL statements, one manifest row read, and neither
the version's file list nor its scan report and facts (megabytes of JSON for a
10,000-file version) loaded. Counted with SQLAlchemy's events in the server's own
process; the time it takes is measured in benchmarks/registry_bench.py, not here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
from sqlalchemy import Engine, event

from openward.registry.models import VersionFile
from tests.registry.conftest import Server
from tests.registry.test_registry import _model


@contextlib.contextmanager
def counting() -> Iterator[dict[str, list[str]]]:
    """Every SQL statement run, and every manifest row (``VersionFile``) loaded."""
    seen: dict[str, list[str]] = {"sql": [], "files": []}

    def statement(conn, cursor, sql, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen["sql"].append(" ".join(sql.split()))

    def loaded(target: VersionFile, context: object) -> None:
        seen["files"].append(target.path)

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(VersionFile, "load", loaded)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(VersionFile, "load", loaded)


def _many(root: Path, files: int) -> Path:
    model = _model(root, seed=files)
    (model / "extra").mkdir()
    for i in range(files):
        (model / "extra" / f"{i:04d}.txt").write_text(f"file {i}\n")
    return model


def test_one_file_costs_the_same_in_a_version_of_many_files(server: Server, tmp_path: Path) -> None:
    admin = server.client(server.admin)
    assert admin.push(_many(tmp_path / "few", 3), "acme/few:1")["status"] == "published"
    assert admin.push(_many(tmp_path / "many", 400), "acme/many:1")["status"] == "published"
    reader = server.user("rita", None, "reader")

    def fetch(name: str, path: str, token: str | None) -> dict[str, list[str]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"{server.url}/api/v1/models/acme/{name}/versions/1/files/{path}"
        with counting() as seen:
            # Scale-out answers with a redirect to the object store: not followed.
            r = httpx.get(url, headers=headers, follow_redirects=False)
        assert r.status_code in (200, 307), r.text
        return seen

    for token in (None, reader):  # anonymous, and a user whose downloads are deduplicated
        for path in ("extra/0001.txt", "config.json"):
            few, many = fetch("few", path, token), fetch("many", path, token)
            assert len(few["sql"]) == len(many["sql"]), (few["sql"], many["sql"])
            assert few["files"] == many["files"] == [path]  # that one manifest row
            for sql in many["sql"]:
                assert "scan_report" not in sql and "versions.facts" not in sql, sql
        again = fetch("many", "extra/0001.txt", token)  # the same file once more
        assert again["files"] == ["extra/0001.txt"]
    # A file the version does not list is still a 404.
    r = httpx.get(f"{server.url}/api/v1/models/acme/many/versions/1/files/extra/9999.txt")
    assert r.status_code == 404 and "is not a file of acme/many:1" in r.json()["detail"]
