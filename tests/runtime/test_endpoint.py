"""Endpoints: a real ``transformers serve`` answers through inspect-ai; a dead one fails cleanly."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
from inspect_ai.model import GenerateConfig

from openward.errors import TargetError
from openward.runtime import inspect_model, resolve_target
from openward.runtime.server import free_port


def test_real_server_answers_through_inspect_model(openai_endpoint: tuple[str, str]) -> None:
    base_url, model_name = openai_endpoint
    # the bare server URL works too: /v1 is added
    target = resolve_target(None, endpoint=base_url.removesuffix("/v1"), model=model_name)
    assert target.kind == "endpoint"
    assert target.base_url == base_url
    assert target.display == f"{model_name} @ {base_url}"

    model = inspect_model(target)
    output = asyncio.run(
        model.generate(
            "What is the capital of France? Answer in one word.",
            config=GenerateConfig(max_tokens=12, temperature=0.0),
        )
    )
    assert "paris" in output.completion.lower()


def test_unreachable_endpoint_is_retried_then_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[str] = []
    real_urlopen = urllib.request.urlopen

    def counting_urlopen(request: urllib.request.Request, timeout: float) -> object:
        attempts.append(request.full_url)
        return real_urlopen(request, timeout=timeout)

    monkeypatch.setattr(urllib.request, "urlopen", counting_urlopen)
    monkeypatch.setattr("openward.runtime.targets.PREFLIGHT_FIRST_DELAY_S", 0.05)
    port = free_port()  # nothing listens there

    with pytest.raises(TargetError, match=r"unreachable after 4 tries") as caught:
        resolve_target(f"http://127.0.0.1:{port}/v1", model="anything")

    assert attempts == [f"http://127.0.0.1:{port}/v1/models"] * 4
    assert "\n" not in str(caught.value)


def test_a_model_the_server_does_not_serve_is_named_in_the_error(
    openai_endpoint: tuple[str, str],
) -> None:
    base_url, model_name = openai_endpoint
    with pytest.raises(TargetError, match=r"serves no model named 'gpt-4'.*it lists: ") as caught:
        resolve_target(None, endpoint=base_url, model="gpt-4")
    assert model_name in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1", "not a valid URL"),
        ("http://127.0.0.1:port/v1", "not a valid URL"),
        ("http://127.0.0.1:99999/v1", "not a valid URL"),
        ("ftp://127.0.0.1/v1", "expected an http"),
        ("http://:8000/v1", "expected an http"),
    ],
)
def test_a_malformed_endpoint_url_is_a_one_line_error(url: str, message: str) -> None:
    with pytest.raises(TargetError, match=message) as caught:
        resolve_target(None, endpoint=url, model="m")
    assert "\n" not in str(caught.value)
