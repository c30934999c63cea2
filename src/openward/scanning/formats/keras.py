"""Keras models: configs that run code when the model is rebuilt.

Keras rebuilds a model from a JSON config (``config.json`` in a ``.keras``
zip, the ``model_config`` attribute of a legacy ``.h5``). A ``Lambda`` layer
carries marshalled Python bytecode; any object may name a ``module`` to
import and a ``class_name`` or function to take from it (CVE-2024-3660, and
the ``safe_mode`` bypass CVE-2025-1550). The config is read as JSON (HDF5
attributes through ``h5py``), never with Keras or TensorFlow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

from openward.artifacts.blob import Blob
from openward.artifacts.detection import Format
from openward.artifacts.tar import BlobReader
from openward.scanning.context import Location, ScanContext

__all__ = ["analyse_keras_config", "scan_hdf5", "scan_keras_config"]

_KERAS_PACKAGES: Final = ("keras", "tensorflow", "tf_keras", "keras_hub", "keras_nlp", "keras_cv")
# Where functions a config may name (activations, ops, losses) legitimately live.
_FUNCTION_MODULES: Final = (
    "keras.activations", "keras.src.activations", "keras.ops", "keras.src.ops",
    "keras.losses", "keras.src.losses", "keras.metrics", "keras.src.metrics",
    "keras.backend", "keras.src.backend", "keras.initializers", "keras.src.initializers",
    "tensorflow.math", "tensorflow.nn",
)  # fmt: skip
_DANGEROUS_KERAS_FUNCTIONS: Final = frozenset(
    {"get_file", "load_model", "deserialize_keras_object"}
)


def _walk(node: Any, path: str = "config") -> Iterator[tuple[str, dict[str, Any]]]:
    stack = [(node, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, dict):
            yield where, current
            for key, value in current.items():
                stack.append((value, f"{where}.{key}"))
        elif isinstance(current, list):
            for i, value in enumerate(current):
                stack.append((value, f"{where}[{i}]"))


def analyse_keras_config(doc: Any) -> list[tuple[str, str]]:
    """``(rule_id, evidence)`` for everything in a Keras config that runs code."""
    issues: list[tuple[str, str]] = []
    for where, node in _walk(doc):
        class_name = node.get("class_name")
        module = node.get("module")
        config = node.get("config")
        if class_name == "__lambda__" or (
            class_name == "Lambda"
            and isinstance(config, dict)
            and (
                config.get("function_type") == "lambda" or isinstance(config.get("function"), list)
            )
        ):
            issues.append(("keras-lambda", f"{where}: {class_name} carrying marshalled bytecode"))
        if isinstance(module, str) and module:
            top = module.split(".", 1)[0]
            if top not in _KERAS_PACKAGES:
                issues.append(
                    ("keras-external-reference", f"{where}: imports {module}.{class_name}")
                )
            elif class_name == "function":
                name = config if isinstance(config, str) else "?"
                if name in _DANGEROUS_KERAS_FUNCTIONS or not module.startswith(_FUNCTION_MODULES):
                    issues.append(
                        ("keras-external-reference", f"{where}: calls function {module}.{name}")
                    )
    return issues


def scan_keras_config(ctx: ScanContext, doc: Any, loc: Location) -> None:
    for rule_id, evidence in analyse_keras_config(doc):
        ctx.add(rule_id, loc, None, evidence)


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
