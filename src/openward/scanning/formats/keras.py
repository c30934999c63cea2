"""Keras models: configs that run code, load files or unpickle when the model is rebuilt.

Keras rebuilds a model from JSON: ``config.json`` of a ``.keras`` zip or of a
model saved as a directory (Keras 3 loads both; the zip needs nothing but
``config.json`` for the code in it to run), the ``model_config`` and
``training_config`` attributes of a legacy ``.h5``, the per-layer metadata of
a tf_keras SavedModel (``keras_metadata.pb``, or the object graph of
``saved_model.pb`` in older ones), and the ``*.json`` files of a keras_hub
preset. Every place where such a config makes Keras import, call, unmarshal,
unpickle or open something is checked (Keras 3.15 ``saving/serialization_lib.py``,
``layers/core/lambda_layer.py``, ``utils/torch_utils.py``,
``export/tfsm_layer.py``, ``layers/preprocessing/index_lookup.py``; tf_keras
``saving/legacy/saved_model/load.py`` and ``layers/core/lambda_layer.py``):

- ``Lambda`` layers and ``__lambda__`` objects carry marshalled Python
  bytecode (``python_utils.func_load``);
- ``module`` + ``class_name`` make Keras import a module and take a class or
  function from it (CVE-2024-3660; ``keras.utils.get_file`` and the other
  non-modelling APIs are the ``safe_mode`` bypass CVE-2025-1550 and its
  successors); Python builtins such as ``exec`` named as functions resolve to
  the real builtin in Keras before 3.9;
- a legacy ``Lambda`` runs with the globals of the ``module`` it names;
- ``TFSMLayer`` loads the SavedModel at its ``filepath`` (its graph then runs);
- lookup layers and keras_hub tokenizers read a vocabulary file named by path;
- ``TorchModuleWrapper`` holds a base64 ``torch.save`` pickle that is
  ``torch.load``-ed with ``weights_only=False``: it is decoded and analysed
  as a member, by the normal pickle machinery.

Configs are read as JSON (HDF5 attributes through ``h5py``, protobufs by the
schema-less reader), never with Keras or TensorFlow.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from openward.artifacts.blob import Blob
from openward.artifacts.detection import Format
from openward.artifacts.errors import ArtifactFormatError
from openward.artifacts.tar import BlobReader
from openward.artifacts.tf_graph import read_keras_metadata
from openward.scanning.context import Location, ScanContext

__all__ = [
    "KerasIssue",
    "analyse_keras_config",
    "scan_hdf5",
    "scan_keras_config",
    "scan_keras_named",
]

MAX_KERAS_JSON: Final = 64 << 20
"""Largest JSON config parsed; a bigger one is reported (scan-limit-reached)."""

_KERAS_PACKAGES: Final = ("keras", "tensorflow", "tf_keras", "keras_hub", "keras_nlp", "keras_cv")
# Where functions a config may name (activations, ops, losses) legitimately live.
_FUNCTION_MODULES: Final = (
    "keras.activations", "keras.src.activations", "keras.ops", "keras.src.ops",
    "keras.losses", "keras.src.losses", "keras.metrics", "keras.src.metrics",
    "keras.backend", "keras.src.backend", "keras.initializers", "keras.src.initializers",
    "keras.regularizers", "keras.src.regularizers", "keras.constraints",
    "keras.src.constraints", "keras.optimizers", "keras.src.optimizers",
    "tensorflow.math", "tensorflow.nn",
)  # fmt: skip
# Keras functions that touch files, the network, the process or deserialisation
# (Keras 3's NON_MODELING_APIS, and what older versions also exported).
_DANGEROUS_KERAS_FUNCTIONS: Final = frozenset(
    {
        "get_file", "load_model", "save_model", "load_weights", "save_weights",
        "model_from_json", "model_from_yaml", "model_from_config",
        "deserialize_keras_object", "serialize_keras_object", "register_keras_serializable",
        "enable_unsafe_deserialization", "clear_session", "load_img", "save_img",
        "image_dataset_from_directory", "text_dataset_from_directory",
        "audio_dataset_from_directory", "timeseries_dataset_from_array", "plot_model",
        "model_to_dot", "func_load", "func_dump", "from_preset",
    }
)  # fmt: skip
# Python builtins that Keras < 3.9 resolves for {"module": "builtins", "class_name":
# "function"}; Keras 3 writes that form for every function, looked up by name
# among Keras's own and registered objects, so only these names are reported.
_DANGEROUS_BUILTINS: Final = frozenset(
    {
        "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr",
        "globals", "locals", "vars", "input", "breakpoint", "exit", "quit", "__build_class__",
    }
)  # fmt: skip
# Parts of a module path that mark Keras (or keras_hub) code touching files,
# presets, the process or serialisation rather than maths.
_SIDE_EFFECT_MODULE_PARTS: Final = (
    "saving", "file", "io_utils", "preset", "export", "callbacks", "datasets",
    "image_utils", "audio_utils", "module_utils", "config", "backend_utils",
    # keras.src.backend.common.global_state.set_global_attribute("safe_mode_saving",
    # False) turns safe mode off for every later load in the process (Keras <= 3.10);
    # distribution_lib connects to coordinators
    "global_state", "distribution",
)  # fmt: skip
_HUB_PACKAGES: Final = ("keras_hub", "keras_nlp", "keras_cv")
_LOOKUP_LAYERS: Final = frozenset(
    {"StringLookup", "IntegerLookup", "IndexLookup", "TextVectorization", "Hashing"}
)
_PATH_FIELDS: Final = ("vocabulary", "merges", "proto", "vocabulary_file", "spm_model_file")


@dataclass(frozen=True, slots=True)
class KerasIssue:
    """Something a Keras config makes the loader do."""

    rule_id: str
    evidence: str


def _walk(node: Any, path: str = "config") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dict of a JSON document with its path; scalars are never pushed
    (a tokenizer's vocabulary of 200k entries costs one look each)."""
    stack = [(node, path)] if isinstance(node, (dict, list)) else []
    while stack:
        current, where = stack.pop()
        if isinstance(current, dict):
            yield where, current
            for key, value in current.items():
                if isinstance(value, (dict, list)):
                    stack.append((value, f"{where}.{key}"))
        else:
            for i, value in enumerate(current):
                if isinstance(value, (dict, list)):
                    stack.append((value, f"{where}[{i}]"))


