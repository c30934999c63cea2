"""Watermark keys: one JSON file per publisher and model, readable without torch.

A key file holds everything generation and detection need:

- the scheme (``kgw``, ``kgw-selfhash`` or ``synthid``) and its parameters;
- the secret (32 random bytes, hex); every keyed word the schemes use is
  derived from it (:meth:`WatermarkKey.words`), and the SynthID g-value table
  is stored as computed once at key generation;
- the tokenizer it is for: a name hint, the SHA-256 of its vocabulary and the
  ``tokenizer.json`` itself (zlib-compressed, base64), so ``detect`` rebuilds
  the tokenizer with the ``tokenizers`` package alone and needs no model.

The file is a secret: whoever holds it can detect, and so can also learn which
tokens are favoured and scrub them. It is written with mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from openward.errors import OpenwardError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "KEY_FORMAT",
    "SCHEMES",
    "KeyError_",
    "Scheme",
    "TokenizerIdentity",
    "WatermarkKey",
    "key_from_json",
    "load_key",
    "new_key",
    "tokenizer_identity",
]

KEY_FORMAT: Final = "openward-text-watermark-key/v1"
Scheme = Literal["kgw", "kgw-selfhash", "synthid"]
SCHEMES: Final[tuple[str, ...]] = ("kgw", "kgw-selfhash", "synthid")
MAX_TOKENIZER_JSON: Final = 128 << 20
"""Largest embedded ``tokenizer.json`` a key file may inflate to (the largest published
tokenizers are some 35 MB): a key file is never a decompression bomb."""

MAX_DEPTH: Final = 64
"""Most SynthID tournament layers a key may have (the paper and transformers use 30)."""
MAX_NGRAM_LEN: Final = 16
"""Longest SynthID n-gram a key may have (the paper uses 5)."""

DEFAULT_PARAMS: Final[dict[str, dict[str, Any]]] = {
    # Kirchenbauer et al. 2023: gamma 0.25, delta 2.0 (their main setting), left hash of
    # the previous token.
    "kgw": {"gamma": 0.25, "delta": 2.0, "context_width": 1},
    # Kirchenbauer et al., "On the Reliability of Watermarks" 2023, "SelfHash": anchored
    # min-hash over a window of 4 tokens that includes the candidate itself.
    "kgw-selfhash": {"gamma": 0.25, "delta": 2.0, "context_width": 4},
    # Dathathri et al. 2024 (SynthID-Text): 5-grams, tournament depth 30 in the paper;
    # transformers' example uses fewer keys. The table size is transformers' default.
    "synthid": {
        "ngram_len": 5,
        "depth": 30,
        "sampling_table_size": 2**16,
        "context_history_size": 1024,
    },
}


class KeyError_(OpenwardError):
    """A watermark key file is unreadable, malformed, or for another tokenizer."""


@dataclass(frozen=True)
class TokenizerIdentity:
    """The tokenizer a key is for."""

    name: str
    """A hint for people: the model folder or file name the key was made from."""
    vocab_sha256: str
    """SHA-256 of the vocabulary (token -> id, added tokens included), canonical JSON."""
    vocab_size: int
    """Number of entries in that vocabulary."""
    tokenizer_json: str
    """The ``tokenizer.json`` document (what :meth:`tokenizer` rebuilds from)."""

    def tokenizer(self) -> Tokenizer:
        """The tokenizer, rebuilt with the ``tokenizers`` package (no transformers, no torch)."""
        from tokenizers import Tokenizer

        return Tokenizer.from_str(self.tokenizer_json)


@dataclass(frozen=True)
class WatermarkKey:
    """A publisher's watermark key for one model's tokenizer."""

    scheme: Scheme
    """``kgw`` (left hash), ``kgw-selfhash`` (anchored min-hash, self-seeded) or ``synthid``."""
    params: dict[str, Any]
    """Scheme parameters (see :data:`DEFAULT_PARAMS`; SynthID adds ``keys`` and ``table``)."""
    secret: bytes
    """32 secret random bytes every keyed value derives from."""
    tokenizer: TokenizerIdentity
    """The tokenizer the key is for."""
    created: str = ""
    """ISO 8601 UTC time of creation."""
    publisher: str = ""
    """Who generates with it (free text, optional)."""
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key_id(self) -> str:
        """A public identifier of the key (not secret: a hash of the secret)."""
        return hashlib.sha256(b"openward-wm-key-id\0" + self.secret).hexdigest()[:16]

    def words(self, label: str, count: int, bits: int = 32) -> list[int]:
        """``count`` keyed integers of ``bits`` bits, derived from the secret for ``label``."""
        out: list[int] = []
        block = 0
        while len(out) < count:
            digest = hashlib.sha256(
                self.secret + label.encode() + block.to_bytes(4, "big")
            ).digest()
            step = bits // 8
            for i in range(0, len(digest) - step + 1, step):
                out.append(int.from_bytes(digest[i : i + step], "big") & ((1 << bits) - 1))
            block += 1
        return out[:count]

    def synthid_table(self) -> Any:
        """The SynthID g-value table (numpy uint8 array of 0/1), as stored in the key."""
        if "table" not in self._cache:
            import numpy as np

            size = int(self.params["sampling_table_size"])
            packed = np.frombuffer(base64.b64decode(self.params["table"]), dtype=np.uint8)
            self._cache["table"] = np.unpackbits(packed)[:size].copy()
        return self._cache["table"]

    def to_json(self) -> dict[str, Any]:
        """The key file's document."""
        return {
            "format": KEY_FORMAT,
            "scheme": self.scheme,
            "key_id": self.key_id,
            "created": self.created,
            "publisher": self.publisher,
            "params": self.params,
            "secret": self.secret.hex(),
            "tokenizer": {
                "name": self.tokenizer.name,
                "vocab_sha256": self.tokenizer.vocab_sha256,
                "vocab_size": self.tokenizer.vocab_size,
                "tokenizer_json_zlib_b64": base64.b64encode(
                    zlib.compress(self.tokenizer.tokenizer_json.encode(), 9)
                ).decode(),
            },
        }

    def save(self, path: Path) -> None:
        """Write the key file (mode 0600; an existing file is replaced)."""
        data = json.dumps(self.to_json(), indent=1) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)


