"""The event log: what it writes (and never writes), concurrent appends, and its summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from openward.guard.events import EventLog, parse_since, render_summary, summarise
from openward.guard.state import MemoryStore
from openward.guard.types import Detection
from openward.guard.usage import UsageMonitor
from tests.guard import traffic

ROOT = Path(__file__).resolve().parents[2]

API_KEY = "sk-live-4f9Qz7Lm2Xc8Vb1Nn6Tt0Rr3Yy5Uu"  # a made-up key, in a prompt
AWS_KEY = "AKIAQ7ZR4XW2MB6PLN3T"
SYSTEM_PROMPT = "You are Orion, the internal assistant of Acme. Codename: bluebird-velvet."
PROMPT = (
    f"Please debug this: my client sends Authorization: Bearer {API_KEY} and the call fails "
    "with a 401 from the billing service in the eu-west region"
)
OUTPUT = f"Your AWS key {AWS_KEY} is also exposed in the config; rotate both keys now."


def hostile_detections() -> list[Detection]:
    """Detections whose evidence tries every way of carrying the secrets into the log."""
    return [
        Detection("secrets", "api-key", 0.99, evidence={"match": API_KEY, "offset": 61}),
        Detection("secrets", "aws", 0.99, evidence={"snippet": f"key {AWS_KEY} is"}),
        Detection(
            "prompt-leak",
            "verbatim",
            0.9,
            evidence={"leaked": "internal assistant of Acme", "chars": 26},
        ),
        Detection("injection", "direct", 0.7, evidence={"quote": PROMPT[20:60], "n": 1}),
        Detection("canary", "token", 1.0, evidence={"nested": {"list": ["bluebird-velvet"]}}),
        Detection("secrets", "long", 0.5, evidence={"context": "x" * 500}),
    ]


@pytest.mark.parametrize("mode", ["hash", "redact", "none"])
def test_no_secret_or_prompt_reaches_the_log(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path, prompts=mode, sensitive=[SYSTEM_PROMPT, "bluebird-velvet"])  # type: ignore[arg-type]
    detections = hostile_detections()
    for i, d in enumerate(detections):
        log.record(
            d,
            request_id=f"req-{i}",
            identity="team-a",
            action="redact",
            route="/v1/chat/completions",
            model="llama-3-8b",
            prompt=PROMPT,
            texts=[SYSTEM_PROMPT, OUTPUT],
        )
    # the proxy's own path: an event dict with the raw body's hash
    log.write(
        {
            "time": "2026-12-07T05:00:00.000Z",
            "identity": "team-a",
            "detector": "secrets",
            "kind": "api-key",
            "score": 1.0,
            "action": "block",
            "request_id": "r-x",
            "evidence": {"token": f"Bearer {API_KEY}"},
            "prompt_sha256": "ab" * 32,
        },
    )
    log.close()
    data = path.read_bytes()
    text = data.decode()
    for secret in (API_KEY, AWS_KEY, "bluebird-velvet", "internal assistant of Acme", "x" * 50):
        assert secret not in text, (mode, secret)
    for start in range(0, len(PROMPT) - 16, 4):  # no 16 characters of the prompt in a row
        assert PROMPT[start : start + 16] not in text, (mode, PROMPT[start : start + 16])
    for start in range(0, len(OUTPUT) - 16, 4):
        assert OUTPUT[start : start + 16] not in text
    events = [json.loads(line) for line in text.splitlines()]
    assert len(events) == len(detections) + 1
    first = events[0]
    assert list(first)[:9] == [
        "time",
        "request_id",
        "identity",
        "detector",
        "kind",
        "score",
        "action",
        "route",
        "model",
    ]
    assert first["time"].endswith("Z") and datetime.fromisoformat(first["time"]).tzinfo
    assert first["evidence"]["offset"] == 61  # numbers stay
    if mode == "hash":
        assert first["prompt_sha256"] == __import__("hashlib").sha256(PROMPT.encode()).hexdigest()
        assert first["evidence"]["match"].startswith("[redacted")
    else:
        assert all("prompt_sha256" not in e for e in events)
    if mode == "none":
        assert "match" not in first["evidence"]  # no text-derived evidence at all


def test_usage_detections_are_written_with_their_evidence(tmp_path: Path) -> None:
    import asyncio

    async def run() -> list[Detection]:
        m = UsageMonitor(MemoryStore())
        out: list[Detection] = []
        for t, conv in traffic.boundary_probe(502, 1800):
            out = await m.observe("prober", conv, now=t)
        return out

    detections = asyncio.run(run())
    assert detections
    log = EventLog(tmp_path / "e.jsonl")
    for d in detections:
        log.record(d, request_id="r", identity="prober", action="flag")
    log.close()
    (event,) = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    assert event["kind"] == "near-duplicate-probing"
    assert event["evidence"]["near_duplicates"] == 501
    assert len(event["evidence"]["prompt_hash"]) == 16  # a short hash passes


def test_a_log_without_a_path_writes_nothing(tmp_path: Path) -> None:
    log = EventLog(None)
    line = log.record(Detection("burst", "rate", 0.6), request_id="r", identity="a", action="flag")
    assert line["detector"] == "burst"
    assert list(tmp_path.iterdir()) == []


_WRITER = """
import sys
from openward.guard.events import EventLog
log = EventLog(sys.argv[1])
for i in range(int(sys.argv[2])):
    log.write({"identity": sys.argv[3], "detector": "burst", "kind": "rate", "action": "flag",
               "request_id": f"{sys.argv[3]}-{i}", "evidence": {"i": i, "pad": "p" * 150}})