def _short(value: object, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value)[:limit]
    return text if len(text) <= limit else text[:limit] + "…"


def _is_legacy_lambda(config: dict[str, Any]) -> bool:
    """Bytecode in a legacy form: ``function_type: "lambda"`` (tf_keras), a
    ``(code, defaults, closure)`` list or a ``__tuple__`` of it. Keras 3's
    ``{"class_name": "__lambda__"}`` is reported where it stands."""
    function = config.get("function")
    if config.get("function_type") == "lambda" or config.get("output_shape_type") == "lambda":
        return True
    if isinstance(function, list):
        return True
    return isinstance(function, dict) and function.get("class_name") == "__tuple__"


def _reference(where: str, node: dict[str, Any]) -> KerasIssue | None:
    """A ``module`` + ``class_name`` pair: what Keras imports for it."""
    module = node.get("module")
    class_name = node.get("class_name")
    config = node.get("config")
    if not isinstance(module, str) or not module or not isinstance(class_name, str):
        return None
    if class_name == "__typespec__":
        class_name = str(node.get("spec_name", "?"))
    top = module.split(".", 1)[0]
    if module == "builtins":
        if class_name != "function":
            return KerasIssue("keras-external-reference", f"{where}: imports builtins.{class_name}")
        name = config if isinstance(config, str) else ""
        if name in _DANGEROUS_BUILTINS:
            return KerasIssue(
                "keras-external-reference",
                f"{where}: names the Python builtin {name} (resolved by Keras before 3.9)",
            )
        return None
    if top not in _KERAS_PACKAGES:
        return KerasIssue("keras-external-reference", f"{where}: imports {module}.{class_name}")
    if class_name == "function":
        name = config if isinstance(config, str) else "?"
        if not _harmless_keras_function(module, name):
            return KerasIssue(
                "keras-external-reference", f"{where}: calls function {module}.{name}"
            )
    elif class_name in _DANGEROUS_KERAS_FUNCTIONS:
        return KerasIssue("keras-external-reference", f"{where}: names {module}.{class_name}")
    return None


