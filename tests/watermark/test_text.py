"""Text watermarks with the real SmolLM2-135M-Instruct: generate, detect, attack, bad input."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from openward.cli.main import app
from openward.watermark.text import MIN_SCORED, detect_text, load_key, new_key, tokenizer_identity
from openward.watermark.text.detect import detect_tokens
from openward.watermark.text.keys import KeyError_, WatermarkKey
from tests.watermark.human_text import lee_corpus

SCHEMES = ("kgw", "kgw-selfhash", "synthid")
PROMPTS = [
    "Write a long story about a lighthouse keeper who finds a strange map.",
    "Explain in detail how bread is made, from wheat fields to the bakery.",
]
NEW_TOKENS = 96


@pytest.fixture(scope="module")
def smollm2(smollm2_dir: Path) -> tuple[Any, Any]:
    from openward.runtime.generate import load_local

    return load_local(smollm2_dir)


@pytest.fixture(scope="module")
def keys(smollm2_dir: Path) -> dict[str, WatermarkKey]:
    ident = tokenizer_identity((smollm2_dir / "tokenizer.json").read_text(), "SmolLM2")
    return {s: new_key(s, ident, secret=bytes([i + 1]) * 32) for i, s in enumerate(SCHEMES)}


@pytest.fixture(scope="module")
def generations(smollm2: tuple[Any, Any], keys: dict[str, WatermarkKey]) -> dict[str, Any]:
    """Token ids of two replies per scheme, and two replies without a watermark."""
    from openward.runtime.generate import chat_prompts
    from openward.watermark.text.generate import generate_ids

    model, tok = smollm2
    prompts = chat_prompts(tok, PROMPTS)
    out: dict[str, Any] = {}
    for name, key in [*keys.items(), ("none", None)]:
        out[name] = generate_ids(
            model, tok, prompts, key, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
            seed=7, top_p=0.95,
        )  # fmt: skip
    return out


def _text(smollm2: tuple[Any, Any], ids: list[int]) -> str:
    return str(smollm2[1].decode(ids, skip_special_tokens=True))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_round_trip_detects_and_clears(
    scheme: str,
    smollm2: tuple[Any, Any],
    keys: dict[str, WatermarkKey],
    generations: dict[str, Any],
) -> None:
    key = keys[scheme]
    for ids in generations[scheme]:
        result = detect_text(key, _text(smollm2, ids))
        assert result.tokens_scored >= 72
        assert result.p_value is not None and result.p_value < 1e-4, result
        assert result.watermarked is True
    for ids in generations["none"]:
        plain = detect_text(key, _text(smollm2, ids))
        assert plain.p_value is not None and plain.p_value > 1e-3, plain
        assert plain.watermarked is False
    other = detect_text(keys[next(s for s in SCHEMES if s != scheme)], _text(smollm2, ids))
    assert other.watermarked is False  # another key finds nothing in this scheme's text
    human = detect_text(key, lee_corpus()[0])
    assert human.watermarked is False and human.p_value is not None and human.p_value > 1e-3


@pytest.mark.parametrize("scheme", SCHEMES)
def test_substitution_of_10_percent_degrades_but_is_still_detected(
    scheme: str,
    smollm2: tuple[Any, Any],
    keys: dict[str, WatermarkKey],
    generations: dict[str, Any],
) -> None:
    rng = random.Random(3)
    vocab = smollm2[1].vocab_size
    for ids in generations[scheme]:
        clean = detect_tokens(keys[scheme], ids)
        attacked = list(ids)
        for i in rng.sample(range(len(ids)), len(ids) // 10):
            attacked[i] = rng.randrange(vocab)
        hit = detect_tokens(keys[scheme], attacked)
        assert clean.z is not None and hit.z is not None and hit.p_value is not None
        assert hit.z < clean.z
        assert hit.p_value < 1e-3, (clean, hit)


def test_human_text_false_positives_match_the_nominal_level(keys: dict[str, WatermarkKey]) -> None:
    docs = lee_corpus()
    for key in keys.values():
        pvalues = [detect_text(key, d, paragraphs=False).p_value for d in docs]
        scored = np.array([p for p in pvalues if p is not None])
        assert len(scored) >= 300
        # 5 % and 1 % levels: within 3.5 binomial standard deviations of nominal
        for level in (0.05, 0.01):
            rate = float((scored < level).mean())
            bound = 3.5 * np.sqrt(level * (1 - level) / len(scored))
            assert abs(rate - level) <= bound, (key.scheme, level, rate)
        assert (scored < 1e-4).sum() == 0


def test_kgw_numpy_scoring_matches_the_generation_masks(keys: dict[str, WatermarkKey]) -> None:
    import torch

    from openward.watermark.text.kgw import KGWBias, KGWVLLMProcessor, green_flags

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 49152, size=14)
    for scheme in ("kgw", "kgw-selfhash"):
        bias = KGWBias(keys[scheme])
        vllm = KGWVLLMProcessor(keys[scheme])
        flags, _ = green_flags(bias.params, tokens)
        need = bias.params.previous_tokens
        for j, pos in enumerate(range(need, len(tokens))):
            prefix = torch.tensor(tokens[:pos][None, :])
            logits = torch.randn(1, 49152, generator=torch.Generator().manual_seed(pos))
            logits[0, tokens[pos]] = 30.0  # among the candidates SelfHash colours
            scores = bias(prefix, logits)
            assert bool(scores[0, tokens[pos]] > 30.0) == bool(flags[j])
            row = vllm(tokens[:pos].tolist(), logits[0].clone())
            assert torch.equal(row, scores[0])
        coloured = int((scores - logits).gt(0).sum())
        considered = 49152 if scheme == "kgw" else bias.candidates
        assert abs(coloured / considered - 0.25) < 0.03  # gamma of the candidates


def test_synthid_g_values_are_transformers_own(keys: dict[str, WatermarkKey]) -> None:
    import torch

    from openward.watermark.text.generate import synthid_processor
    from openward.watermark.text.synthid import SynthIDVLLMProcessor, g_values

    key = keys["synthid"]
    proc = synthid_processor(key)
    config_table = torch.Generator().manual_seed(int(key.params["sampling_table_seed"]))
    drawn = torch.randint(0, 2, (int(key.params["sampling_table_size"]),), generator=config_table)
    assert np.array_equal(drawn.numpy(), key.synthid_table())  # the key stores transformers' table
    tokens = np.random.default_rng(1).integers(0, 49152, size=50)
    ours, _ = g_values(key, tokens)
    theirs = proc.compute_g_values(torch.tensor(tokens[None, :]))[0].numpy()
    assert np.array_equal(ours, theirs)
    # the vLLM callable on the whole vocabulary reweights exactly as transformers' processor
    logits = torch.randn(49152)
    fresh = synthid_processor(key)
    expected = fresh(torch.tensor([[5, 6, 7]]), logits[None, :].clone())[0]
    assert torch.equal(SynthIDVLLMProcessor(key, candidates=None)([], logits.clone()), expected)


def _steps(vocab: int, batch: int, count: int, seed: int) -> list[tuple[Any, Any]]:
    """(input_ids, scores) of ``count`` decoding steps. The generated tokens make steps 10 and
    11 see the contexts of steps 4 and 5 again (the repeated-context rule)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, 6), generator=gen)
    chosen = [11, 12, 13, 14, 15, 16, 11, 12, 13, 14, 15, 17, 18][:count]
    out = []
    for t in chosen:
        out.append((ids, torch.randn(batch, vocab, generator=gen) * 4))
        ids = torch.cat([ids, torch.tensor([[t + row] for row in range(batch)])], dim=1)
    return out