"""


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), "600", f"proc{n}"], env=env)
        for n in range(2)
    ]
    log = EventLog(path)

    def burst(n: int) -> None:
        for i in range(200):
            log.write(
                {
                    "identity": f"thread{n}",
                    "detector": "burst",
                    "action": "flag",
                    "request_id": f"t{n}-{i}",
                    "evidence": {"pad": "q" * 150},
                }
            )

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        assert p.wait(timeout=60) == 0
    log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 2 * 600 + 6 * 200
    ids = {json.loads(line)["request_id"] for line in lines}  # every line is whole JSON
    assert len(ids) == len(lines)


def test_the_log_follows_its_path_when_rotated(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    event = {"identity": "a", "detector": "burst", "action": "flag"}
    log.write(event)
    path.rename(tmp_path / "events.jsonl.1")  # logrotate's create mode
    log.write(event)
    log.write(event)
    path.write_bytes(b"")  # copytruncate
    log.write(event)
    log.close()
    assert len((tmp_path / "events.jsonl.1").read_text().splitlines()) == 1
    assert len(path.read_text().splitlines()) == 1
    assert path.stat().st_mode & 0o777 == 0o600


def write_log(path: Path) -> None:
    t0 = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
    rows = [
        (0, "team-a", "model-extraction", "volume-diversity", "flag"),
        (60, "team-a", "model-extraction", "logprob-harvest", "flag"),
        (120, "team-a", "burst", "rate", "flag"),
        (180, "team-b", "injection", "direct", "block"),
        (3600, "team-c\x1b[31m", "secrets", "api-key", "redact"),
    ]
    lines = []
    for dt, who, det, kind, action in rows:
        when = (t0 + timedelta(seconds=dt)).isoformat().replace("+00:00", "Z")
        lines.append(
            json.dumps(
                {
                    "time": when,
                    "request_id": "r",
                    "identity": who,
                    "detector": det,
                    "kind": kind,
                    "score": 0.7,
                    "action": action,
                }
            )
        )
    lines.insert(2, '{"time": "2026-12-07T05:01:30Z", "identity": "team-a", "detector": "bu')
    lines.insert(4, "not json at all")
    lines.insert(5, '["a", "list"]')
    lines.insert(6, '{"time": "yesterday", "identity": "x", "detector": "y", "action": "flag"}')
    path.write_text("\n".join(lines) + "\n\n")


def test_summarise_counts_and_skips_malformed_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_log(path)
    s = summarise(path)
    assert s["events"] == 5 and s["malformed"] == 4
    assert s["by_detector"] == {"model-extraction": 2, "burst": 1, "injection": 1, "secrets": 1}
    assert s["by_action"] == {"flag": 3, "block": 1, "redact": 1}
    assert s["by_kind"]["model-extraction/logprob-harvest"] == 1
    assert s["top_identities"][0] == {
        "identity": "team-a",
        "events": 3,
        "detectors": {"model-extraction": 2, "burst": 1},
    }
    assert (s["first"], s["last"]) == ("2026-12-07T05:00:00.000Z", "2026-12-07T06:00:00.000Z")
    assert summarise(path, since="2026-12-07T05:02:00Z")["events"] == 3
    assert summarise(path, identity="team-b")["by_detector"] == {"injection": 1}
    json.dumps(s)  # the --json form

    text = render_summary(s)
    assert "5 event(s)" in text and "4 malformed line(s) skipped" in text
    assert "model-extraction" in text and "team-a" in text
    assert "\x1b" not in text  # an identity from the file cannot drive the terminal
    assert render_summary(summarise(path, identity="nobody")).startswith("0 event(s)")


def test_since_takes_times_and_durations() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("2026-12-07", now) == datetime(2026, 12, 7, tzinfo=UTC)
    assert parse_since("2026-12-07T05:00:00+01:00").hour == 5
    with pytest.raises(ValueError, match="duration"):
        parse_since("last tuesday")


def test_long_names_are_kept_and_keys_in_names_are_not(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "e.jsonl", sensitive=[SYSTEM_PROMPT])
    line = log.record(
        Detection("burst", "rate", 0.6),
        request_id="3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
        identity="service-account-nightly-batch-2026",
        action="flag",
        model=f"gpt-4o {API_KEY}",
        prompt="the service-account-nightly-batch-2026 job asked this",
    )
    assert line["identity"] == "service-account-nightly-batch-2026"
    assert line["request_id"] == "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
    assert API_KEY not in line["model"]
    log.close()
    assert API_KEY not in (tmp_path / "e.jsonl").read_text()