def _harmless_keras_function(module: str, name: str) -> bool:
    """A function of Keras's maths modules (or keras_hub's), not one with side effects."""
    if name.rsplit(".", 1)[-1] in _DANGEROUS_KERAS_FUNCTIONS:
        return False
    parts = module.split(".")
    if any(marker in part for part in parts for marker in _SIDE_EFFECT_MODULE_PARTS):
        return False
    return module.startswith(_FUNCTION_MODULES) or parts[0] in _HUB_PACKAGES


def _layer_issues(where: str, class_name: str, config: dict[str, Any]) -> list[KerasIssue]:
    issues: list[KerasIssue] = []
    if class_name == "Lambda":
        module = config.get("module")
        globs = (
            f" with the globals of module {module}"
            if isinstance(module, str) and module and module != "__main__"
            else ""
        )
        function = config.get("function")
        if _is_legacy_lambda(config):
            issues.append(
                KerasIssue("keras-lambda", f"{where}: Lambda carrying marshalled bytecode{globs}")
            )
        elif config.get("function_type") == "function" and isinstance(function, str):
            issues.append(
                KerasIssue(
                    "keras-external-reference",
                    f"{where}: Lambda calls the function {function!r}, looked up by name"
                    + (f" in module {module}" if isinstance(module, str) and module else ""),
                )
            )
    elif class_name == "TFSMLayer":
        path = config.get("filepath")
        issues.append(
            KerasIssue(
                "keras-external-model",
                f"{where}: TFSMLayer loads the SavedModel at {_short(path)!r}",
            )
        )
    if class_name in _LOOKUP_LAYERS or class_name.endswith("Tokenizer"):
        for key in _PATH_FIELDS:
            value = config.get(key)
            if isinstance(value, str) and value:
                issues.append(
                    KerasIssue(
                        "keras-file-reference",
                        f"{where}: {class_name} reads its {key} from the file {_short(value)!r}",
                    )
                )
    return issues


def analyse_keras_config(doc: Any) -> list[KerasIssue]:
    """Everything in a Keras config (any of its JSON forms) that runs code or loads files."""
    issues: list[KerasIssue] = []
    for where, node in _walk(doc):
        class_name = node.get("class_name")
        config = node.get("config")
        if class_name == "__lambda__":
            issues.append(
                KerasIssue("keras-lambda", f"{where}: __lambda__ carrying marshalled bytecode")
            )
        reference = _reference(where, node)
        if reference is not None:
            issues.append(reference)
        if isinstance(class_name, str) and isinstance(config, dict):
            issues += _layer_issues(where, class_name, config)
    return issues


def _torch_modules(doc: Any) -> Iterator[tuple[str, object]]:
    """``(where, base64 text)`` of every TorchModuleWrapper's embedded module."""
    for where, node in _walk(doc):
        config = node.get("config")
        if (
            node.get("class_name") == "TorchModuleWrapper"
            and isinstance(config, dict)
            and "module" in config
        ):
            yield where, config["module"]