def test_synthid_whole_vocabulary_is_transformers_processor_bit_for_bit(
    keys: dict[str, WatermarkKey],
) -> None:
    """``candidates=None`` is transformers' processor: same scores, step after step, including
    the steps whose context repeats (left as they were)."""
    import torch

    from openward.watermark.text.generate import SynthIDLogitsProcessor, synthid_processor

    reference = synthid_processor(keys["synthid"])
    ours = SynthIDLogitsProcessor(keys["synthid"], candidates=None)
    unchanged = 0
    for ids, scores in _steps(49152, 2, 13, seed=4):
        expected = reference(ids, scores.clone())
        got = ours(ids, scores.clone())
        assert torch.equal(got, expected)
        unchanged += int(torch.equal(got, scores))
    assert unchanged == 2  # the repeated contexts were passed through, as transformers does


def test_synthid_top_candidates_are_transformers_tournament_on_them(
    keys: dict[str, WatermarkKey],
) -> None:
    """On the top candidates the reweighted distribution is transformers' processor applied to
    the scores with every other token masked (times the candidates' mass); the other tokens
    keep their probabilities; the g-values are transformers' own."""
    import torch

    from openward.watermark.text.generate import SynthIDLogitsProcessor, synthid_processor

    key = keys["synthid"]
    ours = SynthIDLogitsProcessor(key, candidates=256)
    steps = _steps(49152, 2, 12, seed=5)
    for n, (ids, scores) in enumerate(steps):
        got = ours(ids, scores.clone()).softmax(-1)
        if n in (10, 11):  # a repeated context for both rows: the scores are left as they were
            assert torch.equal(got, scores.softmax(-1))
            continue
        top = scores.topk(256, dim=-1).indices
        masked = torch.full_like(scores, -float("inf")).scatter(-1, top, scores.gather(-1, top))
        reference = synthid_processor(key)  # a fresh one, brought to this step's context
        for earlier, _ in steps[:n]:
            reference(earlier, torch.zeros(2, 8))
        expected = reference(ids, masked).softmax(-1).gather(-1, top)
        head = got.gather(-1, top)
        mass = scores.softmax(-1).gather(-1, top).sum(-1, keepdim=True)
        assert torch.allclose(head.sum(-1, keepdim=True), mass, rtol=1e-5)
        assert torch.allclose(head / mass, expected, rtol=1e-4, atol=1e-9)
        assert not torch.allclose(head / mass, scores.gather(-1, top).softmax(-1), rtol=1e-2)
        tail = torch.ones_like(scores, dtype=torch.bool).scatter(-1, top, False)
        assert torch.allclose(got[tail], scores.softmax(-1)[tail], rtol=1e-4, atol=0)
        g_theirs = reference.sample_g_values(
            reference._compute_keys(reference.state.context, top)[0]
        )
        context_hash = ours.tournament.context_hash(reference.state.context)
        assert torch.equal(ours.tournament.g_values(context_hash, top), g_theirs)


