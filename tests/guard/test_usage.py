"""Usage monitors on synthetic traffic (timestamps given, nothing sleeps): each detector fires
on the pattern it is for and stays quiet for an interactive user and a templated batch job
under the default configuration."""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

import pytest
from pydantic import ValidationError

from openward.guard.state import MemoryStore, Store
from openward.guard.types import Conversation, Detection
from openward.guard.usage import UsageConfig, UsageMonitor, prompt_features, sketch_distance
from tests.guard import traffic
from tests.guard.traffic import T0, chat

pytestmark = pytest.mark.anyio

Fired = collections.Counter[tuple[str, str]]


async def drive(
    stream: Iterable[tuple[float, Conversation]],
    identity: str = "alice",
    monitor: UsageMonitor | None = None,
    store: Store | None = None,
) -> tuple[Fired, dict[tuple[str, str], tuple[int, Detection]]]:
    """Observe every request; count what fired and keep the first detection of each kind."""
    m = monitor or UsageMonitor(store or MemoryStore())
    fired: Fired = collections.Counter()
    first: dict[tuple[str, str], tuple[int, Detection]] = {}
    for i, (t, conv) in enumerate(stream):
        for d in await m.observe(identity, conv, now=t):
            fired[d.detector, d.kind] += 1
            first.setdefault((d.detector, d.kind), (i, d))
    return fired, first


async def test_interactive_users_are_quiet() -> None:
    for seed in range(4):
        fired, _ = await drive(traffic.interactive_user(seed=seed, hours=10), f"user-{seed}")
        assert not fired, (seed, fired)


async def test_a_developer_iterating_on_a_prompt_is_quiet() -> None:
    fired, _ = await drive(traffic.prompt_engineer(), "dev")
    assert not fired, fired
    # the shape is seen: it is the volume (150 in an hour) that is under the threshold
    cfg = UsageConfig.model_validate({"near-duplicate-probing": {"min_count": 50}})
    fired, _ = await drive(traffic.prompt_engineer(), "dev", UsageMonitor(MemoryStore(), cfg))
    assert fired["model-extraction", "near-duplicate-probing"] > 50


async def test_a_templated_batch_job_is_quiet() -> None:
    fired, _ = await drive(traffic.templated_batch(1000, rate_per_s=4.0))
    assert not fired, fired
    # more than the extraction volume, twice as fast: still not extraction-shaped
    fired, _ = await drive(traffic.templated_batch(1500, rate_per_s=8.0, seed=5), "job-2")
    assert not fired, fired


async def test_broad_diverse_querying_is_volume_diversity() -> None:
    fired, first = await drive(traffic.diverse_queries(1300, seconds=3000))
    index, d = first["model-extraction", "volume-diversity"]
    assert index == 999  # the identity's 1000th request in the hour
    assert fired["model-extraction", "volume-diversity"] == 301
    assert d.evidence["requests"] == 1000 and d.evidence["diversity"] >= 0.9
    assert 0.5 <= d.score < 1
    assert set(fired) == {("model-extraction", "volume-diversity")}


async def test_the_same_volume_spread_over_a_day_is_not() -> None:
    fired, _ = await drive(traffic.diverse_queries(1100, seconds=86400))
    assert not fired


async def test_logprob_harvesting() -> None:
    stream = traffic.diverse_queries(260, 1800, logprobs=True, top_logprobs=20)
    fired, first = await drive(stream)
    index, d = first["model-extraction", "logprob-harvest"]
    assert index == 199 and fired["model-extraction", "logprob-harvest"] == 61
    assert d.evidence["reasons"] == ["top-logprobs"]


@pytest.mark.parametrize(
    "params",
    [
        {"logprobs": True, "top_logprobs": 1, "logit_bias": {"1734": 100}},
        {"logprobs": 1, "echo": True},  # /v1/completions: score arbitrary text
        {"logprobs": 20},
    ],
    ids=["logit-bias", "echo", "completions-logprobs"],
)
async def test_other_harvesting_shapes(params: dict[str, Any]) -> None:
    fired, _ = await drive(traffic.diverse_queries(210, 1800, **params))
    assert fired["model-extraction", "logprob-harvest"] == 11


async def test_low_top_logprobs_do_not_count_as_harvesting() -> None:
    stream = traffic.diverse_queries(400, 1800, logprobs=True, top_logprobs=5)
    fired, _ = await drive(stream)
    assert not fired


async def test_decision_boundary_probing_is_near_duplicate() -> None:
    _, first = await drive(traffic.boundary_probe(700, seconds=1800))
    index, d = first["model-extraction", "near-duplicate-probing"]
    assert index == 500  # the first request has nothing to be near: 500 near-duplicates at 501
    assert d.evidence["near_duplicates"] == 500 and d.evidence["buckets_differing"] <= 8
    assert "prompt_hash" in d.evidence and len(str(d.evidence["prompt_hash"])) == 16


async def test_a_one_word_slot_batch_is_near_duplicate_shaped_and_tunable() -> None:
    words = traffic.Words(9)

    def lookups() -> Iterable[tuple[float, Conversation]]:
        for i in range(800):
            word = words.rng.choice(words.vocab)
            text = f"Translate the word {word} into French and give its gender. One line."
            yield T0 + i / 2, chat(text)

    fired, _ = await drive(lookups())
    assert fired["model-extraction", "near-duplicate-probing"] > 0
    # what a deployer does for a known batch identity: raise the count (or disable the kind)
    tuned = UsageConfig.model_validate({"near-duplicate-probing": {"min_count": 5000}})
    fired, _ = await drive(lookups(), monitor=UsageMonitor(MemoryStore(), tuned))
    assert not fired


