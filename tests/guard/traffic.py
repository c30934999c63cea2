"""Synthetic request streams for the usage monitors: an interactive user, a templated batch
job, and the extraction patterns the monitors are there to catch. Deterministic (seeded);
timestamps are synthetic, so nothing sleeps."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from openward.guard.types import Conversation, Segment

T0 = 1_800_000_000.0  # a fixed synthetic epoch
SYSTEM = "You are a helpful assistant for Example Corp. Answer concisely."


def vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    syllables = [
        "ka",
        "lo",
        "mi",
        "ten",
        "ra",
        "su",
        "vel",
        "di",
        "on",
        "pra",
        "ge",
        "tu",
        "shi",
        "ber",
        "na",
        "co",
        "fel",
        "ir",
        "zu",
        "ta",
        "mor",
        "ex",
        "li",
        "qua",
    ]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))))
    return sorted(words)


class Words:
    """Words drawn with a Zipf-like frequency, as in text."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.vocab = vocabulary(self.rng)
        self.weights = [1.0 / (i + 1) for i in range(len(self.vocab))]

    def sentence(self, lo: int, hi: int) -> str:
        n = self.rng.randint(lo, hi)
        return " ".join(self.rng.choices(self.vocab, self.weights, k=n))


def chat(text: str, history: list[str] | None = None, **params: Any) -> Conversation:
    segs = [Segment(0, "system", SYSTEM)]
    for i, h in enumerate(history or []):
        segs.append(Segment(i + 1, "user" if i % 2 == 0 else "assistant", h))
    segs.append(Segment(len(segs), "user", text))
    return Conversation(tuple(segs), model="m", params=params)


def interactive_user(seed: int = 1, hours: float = 8) -> Iterator[tuple[float, Conversation]]:
    """A person in a chat UI: conversations of a few turns, a question every 20 s to 3 min,
    some regenerations (the same prompt again), some edited prompts, pauses between
    conversations."""
    w = Words(seed)
    rng = w.rng
    t = T0
    while t < T0 + hours * 3600:
        history: list[str] = []
        for _ in range(rng.randint(1, 8)):
            q = w.sentence(4, 40)
            yield t, chat(q, history)
            if rng.random() < 0.15:  # regenerate
                t += rng.uniform(5, 20)
                yield t, chat(q, history)
            if rng.random() < 0.1:  # fix a typo and resend
                words = q.split()
                words[rng.randrange(len(words))] = rng.choice(w.vocab)
                q = " ".join(words)
                t += rng.uniform(5, 30)
                yield t, chat(q, history)
            history += [q, w.sentence(20, 120)]
            t += rng.uniform(20, 180)
        t += rng.uniform(300, 3600)


TEMPLATE = (
    "Classify the customer review below as positive, negative or neutral. Consider the "
    "overall tone, not single words. Answer with one word.\n\nReview: {doc}\n\nLabel:"
)


def templated_batch(
    n: int = 1000, rate_per_s: float = 4.0, seed: int = 2
) -> Iterator[tuple[float, Conversation]]:
    """A classification job: the same template, a different review (15 to 80 words) each
    time, with top-5 logprobs for the label's confidence, ``rate_per_s`` requests a second."""
    w = Words(seed)
    for i in range(n):
        doc = w.sentence(15, 80)
        yield T0 + i / rate_per_s, chat(TEMPLATE.format(doc=doc), logprobs=True, top_logprobs=5)


def diverse_queries(
    n: int, seconds: float, seed: int = 3, **params: Any
) -> Iterator[tuple[float, Conversation]]:
    """Extraction by broad querying: ``n`` unrelated questions over ``seconds``."""
    w = Words(seed)
    for i in range(n):
        yield T0 + i * seconds / n, chat(w.sentence(6, 40) + "?", **params)


def boundary_probe(n: int, seconds: float, seed: int = 4) -> Iterator[tuple[float, Conversation]]:
    """Decision-boundary probing: one 30-word prompt with one or two words changed each time."""
    w = Words(seed)
    base = w.sentence(30, 30).split()
    for i in range(n):
        words = list(base)
        for _ in range(w.rng.randint(1, 2)):
            words[w.rng.randrange(len(words))] = w.rng.choice(w.vocab)
        yield T0 + i * seconds / n, chat(" ".join(words))


def prompt_engineer(seed: int = 6, edits: int = 150) -> Iterator[tuple[float, Conversation]]:
    """A developer tuning a prompt: a 60-word prompt resent after editing one to three words,
    every 10 to 40 seconds, for about an hour (near-duplicate-shaped, at a human pace)."""
    w = Words(seed)
    words = w.sentence(60, 60).split()
    t = T0
    for _ in range(edits):
        for _ in range(w.rng.randint(1, 3)):
            words[w.rng.randrange(len(words))] = w.rng.choice(w.vocab)
        yield t, chat(" ".join(words), temperature=0.2)
        t += w.rng.uniform(10, 40)
