"""Nothing a client sends crashes the guard: hypothesis-generated junk bodies, odd-but-valid
request shapes, and random methods, paths and headers on every route. The guard answers
each with a status it chose (never a 500 of its own) and stays up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openward.guard.engine import Engine
from openward.guard.policy import policy_from_mapping
from openward.guard.proxy import create_app
from tests.guard.sample_detectors import Leak, LongPrompt, PhraseInjection, Secrets
from tests.guard.upstream import Script, serve, upstream_app

ROUTES = ["/v1/chat/completions", "/v1/completions"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=40)}),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["image_url", "text", "x"]), "text": json_values}
    ),
    json_values,
)
messages = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "tool", "assistant", "x"]) | json_values},
    optional={
        "content": st.text(max_size=60) | st.lists(parts, max_size=3) | json_values,
        "tool_calls": st.lists(
            st.fixed_dictionaries(
                {"id": st.text(max_size=4), "function": st.fixed_dictionaries(
                    {"name": st.text(max_size=6), "arguments": st.text(max_size=30) | json_values})}
            )
            | json_values,
            max_size=2,
        ),
        "name": st.text(max_size=6) | json_values,
        "tool_call_id": st.text(max_size=4) | json_values,
    },
)  # fmt: skip
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.text(max_size=8) | json_values,
        "messages": st.lists(messages, max_size=4) | json_values,
        "prompt": st.text(max_size=60) | st.lists(st.text(max_size=10), max_size=3) | json_values,
        "stream": st.booleans() | json_values,
        "n": json_values,
    },
)


@pytest.fixture(scope="module")
def guard_url() -> Iterator[str]:
    script = Script(record=False)
    policy = policy_from_mapping({"system_prompts": ["You are a helpful bot for ACME Corp."]})
    engine = Engine(policy, [PhraseInjection(), LongPrompt(), Secrets(), Leak()])
    with serve(upstream_app(script)) as up, serve(create_app(policy, up, engine=engine)) as url:
        yield url


@pytest.fixture(scope="module")
def client(guard_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=guard_url, timeout=10) as c:
        yield c


def _answered(r: httpx.Response) -> None:
    assert r.status_code != 500, r.text
    if r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
        err = r.json()["error"]
        assert {"message", "type", "param", "code"} <= err.keys()


_fuzz = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_fuzz
@given(raw=st.binary(max_size=200), route=st.sampled_from(ROUTES))
def test_junk_bytes_are_refused_cleanly(client: httpx.Client, raw: bytes, route: str) -> None:
    r = client.post(route, content=raw)
    _answered(r)
    assert r.status_code in (200, 400)


@_fuzz
@given(body=bodies, route=st.sampled_from(ROUTES))
def test_odd_request_shapes_get_an_answer(
    client: httpx.Client, body: dict[str, Any], route: str
) -> None:
    r = client.post(route, content=json.dumps(body))
    _answered(r)
    assert r.status_code in (200, 400)


@_fuzz
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
    path=st.sampled_from([*ROUTES, "/v1/models", "/metrics", "/healthz", "/v1/echo", "/"])
    | st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="?#%"),
              max_size=20).map(lambda s: "/" + s),
    headers=st.dictionaries(
        st.sampled_from(["authorization", "content-type", "x-request-id", "content-length",
                         "accept-encoding", "x-other"]),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30).map(str.strip),
        max_size=3,
    ),
    body=st.binary(max_size=64),
)  # fmt: skip
def test_any_method_path_and_headers_on_any_route(
    client: httpx.Client, method: str, path: str, headers: dict[str, str], body: bytes
) -> None:
    headers.pop("content-length", None)  # httpx sets it; a lying one is a transport error
    try:
        r = client.request(method, path, headers=headers, content=body or None)
    except httpx.TransportError as exc:
        pytest.fail(f"the guard dropped the connection: {exc!r}")
    _answered(r)
    health = client.get("/healthz")
    assert health.status_code == 200
