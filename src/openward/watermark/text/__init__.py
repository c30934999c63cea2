"""Text watermarks: keyed statistical marks in generated text, and their detector.

::

    from openward.watermark.text import load_key, detect_text

    key = load_key("model.wmkey")            # scheme, parameters, secret, tokenizer
    result = detect_text(key, open("reply.txt").read())
    result.p_value, result.watermarked       # exact p-value under "not watermarked"

Schemes: ``kgw`` and ``kgw-selfhash`` (Kirchenbauer et al. 2023: green lists,
LeftHash and the edit-robust SelfHash) and ``synthid`` (SynthID-Text, Nature
2024; generation: transformers' built-in processor's tournament on the top
candidates). Detection needs only
numpy and ``tokenizers``; generation (:mod:`openward.watermark.text.generate`)
needs torch and transformers.
"""

from openward.watermark.text.detect import (
    DEFAULT_ALPHA,
    MIN_SCORED,
    TextDetection,
    detect_text,
    split_paragraphs,
)
from openward.watermark.text.keys import (
    SCHEMES,
    KeyError_,
    WatermarkKey,
    key_from_json,
    load_key,
    new_key,
    tokenizer_identity,
)

__all__ = [
    "DEFAULT_ALPHA",
    "MIN_SCORED",
    "SCHEMES",
    "KeyError_",
    "TextDetection",
    "WatermarkKey",
    "detect_text",
    "key_from_json",
    "load_key",
    "new_key",
    "split_paragraphs",
    "tokenizer_identity",
]
