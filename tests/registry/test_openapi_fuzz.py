"""Property-based requests generated from the registry's OpenAPI document (schemathesis):
whatever arrives, the server answers with a clear 4xx, never a 500."""

from __future__ import annotations

from pathlib import Path

import hypothesis
import pytest

from openward.registry.app import create_app
from openward.registry.service import Settings

schemathesis = pytest.importorskip("schemathesis")


def test_no_server_errors(tmp_path: Path) -> None:
    app = create_app(Settings(data=tmp_path / "data"))
    token = app.state.registry.bootstrap_admin()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    calls: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8

    def checker(op, headers):  # type: ignore[no-untyped-def]
        @hypothesis.given(case=op.as_strategy())
        @hypothesis.settings(
            max_examples=15, deadline=None, database=None, derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
        )  # fmt: skip
        def check(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=headers)
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        return check

    for op in operations:
        for headers in ({}, {"Authorization": f"Bearer {token}"}):
            checker(op, headers)()
    assert failures == []
    assert len(calls) > 100 and any(code < 300 for code in calls)
