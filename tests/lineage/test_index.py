"""FingerprintIndex: nearest registered relatives, from real fingerprints of the bundled models
and numpy derivatives of SmolLM2 (about 30 s on 2 cores)."""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from openward.lineage import _derive
from openward.lineage.fingerprint import Fingerprint, compute_fingerprint
from openward.lineage.index import DIM, FingerprintIndex, index_vector
from openward.lineage.weights import LineageError


@dataclass(frozen=True)
class Prints:
    smol: Fingerprint
    qwen: Fingerprint
    smol_noisy: Fingerprint
    """SmolLM2 with Gaussian noise (5 % of each matrix's std) then its hidden units,
    heads and neurons permuted: a disguised derivative."""
    smol_random: Fingerprint
    """SmolLM2's architecture and tokenizer, every matrix drawn anew (unrelated)."""


def _derived(base: Path, out: Path, build: str) -> Fingerprint:
    if build == "noisy":
        stage = _derive.perturb(base, out / "stage", relative=0.05, seed=3)
        folder = _derive.permute(stage, out / "noisy", seed=4)
        shutil.rmtree(stage)
    else:
        folder = _derive.random_init(base, out / "random", seed=5)
    fp = compute_fingerprint(folder)
    shutil.rmtree(folder)  # 0.5 GB each
    return fp


