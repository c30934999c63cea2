"""One handler per format: adding a format is adding a module and a line here.

A handler takes ``(ctx, blob, loc, name)``, reports findings through ``ctx``,
recurses into members with ``ctx.scan`` and returns the format label for the
report (``None`` when a content *candidate* turned out not to be that format).
Handler modules are imported on first use, so scanning a PyTorch checkpoint
does not pay for the 7z or tar machinery.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.detection import Format
from openward.scanning.context import Location, ScanContext

__all__ = ["Handler", "get_handler", "get_named_handlers"]

Handler = Callable[[ScanContext, Blob, Location, str], str | None]

# format -> (module under openward.scanning.formats, function, keyword arguments)
_REGISTRY: Final[dict[str, tuple[str, str, dict[str, object]]]] = {
    Format.PICKLE: ("pickle", "scan_pickle", {"candidate": False}),
    Format.PICKLE_CANDIDATE: ("pickle", "scan_pickle", {"candidate": True}),
    Format.TORCH_LEGACY: ("torch_legacy", "scan_torch_legacy", {}),
    Format.ZIP: ("zip", "scan_zip", {}),
    Format.TAR: ("tar", "scan_tar", {}),
    Format.SEVEN_ZIP: ("sevenzip", "scan_7z", {}),
    Format.NUMPY: ("numpy", "scan_npy", {}),
    Format.SAFETENSORS: ("safetensors", "scan_safetensors", {}),
    Format.GGUF: ("gguf", "scan_gguf", {}),
    Format.ONNX: ("onnx", "scan_onnx", {}),
    Format.HDF5: ("keras", "scan_hdf5", {}),
    Format.TF_SAVED_MODEL: ("tensorflow", "scan_saved_model", {}),
    Format.TF_GRAPH_DEF: ("tensorflow", "scan_graph_def", {}),
    Format.TFLITE: ("tensorflow", "scan_tflite", {}),
    Format.JSON: ("repository", "scan_json", {}),
    Format.TEXT: ("repository", "scan_text", {}),
    **{
        fmt: ("compressed", "scan_compressed", {"fmt": fmt})
        for fmt in (
            Format.GZIP,
            Format.BZIP2,
            Format.XZ,
            Format.LZMA,
            Format.ZLIB,
            Format.LZ4,
            Format.ZSTD,
            Format.JOBLIB_ZFILE,
        )
    },
}
_loaded: dict[str, Handler] = {}

# Files whose meaning for a loader comes from their name, read whatever their
# first bytes look like (Keras reads ``config.json`` with ``json.loads`` of
# bytes, which also accepts UTF-16; tf_keras parses ``keras_metadata.pb``
# as a protobuf that may start with any field). basename -> (module, function).
_NAMED: Final[dict[str, tuple[str, str]]] = {
    name: ("keras", "scan_keras_named")
    for name in (
        "config.json", "keras_metadata.pb",
        # keras_hub presets: each is a serialised Keras object
        "task.json", "preprocessor.json", "tokenizer.json",
        "image_converter.json", "audio_converter.json",
    )
}  # fmt: skip
# TensorFlow's loader reads the text form when no saved_model.pb is there.
_NAMED["saved_model.pbtxt"] = ("tensorflow", "scan_saved_model_text")
_named_loaded: dict[str, Handler] = {}


def _repository_by_name(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str | None:
    from openward.scanning.formats.repository import scan_by_name

    scan_by_name(ctx, blob, loc, name)
    return None


def get_named_handlers(name: str, *, read_as_text: bool) -> list[Handler]:
    """The extra handlers for a file or member called ``name``: loaders find
    these files by name, whatever their first bytes look like.

    ``read_as_text`` says the JSON/text handler already read the file, so the
    repository rules (configs, templates, Python) need not run again.
    """
    from openward.scanning.formats.repository import is_named_by_loaders

    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    found: list[Handler] = []
    entry = _NAMED.get(base)
    if entry is not None:
        handler = _named_loaded.get(base)
        if handler is None:
            module, function = entry
            handler = getattr(importlib.import_module(f"{__name__}.{module}"), function)
            _named_loaded[base] = handler
        found.append(handler)
    if not read_as_text and is_named_by_loaders(name):
        found.append(_repository_by_name)
    return found


def get_handler(fmt: str) -> Handler | None:
    """The handler for ``fmt``, or None when openward has no reader for it."""
    handler = _loaded.get(fmt)
    if handler is None:
        entry = _REGISTRY.get(fmt)
        if entry is None:
            return None
        module, function, kwargs = entry
        func = getattr(importlib.import_module(f"{__name__}.{module}"), function)
        handler = partial(func, **kwargs) if kwargs else func
        _loaded[fmt] = handler
    return handler
