"""The database-backed transparency log: concurrent appends from many threads get
distinct, gap-free positions; the stored tree equals one recomputed from the bodies."""

from __future__ import annotations

import threading
from pathlib import Path

from openward.registry import merkle, tlog
from openward.registry.db import make_engine, migrate, session_factory


def test_concurrent_appends_serialise_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    errors: list[str] = []

    def worker(i: int) -> None:
        for j in range(25):
            try:
                with sessions.begin() as s:
                    s.connection()  # a transaction that has read but not written yet
                    tlog.append(s, "test", {"worker": i, "n": j})
            except Exception as exc:  # any failure is the finding
                errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sessions() as s:
        size, root = tlog.root(s)
        bodies = [e.body for e in tlog.entries(s, 0, size)]
    assert size == 150 and [int(b.split('"index":')[1].split(",")[0]) for b in bodies] == list(
        range(150)
    )
    assert merkle.root_of([merkle.leaf_hash(b.encode()) for b in bodies]) == root
    engine.dispose()