def test_synthid_generation_g_values_are_the_detectors(keys: dict[str, WatermarkKey]) -> None:
    """The generator's g-values (torch) for each n-gram of a text are the detector's (numpy),
    also for layer keys above 2**63 (keys are 64-bit words; transformers' own processor
    cannot hold them)."""
    import dataclasses

    import torch

    from openward.watermark.text.synthid import SynthIDTournament, g_values

    base = keys["synthid"]
    layer_keys = [2**64 - 1 - k for k in base.params["keys"]]
    for key in (base, dataclasses.replace(base, params={**base.params, "keys": layer_keys})):
        tokens = np.random.default_rng(2).integers(0, 49152, size=60)
        expected, contexts = g_values(key, tokens)
        t = SynthIDTournament(key)
        digest = t.context_hash(torch.tensor(contexts))
        got = t.g_values(digest, torch.tensor(tokens[4:, None]))[:, 0].numpy()
        assert np.array_equal(got, expected)
        assert 0.3 < expected.mean() < 0.7


def test_synthid_vllm_callable_matches_the_transformers_form(
    keys: dict[str, WatermarkKey],
) -> None:
    import torch

    from openward.watermark.text.generate import SynthIDLogitsProcessor
    from openward.watermark.text.synthid import SynthIDVLLMProcessor

    batch = SynthIDLogitsProcessor(keys["synthid"])
    vllm = SynthIDVLLMProcessor(keys["synthid"])
    steps = _steps(49152, 1, 13, seed=6)
    prompt = steps[0][0].shape[1]
    for ids, scores in steps:
        expected = batch(ids, scores.clone())[0]
        output = ids[0, prompt:].tolist()
        assert torch.equal(vllm(ids[0, :prompt].tolist(), output, scores[0].clone()), expected)


def test_binomial_tail_is_exact() -> None:
    from scipy.stats import binom

    from openward.watermark.text._stats import binomial_sf

    for k, n, p in [(70, 200, 0.25), (120, 200, 0.25), (3100, 6000, 0.5), (1, 30, 0.25)]:
        assert binomial_sf(k, n, p) == pytest.approx(binom.sf(k - 1, n, p), rel=1e-9)


def test_short_text_has_no_verdict(keys: dict[str, WatermarkKey]) -> None:
    for key in keys.values():
        result = detect_text(key, "A short reply.")
        assert result.watermarked is None and result.p_value is None and result.z is None
        assert result.tokens_scored < MIN_SCORED and "too short" in (result.reason or "")