@pytest.fixture(scope="module")
def prints(smollm2_dir: Path, qwen_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Prints:
    tmp = tmp_path_factory.mktemp("index")
    return Prints(
        smol=compute_fingerprint(smollm2_dir),
        qwen=compute_fingerprint(qwen_dir),
        smol_noisy=_derived(smollm2_dir, tmp, "noisy"),
        smol_random=_derived(smollm2_dir, tmp, "random"),
    )


def _index(p: Prints) -> FingerprintIndex:
    index = FingerprintIndex()
    index.add("HuggingFaceTB/SmolLM2-135M-Instruct", p.smol)
    index.add("Qwen/Qwen2.5-Coder-0.5B-Instruct", p.qwen)
    index.add("someone/random-135M", p.smol_random)
    return index


def test_vector_is_unit_and_invariant(prints: Prints) -> None:
    v = index_vector(prints.smol)
    assert v.dtype == np.float32 and v.shape == (DIM,)
    assert abs(float(np.linalg.norm(v)) - 1) < 1e-5
    assert float(index_vector(prints.smol_noisy) @ v) > 0.99


def test_derivative_retrieves_its_base_first(prints: Prints) -> None:
    index = _index(prints)
    assert len(index) == 3
    hits = index.nearest(prints.smol_noisy, k=10)
    assert hits[0][0] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert len(hits) == 3
    cosines = [c for _, c in hits]
    assert cosines == sorted(cosines, reverse=True)
    assert cosines[0] > 0.99
    assert cosines[0] - cosines[1] > 0.03  # the other family trails by a margin
    assert dict(hits)["someone/random-135M"] < 0.3
    # the other family finds itself, a fresh initialisation finds itself
    assert index.nearest(prints.qwen, k=1)[0][0] == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    assert index.nearest(prints.smol_random, k=1)[0][0] == "someone/random-135M"


def test_save_load_round_trip(prints: Prints, tmp_path: Path) -> None:
    index = _index(prints)
    index.add("ünïcode/名前", prints.smol_noisy)
    path = tmp_path / "index.npz"
    index.save(path)
    with zipfile.ZipFile(path) as z:  # plain arrays only: nothing to unpickle
        assert sorted(z.namelist()) == ["keys.npy", "meta.npy", "vectors.npy"]
    loaded = FingerprintIndex.load(path)
    assert len(loaded) == len(index) == 4
    assert loaded.keys() == index.keys()
    for fp in (prints.smol_noisy, prints.qwen, prints.smol_random):
        assert loaded.nearest(fp, k=4) == index.nearest(fp, k=4)


def test_remove(prints: Prints) -> None:
    index = _index(prints)
    index.remove("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert len(index) == 2 and "HuggingFaceTB/SmolLM2-135M-Instruct" not in index
    hits = index.nearest(prints.smol_noisy, k=10)
    assert [k for k, _ in hits] == ["Qwen/Qwen2.5-Coder-0.5B-Instruct", "someone/random-135M"]
    with pytest.raises(KeyError):
        index.remove("HuggingFaceTB/SmolLM2-135M-Instruct")
    # re-adding under the same key replaces, it does not duplicate
    index.add("someone/random-135M", prints.smol)
    index.add("someone/random-135M", prints.smol)
    assert len(index) == 2
    assert index.nearest(prints.smol_noisy, k=1)[0][0] == "someone/random-135M"


def test_missing_words_and_tokenizerless(prints: Prints) -> None:
    # a vocabulary without 4 of the 48 index words: their 182 of 1128 pairs stay 0, so every
    # cosine shrinks (about by the root of the share kept) but the base still ranks first
    fp = prints.smol
    keep = [i for i, w in enumerate(fp.gram_words) if w not in ("of", "and", "was", "his")]
    n = len(fp.gram_words)
    full = np.zeros((n, n), dtype=np.float32)
    full[np.triu_indices(n, k=1)] = fp.embed_gram
    sub = full[np.ix_(keep, keep)]
    words = [fp.gram_words[i] for i in keep]  # (the first 92 words, as a short vocabulary)
    fewer = replace(fp, words=words, embed_gram=sub[np.triu_indices(len(keep), k=1)])
    assert float(index_vector(fewer) @ index_vector(fp)) > 0.8
    hits = _index(prints).nearest(fewer, k=2)
    assert hits[0][0] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert hits[0][1] - hits[1][1] > 0.03
    # no tokenizer: words are token ids; such fingerprints still index (by id)
    by_id = replace(fp, words=[f"#{i}" for i in range(len(fp.words))])
    v = index_vector(by_id)
    assert abs(float(np.linalg.norm(v)) - 1) < 1e-5
    # nothing in common with the index words: a zero vector, cosine 0 to everything
    assert not np.any(index_vector(replace(fp, words=[f"w{i}" for i in range(len(fp.words))])))


def test_bulk_vectors_match_brute_force() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((500, DIM)).astype(np.float32)
    keys = [f"m{i}" for i in range(500)]
    index = FingerprintIndex()
    index.add_vectors(keys, vectors)
    for i in rng.choice(500, 40, replace=False):
        index.remove(keys[i])
    alive = [i for i, k in enumerate(keys) if k in index]
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    query = rng.standard_normal(DIM).astype(np.float32)
    query /= np.linalg.norm(query)
    scores = unit[alive] @ query
    want = [keys[alive[i]] for i in np.argsort(-scores)[:7]]
    assert [k for k, _ in index.nearest_vector(query, k=7)] == want
    with pytest.raises(ValueError):
        index.add_vectors(["x"], np.zeros((1, DIM + 1)))
    with pytest.raises(ValueError):
        index.add_vectors(["x"], np.full((1, DIM), np.nan))
    # a key given twice in one call: one entry, the last vector
    index.add_vectors(["dup", "dup"], np.stack([query, -query]))
    assert index.nearest_vector(-query, k=1) == [("dup", pytest.approx(1.0, abs=1e-5))]
    assert len(index) == 461


def test_load_refuses_other_files(tmp_path: Path) -> None:
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"format": "x"}], dtype=object), keys=np.zeros(1),
             vectors=np.zeros((1, DIM), np.float32))  # fmt: skip
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    for path in (pickled, junk, tmp_path / "absent.npz"):
        with pytest.raises(LineageError):
            FingerprintIndex.load(path)
    # a well-formed file whose vectors do not match its keys
    bad = tmp_path / "bad.npz"
    FingerprintIndex().save(bad)
    with np.load(bad, allow_pickle=False) as data:
        parts = dict(data)
    parts["vectors"] = np.zeros((3, DIM), np.float32)
    np.savez(bad, **parts)
    with pytest.raises(LineageError):
        FingerprintIndex.load(bad)
