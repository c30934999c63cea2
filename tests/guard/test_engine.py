"""The engine: request bodies read into segments (trusted or not), decisions, redaction in the
forwarded body, and the output guard's hold-back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from openward.guard.engine import Decision, Engine, ParsedRequest, RequestError, parse_request
from openward.guard.policy import UntrustedPolicy, policy_from_mapping
from openward.guard.types import InputDetector, OutputDetector
from tests.guard.sample_detectors import PHRASE, Broken, Leak, PhraseInjection, Secrets

UNTRUSTED = UntrustedPolicy()


def _chat(*messages: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"model": "m", "messages": list(messages), **extra}).encode()


def test_chat_segments_cover_strings_parts_tool_calls_and_tool_results() -> None:
    body = _chat(
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [
            {"type": "text", "text": "look at this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "text", "text": "and this"},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "web_search", "arguments": "{\"q\": \"paris\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "Paris is the capital."},
        max_tokens=5,
    )  # fmt: skip
    req = parse_request("chat", body, UNTRUSTED)
    segs = req.conversation.segments
    assert [(s.message, s.part, s.role, s.text, s.untrusted) for s in segs] == [
        (0, 0, "system", "You are terse.", False),
        (1, 0, "user", "look at this", False),
        (1, 2, "user", "and this", False),
        (2, 0, "assistant", "web search", False),  # names read as words
        (2, 0, "assistant", '{"q": "paris"}', False),
        (3, 0, "tool", "Paris is the capital.", True),
    ]
    assert req.conversation.params["max_tokens"] == 5
    assert "messages" not in req.conversation.params


def test_documents_quoted_blocks_and_named_tools_are_untrusted() -> None:
    policy = UntrustedPolicy(roles=[], tools=["browse"], quoted=True)
    text = "Summarise: <document src='x'>evil text</document> thanks\n> quoted reply\nbye"
    body = _chat(
        {"role": "user", "content": text},
        {"role": "function", "name": "browse", "content": "page text"},
        {"role": "tool", "content": "calculator says 4"},
    )
    segs = parse_request("chat", body, policy).conversation.segments
    pieces = [(s.text, s.untrusted) for s in segs]
    assert pieces == [
        ("Summarise: ", False),
        ("<document src='x'>evil text</document>", True),
        (" thanks\n", False),
        ("> quoted reply", True),
        ("\nbye", False),
        ("page text", True),  # the tool is named untrusted
        ("browse", True),  # and so is its name, which the model reads too
        ("calculator says 4", False),  # roles: [] makes other tool results trusted
    ]
    # an unclosed document runs to the end of the text
    body = _chat({"role": "user", "content": "hi <document>rest of it"})
    segs = parse_request("chat", body, UNTRUSTED).conversation.segments
    assert [(s.text, s.untrusted) for s in segs] == [("hi ", False), ("<document>rest of it", True)]


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (b'{"messages": "hi"}', "messages"),
        (b'{"messages": [3]}', "messages[0]"),
        (b'{"messages": [{"role": 1, "content": "x"}]}', "messages[0].role"),
        (b'{"messages": [{"role": "user", "content": 5}]}', "messages[0]"),
        (b'{"messages": [{"role": "user", "content": [7]}]}', "messages[0].content[0]"),
        (b'{"model": 3, "messages": []}', "model"),
    ],
)
def test_malformed_requests_are_400_naming_the_field(raw: bytes, param: str | None) -> None:
    with pytest.raises(RequestError) as info:
        parse_request("chat", raw, UNTRUSTED)
    assert info.value.status == 400
    assert info.value.param == param
    assert set(info.value.body()["error"]) == {"message", "type", "param", "code"}


def test_completion_prompts_string_list_and_token_ids() -> None:
    req = parse_request("completions", b'{"model": "m", "prompt": ["a b", "c"]}', UNTRUSTED)
    assert [s.text for s in req.conversation.segments] == ["a b", "c"]
    with pytest.raises(RequestError, match="text prompts"):
        parse_request("completions", b'{"model": "m", "prompt": [1, 2, 3]}', UNTRUSTED)


def _engine(**policy: Any) -> Engine:
    detectors: list[InputDetector | OutputDetector] = [PhraseInjection(), Secrets(), Leak()]
    return Engine(policy_from_mapping(policy), detectors)


def _decide(engine: Engine, req: ParsedRequest) -> Decision:
    return engine.decide(req, engine.inspect_input(req.conversation, engine.context("a")))


def test_redact_rewrites_only_the_located_span_in_the_forwarded_body() -> None:
    engine = _engine(detectors={"injection": "redact"})
    text = f"Context <document>Please {PHRASE.upper()} now.</document> What is 2+2?"
    body = _chat(
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": text}],
        }
    )
    req = parse_request("chat", body, engine.policy.untrusted)
    decision = asyncio.run(engine.check(req, "anonymous"))
    assert decision.action == "redact"
    assert [(f.name, f.detection.kind) for f in decision.findings] == [("injection", "indirect")]
    forwarded = decision.body["messages"][0]["content"][1]["text"]
    assert forwarded == "Context <document>Please [redacted:injection] now.</document> What is 2+2?"
    assert json.loads(body)["messages"][0]["content"][1]["text"] == text  # the original untouched


def test_most_severe_action_wins_and_kinds_override() -> None:
    engine = _engine(detectors={"injection": {"action": "flag", "kinds": {"indirect": "block"}}})
    direct = parse_request("chat", _chat({"role": "user", "content": PHRASE}), UNTRUSTED)
    assert _decide(engine, direct).action == "flag"
    both = parse_request(
        "chat",
        _chat({"role": "user", "content": PHRASE}, {"role": "tool", "content": "x " + PHRASE}),
        UNTRUSTED,
    )
    decision = _decide(engine, both)
    assert decision.action == "block" and decision.status == 400
    assert "injection" in decision.reason
    # a threshold above the score drops the finding
    engine = _engine(detectors={"injection": {"action": "block", "threshold": 0.99}})
    assert engine.inspect_input(direct.conversation, engine.context("a")) == []


def test_a_raising_input_detector_blocks_by_default_and_follows_on_error() -> None:
    req = parse_request("chat", _chat({"role": "user", "content": "hi"}), UNTRUSTED)
    engine = Engine(policy_from_mapping({}), [Broken()])
    findings = engine.inspect_input(req.conversation, engine.context("a"))
    assert [(f.name, f.detection.kind, f.action) for f in findings] == [
        ("obfuscation", "error", "block")
    ]
    engine = Engine(policy_from_mapping({"on_error": {"input": "flag"}}), [Broken()])
    assert _decide(engine, req).action == "flag"
    quiet = {"detectors": {"obfuscation": {"on_error": "allow"}}}
    engine = Engine(policy_from_mapping(quiet), [Broken()])
    assert engine.inspect_input(req.conversation, engine.context("a")) == []


def test_output_guard_holds_back_a_secret_until_it_is_complete_then_redacts_it() -> None:
    engine = _engine()  # secrets: redact by default
    guard = engine.output_guard(parse_request("chat", _chat(), UNTRUSTED).conversation, "a")
    secret = "sk-" + "A1b2C3d4" * 3
    text = f"Your key is {secret} and that is all."
    released = []
    for i in range(0, len(text), 3):
        step = guard.feed(text[i : i + 3])
        released.append(step.text)
        # nothing that could be the start of the secret ever leaves before it is judged
        assert "sk-" not in "".join(released) or "[redacted:secrets]" in "".join(released)
    released.append(guard.finish().text)
    assert "".join(released) == "Your key is [redacted:secrets] and that is all."
    assert [f.name for f in guard.findings] == ["secrets"]


def test_output_guard_block_releases_nothing_of_the_leak() -> None:
    prompt = "You are the assistant of ACME Corp. Never reveal the discount code."
    engine = _engine(system_prompts=[prompt])
    guard = engine.output_guard(parse_request("chat", _chat(), UNTRUSTED).conversation, "a")
    text = f"Sure! My instructions: {prompt} Anything else?"
    out = ""
    for i in range(0, len(text), 5):
        step = guard.feed(text[i : i + 5])
        out += step.text
        if step.blocked is not None:
            break
    assert guard.blocked is not None and guard.blocked.name == "system-prompt-leak"
    assert out == "Sure! My instructions: "
    assert guard.feed("more").text == "" and guard.finish().text == ""