def test_wrong_tokenizer_key_is_refused(smollm2_dir: Path, tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models

    from openward.watermark.text.generate import check_tokenizer

    other = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1}, unk_token="[UNK]"))  # noqa: S106
    key = new_key("kgw", tokenizer_identity(other.to_str(), "tiny-wordlevel"))
    with pytest.raises(KeyError_, match=r"not .*SmolLM2's"):
        check_tokenizer(key, smollm2_dir, "SmolLM2")
    key.save(tmp_path / "other.key")
    result = CliRunner().invoke(
        app, ["watermark", "generate", str(smollm2_dir), "--key", str(tmp_path / "other.key"),
              "--prompt", "hi"],
    )  # fmt: skip
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "tiny-wordlevel" in lines[0], result.output


def test_bad_key_files_are_one_line_errors(keys: dict[str, WatermarkKey], tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("Some text to test. " * 20)
    doc = keys["kgw"].to_json()
    cases = {
        "scheme": {**doc, "scheme": "rot13"},
        "format": {**doc, "format": "something-else"},
        "tampered": {**doc, "tokenizer": {**doc["tokenizer"], "vocab_sha256": "0" * 64}},
        "params": {**doc, "params": {**doc["params"], "gamma": 1.5}},
    }
    for name, bad in cases.items():
        path = tmp_path / f"{name}.key"
        path.write_text(json.dumps(bad))
        result = CliRunner().invoke(app, ["watermark", "detect", str(text), "--key", str(path)])
        assert result.exit_code == 2, (name, result.output)
        assert len(result.output.strip().splitlines()) == 1, (name, result.output)
    assert (
        "unknown watermark scheme 'rot13'"
        in CliRunner()
        .invoke(app, ["watermark", "detect", str(text), "--key", str(tmp_path / "scheme.key")])
        .output
    )
    result = CliRunner().invoke(
        app, ["watermark", "keygen", "--model", "x", "-o", str(tmp_path / "k"), "--scheme", "foo"]
    )
    assert result.exit_code == 2 and "unknown watermark scheme 'foo'" in result.output


def test_cli_keygen_generate_detect(smollm2_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    key_path = tmp_path / "smollm2.key"
    made = runner.invoke(
        app, ["watermark", "keygen", "--model", str(smollm2_dir), "-o", str(key_path),
              "--scheme", "kgw", "--json"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["scheme"] == "kgw"
    assert key_path.stat().st_mode & 0o077 == 0
    key = load_key(key_path)
    assert key.tokenizer.name == smollm2_dir.name
    # keygen draws a fresh secret; pin it so the reply below (seeded) is the same every run:
    # with a random key, 128 tokens of a low-entropy story sometimes score only p ~ 1e-3
    doc = json.loads(key_path.read_text())
    doc["secret"] = (bytes([1]) * 32).hex()
    key_path.write_text(json.dumps(doc))
    generated = runner.invoke(
        app, ["watermark", "generate", str(smollm2_dir), "--key", str(key_path),
              "--prompt", "Tell me a story about a fox.", "--max-new-tokens", "128", "--seed", "1"],
    )  # fmt: skip
    assert generated.exit_code == 0, generated.output
    text = generated.output.strip()
    assert len(text) > 100
    (tmp_path / "reply.txt").write_text(text)
    detected = runner.invoke(
        app, ["watermark", "detect", str(tmp_path / "reply.txt"), "--key", str(key_path), "--json"]
    )
    doc = json.loads(detected.output)
    assert {"scheme", "tokens_scored", "z", "p_value", "watermarked"} <= doc.keys()
    assert doc["scheme"] == "kgw" and doc["tokens_scored"] >= MIN_SCORED
    assert detected.exit_code == 0 and doc["p_value"] < 1e-3, doc
    stdin = runner.invoke(
        app, ["watermark", "detect", "-", "--key", str(key_path)], input="Too short."
    )
    assert stdin.exit_code == 1 and "no verdict" in stdin.output
    two = runner.invoke(
        app, ["watermark", "detect", "-", "--key", str(key_path), "--json"],
        input=f"{text}\n\n{lee_corpus()[1]}",
    )  # fmt: skip
    paragraphs = json.loads(two.output)["paragraphs"]
    assert len(paragraphs) >= 2 and paragraphs[-1]["watermarked"] is False


def test_detect_needs_no_torch(keys: dict[str, WatermarkKey], tmp_path: Path) -> None:
    key_path = tmp_path / "k.key"
    keys["synthid"].save(key_path)
    text = tmp_path / "t.txt"
    text.write_text(lee_corpus()[2])
    code = (
        "import sys\n"
        "from openward.cli.main import app\n"
        f"sys.argv = ['openward', 'watermark', 'detect', {str(text)!r}, '--key', "
        f"{str(key_path)!r}, '--json']\n"
        "try:\n    app()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["watermarked"] is False