def vocab_sha256(tokenizer: Tokenizer) -> tuple[str, int]:
    """(SHA-256 of the canonical vocabulary JSON, its size) of a ``tokenizers`` tokenizer."""
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    canonical = json.dumps(sorted(vocab.items(), key=lambda kv: kv[1]), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest(), len(vocab)


def tokenizer_identity(tokenizer_json: str, name: str) -> TokenizerIdentity:
    """The identity of the tokenizer in a ``tokenizer.json`` document."""
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_str(tokenizer_json)
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise KeyError_(f"{name}: not a tokenizer.json document ({exc})") from None
    digest, size = vocab_sha256(tok)
    return TokenizerIdentity(
        name=name, vocab_sha256=digest, vocab_size=size, tokenizer_json=tokenizer_json
    )


def new_key(
    scheme: str,
    tokenizer: TokenizerIdentity,
    *,
    publisher: str = "",
    params: dict[str, Any] | None = None,
    secret: bytes | None = None,
) -> WatermarkKey:
    """A fresh key for ``scheme`` (parameters default to :data:`DEFAULT_PARAMS`).

    For ``synthid`` the g-value table is computed here, the way transformers'
    ``SynthIDTextWatermarkLogitsProcessor`` computes it from its seed on the CPU
    (``torch.randint``), and stored: detection then needs no torch, and generation
    uses the stored table on any device.
    """
    if scheme not in SCHEMES:
        raise KeyError_(f"unknown watermark scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    merged = {**DEFAULT_PARAMS[scheme], **(params or {})}
    key = WatermarkKey(
        scheme=scheme,  # type: ignore[arg-type]  # checked above
        params=merged,
        secret=secret if secret is not None else secrets.token_bytes(32),
        tokenizer=tokenizer,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        publisher=publisher,
    )
    _check_params(key, "(new key)")
    if scheme == "synthid":
        depth = int(merged["depth"])
        merged["keys"] = key.words("synthid-keys", depth, bits=32)
        merged["sampling_table_seed"] = key.words("synthid-table-seed", 1, bits=32)[0]
        merged["table"] = _torch_sampling_table(
            int(merged["sampling_table_seed"]), int(merged["sampling_table_size"])
        )
    return key


def _torch_sampling_table(seed: int, size: int) -> str:
    """transformers' SynthID table for ``seed`` (CPU generator), packed bits in base64."""
    import numpy as np
    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed)
    table = torch.randint(low=0, high=2, size=(size,), generator=generator).numpy()
    return base64.b64encode(np.packbits(table.astype(np.uint8)).tobytes()).decode()


def load_key(path: Path | str) -> WatermarkKey:
    """Read and check a key file.

    Raises:
        KeyError_: unreadable, not a key file, unknown scheme, bad parameters, or a
            tokenizer whose vocabulary does not hash to the recorded value.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyError_(f"{path}: no such key file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyError_(f"{path}: not a readable JSON key file ({exc})") from None
    return key_from_json(doc, str(path))


def key_from_json(doc: object, path: str = "(key)") -> WatermarkKey:
    """The key in a key file's parsed document (:meth:`WatermarkKey.to_json`), checked as
    :func:`load_key` checks a file; ``path`` names it in errors.

    Raises:
        KeyError_: not a key document, unknown scheme, bad parameters, or a tokenizer
            whose vocabulary does not hash to the recorded value.
    """
    if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
        raise KeyError_(f"{path}: not an openward text watermark key (format {KEY_FORMAT})")
    scheme = doc.get("scheme")
    if scheme not in SCHEMES:
        raise KeyError_(
            f"{path}: unknown watermark scheme {scheme!r} (known: {', '.join(SCHEMES)})"
        )
    try:
        tok = doc["tokenizer"]
        inflate = zlib.decompressobj()
        raw = inflate.decompress(
            base64.b64decode(tok["tokenizer_json_zlib_b64"]), MAX_TOKENIZER_JSON + 1
        )
        if len(raw) > MAX_TOKENIZER_JSON or not inflate.eof:
            raise KeyError_(f"{path}: the embedded tokenizer is larger than "
                            f"{MAX_TOKENIZER_JSON >> 20} MiB or truncated")  # fmt: skip
        tokenizer_json = raw.decode()
        secret = bytes.fromhex(doc["secret"])
        params = dict(doc["params"])
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
        raise KeyError_(f"{path}: malformed key file ({type(exc).__name__}: {exc})") from None
    if len(secret) < 16:
        raise KeyError_(f"{path}: the secret is shorter than 16 bytes")
    identity = tokenizer_identity(tokenizer_json, str(tok.get("name", "")))
    if identity.vocab_sha256 != tok.get("vocab_sha256"):
        raise KeyError_(
            f"{path}: the embedded tokenizer does not match its recorded vocabulary hash "
            "(the key file was altered)"
        )
    key = WatermarkKey(
        scheme=scheme,
        params=params,
        secret=secret,
        tokenizer=identity,
        created=str(doc.get("created", "")),
        publisher=str(doc.get("publisher", "")),
    )
    _check_params(key, path)
    return key


def _check_params(key: WatermarkKey, where: str) -> None:
    p = key.params
    try:
        if key.scheme in ("kgw", "kgw-selfhash"):
            ok = 0.0 < float(p["gamma"]) < 1.0 and float(p["delta"]) >= 0.0
            ok = ok and 1 <= int(p["context_width"]) <= 16
            if key.scheme == "kgw-selfhash":
                ok = ok and int(p["context_width"]) >= 2
        else:
            size = int(p["sampling_table_size"])
            # A test builds (positions x depth) arrays and hashes n-grams: bounded, so a
            # key file cannot make a detector allocate without limit (the paper: 5, 30).
            ok = 2 <= int(p["ngram_len"]) <= MAX_NGRAM_LEN and 1 <= int(p["depth"]) <= MAX_DEPTH
            ok = ok and size >= 2
            ok = ok and size & (size - 1) == 0 and size <= 2**24
            if "keys" in p:
                ok = ok and len(p["keys"]) == int(p["depth"]) and "table" in p
                # Layer keys are 64-bit words and the table covers every index a hash
                # reduces to: checked here, not by the first text long enough to score.
                ok = ok and all(type(k) is int and 0 <= k < 2**64 for k in p["keys"])
                ok = ok and len(base64.b64decode(p["table"], validate=True)) * 8 >= size
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        shown = {k: v for k, v in p.items() if k not in ("keys", "table")}
        raise KeyError_(f"{where}: invalid parameters for scheme {key.scheme}: {shown!r}")
