"""MLflow models: the modules an ``MLmodel`` file makes ``mlflow.*.load_model`` import.

``mlflow.pyfunc.load_model`` reads the ``MLmodel`` YAML, puts the flavor's
``code`` directory on ``sys.path``, imports ``loader_module`` and calls its
``_load_pyfunc``; a "model from code" (``model_code_path``) is run as a
script; ``python_model.pkl`` is a cloudpickle (analysed as the pickle it is,
by content, like every file). The pytorch flavor imports the module named in
``pickle_module_info.txt`` and hands it to ``torch.load``; the keras flavor
imports ``keras_module``; the xgboost, lightgbm and spark flavors import and
call ``model_class``. The file is read with a safe YAML loader; nothing
is imported.
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
from pathlib import Path
from typing import Any, Final

from openward.artifacts.blob import Blob
from openward.scanning.config_policy import judge_target
from openward.scanning.context import Location, ScanContext
from openward.scanning.interface import Severity

__all__ = ["scan_mlmodel", "scan_pickle_module_info"]

# Loader modules outside mlflow.* that MLflow itself writes.
_KNOWN_LOADERS: Final = frozenset(
    {"databricks.feature_store.mlflow_model", "databricks.feature_engineering.mlflow_model"}
)
_KERAS_MODULES: Final = frozenset({"keras", "tensorflow.keras", "tf_keras"})
_PICKLE_MODULES: Final = frozenset(
    {"mlflow.pytorch.pickle_module", "pickle", "cloudpickle", "dill"}
)
# flavor -> the package its model_class must come from
_FLAVOR_PACKAGES: Final = {"spark": "pyspark", "sklearn": "sklearn"}
_MODULE_NAME: Final = re.compile(r"^[A-Za-z_][\w.]*$")
# What an import finds on sys.path besides source: sourceless bytecode (only
# outside __pycache__) and extension modules.
_COMPILED: Final = (".pyc", ".pyo", ".so", ".pyd")
_SHOWN: Final = 5


def _is_mlflow_module(name: str) -> bool:
    return name == "mlflow" or name.startswith("mlflow.") or name in _KNOWN_LOADERS


def scan_mlmodel(ctx: ScanContext, doc: dict[str, Any], loc: Location, name: str) -> None:
    """Findings for an ``MLmodel`` document whose ``flavors`` is a mapping."""
    flavors: dict[str, Any] = doc["flavors"]
    folder = posixpath.dirname(name.replace("\\", "/")) if loc else ""
    for flavor, conf in flavors.items():
        if not isinstance(conf, dict):
            continue
        where = f"flavors.{flavor}"
        loader = conf.get("loader_module")
        if isinstance(loader, str) and not _is_mlflow_module(loader):
            _loader_module(ctx, loc, f"{where}.loader_module", loader, "calls its _load_pyfunc")
        keras_module = conf.get("keras_module")
        if isinstance(keras_module, str) and keras_module not in _KERAS_MODULES:
            _loader_module(ctx, loc, f"{where}.keras_module", keras_module, "loads Keras with it")
        model_class = conf.get("model_class")
        if isinstance(model_class, str) and model_class.split(".", 1)[0] not in (
            _FLAVOR_PACKAGES.get(flavor, flavor),
            "mlflow",
        ):
            # xgboost, lightgbm, spark: the class is imported by name and called
            _loader_module(ctx, loc, f"{where}.model_class", model_class, "instantiates it")
        code = conf.get("code")
        if isinstance(code, str) and code:
            ctx.add(
                "mlflow-model-code",
                loc,
                None,
                f"{where}.code: {posixpath.join(folder, code)}/ is put on sys.path and the "
                f"loader imports from it (loader_module {loader or '?'})",
            )
            shadowing = _shadowing_modules(ctx, loc, code)
            if shadowing:
                ctx.add(
                    "mlflow-model-code",
                    loc,
                    None,
                    f"{where}.code: {', '.join(shadowing[:_SHOWN])} shadow the standard library or "
                    "a library MLflow's flavors import (imported from the model instead)",
                    severity=Severity.HIGH,
                )
            compiled = _compiled_modules(ctx, loc, code)
            if compiled:
                shown = ", ".join(compiled[:_SHOWN]) + (
                    f" and {len(compiled) - _SHOWN} more" if len(compiled) > _SHOWN else ""
                )
                ctx.add(
                    "mlflow-model-code",
                    loc,
                    None,
                    f"{where}.code: compiled modules on sys.path, whose code cannot be read: "
                    f"{shown} (each shadows any module of that name the loader imports later, "
                    "torch or sklearn included)",
                    severity=Severity.HIGH,
                )
        script = conf.get("model_code_path")
        if isinstance(script, str) and script:
            ctx.add(
                "mlflow-model-code",
                loc,
                None,
                f"{where}.model_code_path: loading runs "
                f"{posixpath.join(folder, posixpath.basename(script))} as a script",
            )


def _compiled_modules(ctx: ScanContext, loc: Location, code: str) -> list[str]:
    """Importable files of the code directory that are not Python source.

    ``sys.path`` entries import sourceless ``.pyc`` files and extension modules
    as readily as ``.py`` files; a ``code/torch.pyc`` next to a model of the
    built-in pytorch flavor runs when ``mlflow.pytorch`` imports torch. Only
    a directory on disk under the scanned root is listed (the MLmodel of an
    archive member has no directory to list).
    """
    if loc or ctx.fs_path is None:
        return []
    base = ctx.fs_path.parent
    try:
        root = (base / code).resolve()
        if not root.is_relative_to(base.resolve()) or not root.is_dir():
            return []
    except (OSError, ValueError, RuntimeError):
        return []
    found: list[str] = []
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):  # links are not followed
        dirnames.sort()
        for filename in sorted(filenames):
            seen += 1
            if seen > ctx.limits.max_members:
                return found
            if filename.endswith(_COMPILED) and "__pycache__" not in Path(dirpath).parts:
                found.append(Path(dirpath, filename).relative_to(base).as_posix())
    return found


# Libraries the flavors import after the code directory is on sys.path.
_FLAVOR_LIBRARIES: Final = frozenset(
    {"torch", "sklearn", "numpy", "pandas", "scipy", "cloudpickle", "mlflow", "keras",
     "tensorflow", "tf_keras", "xgboost", "lightgbm", "catboost", "transformers", "onnx",
     "onnxruntime", "pyspark", "statsmodels", "prophet", "joblib", "yaml", "pydantic"}
)  # fmt: skip


def _shadowing_modules(ctx: ScanContext, loc: Location, code: str) -> list[str]:
    """Top-level modules of the code directory named like the standard library or
    a library the flavor imports: ``code/torch.py`` replaces torch for the whole
    process, whatever the file looks like."""
    if loc or ctx.fs_path is None:
        return []
    base = ctx.fs_path.parent
    try:
        root = (base / code).resolve()
        if not root.is_relative_to(base.resolve()) or not root.is_dir():
            return []
        entries = sorted(root.iterdir())[: ctx.limits.max_members]
    except (OSError, ValueError, RuntimeError):
        return []
    found = []
    for entry in entries:
        name = entry.name.split(".", 1)[0]
        if entry.is_file() and not entry.name.endswith((".py", *_COMPILED)):
            continue
        if name in _FLAVOR_LIBRARIES or name in sys.stdlib_module_names:
            found.append(entry.relative_to(base).as_posix())
    return found


def _loader_module(ctx: ScanContext, loc: Location, where: str, module: str, does: str) -> None:
    verdict = judge_target(module, ctx.allow)
    if verdict.status == "allowed":
        return
    ctx.add(
        "mlflow-loader-module",
        loc,
        None,
        f"{where}: MLflow imports {module} and {does}"
        + (f" ({verdict.reason})" if verdict.status == "dangerous" else ""),
    )


def scan_pickle_module_info(ctx: ScanContext, blob: Blob, loc: Location) -> None:
    """``pickle_module_info.txt`` of the pytorch flavor: the unpickler's module."""
    text = blob.read(0, min(blob.size, 4096)).decode("utf-8", "replace").strip()
    if not text or text in _PICKLE_MODULES:
        return
    shown = text if _MODULE_NAME.match(text) else repr(text[:100])
    ctx.add(
        "mlflow-loader-module",
        loc,
        None,
        f"pickle_module_info.txt: mlflow.pytorch imports {shown} and torch.load unpickles "
        "the model with it",
    )
