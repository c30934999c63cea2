"""The policy file (validated at start, one-line errors naming the field) and the guard's CLI:
``guard check`` JSONL in and out, ``guard`` (serve) refusing a bad policy."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openward.cli.guard import check_lines
from openward.cli.main import app
from openward.guard.engine import Engine
from openward.guard.policy import (
    DEFAULT_ACTIONS,
    PolicyError,
    key_digest,
    load_policy,
    policy_from_mapping,
)
from tests.guard.sample_detectors import PHRASE, PhraseInjection, Secrets


def test_the_default_policy_blocks_injection_and_jailbreaks() -> None:
    policy = load_policy(None)
    assert policy.action_for("injection", "direct") == "block"
    assert policy.action_for("jailbreak", "template") == "block"
    assert policy.action_for("secrets", "api-key") == "redact"
    assert not policy.require_keys and policy.untrusted.roles == ["tool", "function", "document"]


def test_a_policy_file_overrides_some_detectors_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text(
        "require_keys: true\n"
        "identities:\n  alice: [sk-a]\n"
        "detectors:\n  injection: {action: flag, threshold: 0.7, kinds: {indirect: block}}\n"
        "  canary: allow\n"
    )
    policy = load_policy(path)
    assert policy.action_for("injection", "direct") == "flag"
    assert policy.action_for("injection", "indirect") == "block"
    assert policy.detectors["injection"].threshold == 0.7
    assert policy.action_for("canary", "x") == "allow"
    assert policy.action_for("jailbreak", "x") == DEFAULT_ACTIONS["jailbreak"]
    assert policy.identity_table() == {hashlib.sha256(b"sk-a").hexdigest(): "alice"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("detectors:\n  injektion: block\n", "detectors: unknown detector 'injektion' (known: "),
        ("detectors:\n  secrets: delete\n", "detectors.secrets.action: Input should be"),
        ("detectors:\n  injection: {threshold: 1.5}\n", "detectors.injection.threshold: Input"),
        ("require_keys: true\n", "require_keys: true needs at least one identity"),
        ("identities: {a: ['sha256:abc']}\n", "identities: a: a sha256: key needs 64"),
        ("identities: {a: [k1], b: [k1]}\n", "identities: b: a key is also a's"),
        ("limits: {max_body_bytes: 10}\n", "limits.max_body_bytes: Input should be greater"),
        ("surprise: 1\n", "surprise: Extra inputs are not permitted"),
        ("detectors: [1\n", "not valid YAML (line 2)"),
        ("- a\n- b\n", "the policy must be a mapping, not list"),
    ],
)
def test_bad_policies_fail_with_one_line_naming_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value) and str(info.value).startswith(str(path))


def test_serve_refuses_a_bad_policy_before_listening(tmp_path: Path) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text("detectors:\n  injection: {action: maybe}\n")
    result = CliRunner().invoke(
        app, ["guard", "--upstream", "http://127.0.0.1:9/v1", "--policy", str(path)]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "detectors.injection.action" in lines[0]
    result = CliRunner().invoke(app, ["guard", "--upstream", "ftp://x"])
    assert result.exit_code == 2 and "http:// or https://" in result.output


def test_keys_may_be_given_plain_or_as_their_sha256() -> None:
    digest = hashlib.sha256(b"secret-key").hexdigest()
    assert key_digest("secret-key") == digest == key_digest("sha256:" + digest)
    policy = policy_from_mapping({"identities": {"ci": ["sha256:" + digest]}})
    assert policy.identity_table() == {digest: "ci"}


def test_check_writes_one_result_per_line_and_an_error_for_a_malformed_one() -> None:
    engine = Engine(policy_from_mapping({"detectors": {"injection": "block"}}),
                    [PhraseInjection(), Secrets()])  # fmt: skip
    lines = [
        json.dumps({"model": "m", "messages": [{"role": "user", "content": PHRASE}]}),
        json.dumps({"model": "m", "messages": [{"role": "user", "content": "Hello"}]}),
        "{broken",
        "",
        json.dumps({"model": "m", "prompt": "tell me " + PHRASE}),
        json.dumps({"model": "m", "messages": "nope"}),
    ]
    out, err = io.StringIO(), io.StringIO()
    bad = check_lines([ln + "\n" for ln in lines], engine, out, err)
    results = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert bad == 2 and len(results) == 5  # the blank line is skipped
    assert results[0]["action"] == "block"
    assert results[0]["detections"][0] | {"score": 0} == {
        "detector": "injection", "kind": "direct", "score": 0, "action": "block"}  # fmt: skip
    assert results[1] == {"action": "allow", "detections": []}
    assert results[2] == {"error": "not a JSON object", "line": 3}
    assert results[3]["action"] == "block"
    assert results[4]["line"] == 6 and "messages" in results[4]["error"]
    assert err.getvalue().splitlines()[0] == "openward: error: line 3: not a JSON object"


def test_check_shows_the_redacted_request(tmp_path: Path) -> None:
    engine = Engine(
        policy_from_mapping({"detectors": {"injection": "redact"}}), [PhraseInjection()]
    )
    out = io.StringIO()
    line = json.dumps({"model": "m", "messages": [{"role": "user", "content": f"x {PHRASE} y"}]})
    assert check_lines([line], engine, out, io.StringIO()) == 0
    result = json.loads(out.getvalue())
    assert result["action"] == "redact"
    assert result["request"]["messages"][0]["content"] == "x [redacted:injection] y"


def test_events_summarises_the_log_and_fails_cleanly_without_one(tmp_path: Path) -> None:
    from openward.guard.events import EventLog
    from openward.guard.types import Detection

    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        for who in ("alice", "alice", "bob"):
            log.record(Detection("injection", "direct", 0.9), request_id="r", identity=who,
                       action="block", prompt="a prompt")  # fmt: skip
    result = CliRunner().invoke(app, ["guard", "events", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["events"] == 3 and summary["by_identity"] == {"alice": 2, "bob": 1}
    text = CliRunner().invoke(app, ["guard", "events", str(path)]).output
    assert "3 event(s)" in text and "injection" in text
    missing = CliRunner().invoke(app, ["guard", "events", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 2 and "no event log at" in missing.output


def test_the_cli_serves_with_workers_the_policy_and_the_event_log(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    import httpx

    from openward.runtime.server import free_port
    from tests.guard.upstream import Script, serve, upstream_app

    canary = "ow-canary-7f3a9c"
    policy = tmp_path / "guard.yaml"
    policy.write_text(
        f"canaries: [{canary}]\ndetectors: {{injection: allow, jailbreak: allow}}\n"
        f"events: {{path: {tmp_path / 'events.jsonl'}}}\n"
    )
    script = Script(reply=f"The token is {canary}.")
    port = free_port()
    with serve(upstream_app(script)) as up:
        command = [sys.executable, "-c", "from openward.cli.main import run; run()", "guard",
                   "--upstream", up + "/v1", "--port", str(port), "--policy", str(policy),
                   "--workers", "2"]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "OPENWARD_GUARD_REDIS"}
        proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline
                    time.sleep(0.2)
            body = {"model": "m", "messages": [{"role": "user", "content": "the token?"}]}
            r = httpx.post(url + "/v1/chat/completions", json=body)
            assert r.status_code == 403 and "canary" in r.json()["error"]["message"]
            assert canary not in r.text
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
    assert "each worker keeps its own usage counters" in err
    (event,) = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert event["detector"] == "canary" and event["action"] == "block"
    assert canary not in json.dumps(event)


def test_check_lists_each_detector_and_kind_once_per_request() -> None:
    from openward.guard.detectors.harmreq import HarmfulRequestDetector
    from tests.guard.test_proxy import _many_shot_demo

    engine = Engine(policy_from_mapping({}), [HarmfulRequestDetector()])
    line = json.dumps({"model": "m", "messages": _many_shot_demo(30)})
    out, err = io.StringIO(), io.StringIO()
    assert check_lines([line], engine, out, err) == 0
    result = json.loads(out.getvalue())
    (plain,) = result["detections"]  # not one per fabricated turn
    assert (plain["detector"], plain["kind"]) == ("harmful-request", "plain")
    assert plain["evidence"]["segments"] >= 10 and result["action"] == "flag"