def scan_keras_config(ctx: ScanContext, doc: Any, loc: Location) -> None:
    """Report what ``doc`` makes Keras do, and analyse the pickles embedded in it."""
    for issue in analyse_keras_config(doc):
        ctx.add(issue.rule_id, loc, None, issue.evidence)
    for where, encoded in _torch_modules(doc):
        try:
            # As Keras decodes it: b64decode(text.encode("ascii")), no validation.
            if not isinstance(encoded, str):
                raise ValueError("not a string")
            raw = base64.b64decode(encoded.encode("ascii"))
        except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
            ctx.add("keras-malformed", loc, None, f"{where}: TorchModuleWrapper module: {exc}")
            continue
        label = f"<TorchModuleWrapper module at {where}>"
        ctx.add(
            "keras-torch-module",
            loc,
            None,
            f"{where}: {len(raw)} bytes torch.load-ed with weights_only=False, analysed as {label}",
        )
        ctx.scan(Blob.of(raw), (*loc, label), label)


def scan_keras_named(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str | None:
    """Files Keras finds by name: ``config.json`` and preset JSON, ``keras_metadata.pb``.

    Returns a format label when the file was analysed as something a plain
    content label does not say (``keras-metadata``).
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base == "keras_metadata.pb":
        _scan_keras_metadata(ctx, blob, loc)
        return "keras-metadata"
    if blob.size > MAX_KERAS_JSON:
        if base == "config.json" or _contains(blob, b"class_name"):
            ctx.add(
                "scan-limit-reached",
                loc,
                None,
                f"{base} of {blob.size} bytes is larger than the {MAX_KERAS_JSON} bytes "
                "read as a Keras config (MAX_KERAS_JSON)",
            )
        return None
    raw = blob.read(0, blob.size)
    try:
        doc = json.loads(raw)  # bytes: UTF-8, -16 or -32 with or without BOM, as Keras reads it
    except (UnicodeDecodeError, ValueError, RecursionError):
        if b"class_name" in raw or b"c\x00l\x00a\x00s\x00s" in raw:
            ctx.add(
                "keras-malformed", loc, None, f"{base} looks like a Keras config but is not JSON"
            )
        return None
    scan_keras_config(ctx, doc, loc)
    return None


def _contains(blob: Blob, needle: bytes, step: int = 16 << 20) -> bool:
    for start in range(0, blob.size, step):
        if needle in blob.read(start, step + len(needle)):
            return True
    return False


def _scan_keras_metadata(ctx: ScanContext, blob: Blob, loc: Location) -> None:
    try:
        nodes = read_keras_metadata(blob)
    except ArtifactFormatError as exc:
        ctx.add("keras-malformed", loc, exc.offset, f"keras_metadata.pb: {exc.message}")
        return
    for node in nodes:
        ctx.tick()
        if not node.metadata:
            continue
        try:
            doc = json.loads(node.metadata)
        except (ValueError, RecursionError):
            ctx.add("keras-malformed", loc, None, f"{node.node_path}: metadata is not JSON")
            continue
        scan_keras_config(ctx, doc, (*loc, f"<{node.node_path or node.node_id}>"))


def _attr_json(attrs: Any, key: str) -> Any:
    value = attrs.get(key)
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def scan_hdf5(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str:
    """HDF5 files: the Keras configs stored in their root attributes."""
    del name
    import h5py

    try:
        with h5py.File(BlobReader(blob), "r") as f:
            attrs = f.attrs
            config = _attr_json(attrs, "model_config")
            training = _attr_json(attrs, "training_config")
            is_keras = config is not None or "keras_version" in attrs
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        ctx.add("hdf5-malformed", loc, None, f"h5py cannot read it: {exc}")
        return Format.HDF5
    if config is not None:
        scan_keras_config(ctx, config, (*loc, "<model_config>"))
    if training is not None:
        scan_keras_config(ctx, training, (*loc, "<training_config>"))
    from openward.scanning.formats.hdf5_tables import scan_pytables_pickles

    scan_pytables_pickles(ctx, blob, loc)  # pandas.read_hdf / PyTables unpickle attributes
    return "keras-h5" if is_keras else Format.HDF5