async def test_retries_are_not_near_duplicates() -> None:
    def retries() -> Iterable[tuple[float, Conversation]]:
        for i in range(700):
            yield T0 + i * 2, chat("Summarise the attached quarterly report in five bullets.")

    fired, _ = await drive(retries())
    assert not fired


def steady(identity_rate_per_min: float, minutes: int, start: float = T0) -> list[float]:
    step = 60.0 / identity_rate_per_min
    return [start + i * step for i in range(int(minutes * identity_rate_per_min))]


async def test_burst_above_the_identity_baseline() -> None:
    m = UsageMonitor(MemoryStore())
    times = steady(2, 60)  # an hour at two a minute
    burst_start = times[-1] + 30
    times += [burst_start + i * 0.4 for i in range(150)]  # then 150 in a minute
    fired, first = await drive(((t, chat(f"q {i}")) for i, t in enumerate(times)), monitor=m)
    index, d = first["burst", "rate"]
    assert index >= 120 and fired["burst", "rate"] > 50
    assert d.evidence["count"] >= 60 and float(d.evidence["ratio"]) >= 10
    assert float(d.evidence["baseline"]) == pytest.approx(2.0, rel=0.25)
    # the same hour without the burst is quiet
    fired, _ = await drive(((t, chat(f"q {i}")) for i, t in enumerate(steady(2, 60))), "bob")
    assert not fired


async def test_a_new_identity_has_a_cold_start_ceiling() -> None:
    fast = [T0 + i * 0.5 for i in range(100)]  # 100 in its first 50 s: no baseline yet
    fired, _ = await drive((t, chat(f"question {i}")) for i, t in enumerate(fast))
    assert not fired
    flood = [T0 + i * 0.03 for i in range(1900)]  # 30 a second: 1900 in 57 s
    fired, first = await drive((t, chat(f"question {i}")) for i, t in enumerate(flood))
    assert first["burst", "cold-start"][0] == 1799
    assert {k for k in fired if k[0] == "burst"} == {("burst", "cold-start")}


async def test_identities_do_not_share_counts() -> None:
    cfg = UsageConfig.model_validate({"volume-diversity": {"min_requests": 100}})
    m = UsageMonitor(MemoryStore(), cfg)
    await drive(traffic.diverse_queries(99, 300), "mallory", monitor=m)
    t, conv = T0 + 300, chat("one more distinct question about something else entirely")
    assert await m.observe("someone-else", conv, now=t) == []
    assert [d.kind for d in await m.observe("mallory", conv, now=t)] == ["volume-diversity"]


async def test_evidence_holds_no_prompt_text() -> None:
    secret_word = "zanzibarquokka"  # noqa: S105
    _, first = await drive(
        (t, chat(c.segments[-1].text + f" {secret_word}", logprobs=True, top_logprobs=20))
        for t, c in traffic.boundary_probe(600, 1800)
    )
    assert len(first) == 2
    for _, d in first.values():
        assert secret_word not in repr(d.public())


def test_sketch_counts_changed_words_not_share_of_prompt() -> None:
    def sketch(text: str) -> bytes:
        return prompt_features(chat(text)).sketch

    long = " ".join(traffic.Words(7).sentence(400, 400).split())
    one_changed = long.split()
    one_changed[200] = "different"
    assert sketch_distance(sketch(long), sketch(" ".join(one_changed)))[0] <= 4
    short = "what is the capital of france"
    diff, filled = sketch_distance(sketch(short), sketch("what is the capital of spain"))
    assert diff <= 4 and diff <= 0.7 * filled
    diff, filled = sketch_distance(sketch(short), sketch("how do I bake sourdough bread"))
    assert diff > 0.7 * filled


def test_config_reads_the_policy_spelling_and_rejects_typos() -> None:
    cfg = UsageConfig.model_validate(
        {"volume-diversity": {"min_requests": 5000}, "burst": {"ratio": 20}}
    )
    assert cfg.volume_diversity.min_requests == 5000 and cfg.burst.ratio == 20
    assert cfg.logprob_harvest.min_requests == 200
    with pytest.raises(ValidationError):
        UsageConfig.model_validate({"burst": {"ratoi": 20}})
    with pytest.raises(ValidationError):
        UsageConfig.model_validate({"volume-diversity": {"min_diversity": 1.5}})


async def test_disabled_kinds_do_not_fire() -> None:
    cfg = UsageConfig.model_validate({"logprob-harvest": {"enabled": False}})
    stream = traffic.diverse_queries(260, 1800, logprobs=True, top_logprobs=20)
    fired, _ = await drive(stream, monitor=UsageMonitor(MemoryStore(), cfg))
    assert not fired


async def test_the_extraction_pattern_fires_on_redis_too(redis_namespace: str) -> None:
    from openward.guard.state import RedisStore
    from tests.guard.conftest import REDIS_URL

    # thresholds lowered to keep the test short; the counting is the store's
    cfg = UsageConfig.model_validate(
        {
            "near-duplicate-probing": {"min_count": 100},
            "volume-diversity": {"min_requests": 100, "min_diversity": 0.5},
        }
    )
    store = RedisStore(REDIS_URL, namespace=redis_namespace)
    m = UsageMonitor(store, cfg)
    _, first = await drive(traffic.boundary_probe(110, 1800), monitor=m)
    _, other = await drive(traffic.diverse_queries(110, 600), "other-identity", monitor=m)
    await store.close()
    assert first["model-extraction", "near-duplicate-probing"][0] == 100
    assert other["model-extraction", "volume-diversity"][0] == 99
