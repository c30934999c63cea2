"""Repository files that make loaders run code: configs, templates, Python sources.

These are JSON and text files whose meaning comes from their names, the way
transformers and friends find them:

- ``config.json`` and the other ``*_config.json`` files: ``auto_map``
  (``trust_remote_code=True`` imports the modules it names) and
  ``custom_pipelines``; ``chat_template`` in every file a tokenizer or
  processor reads (``tokenizer_config.json``, ``chat_template.json``,
  ``processor_config.json``, …) as a string, a list of ``{name, template}`` or
  a ``{name: template}`` dict;
- ``chat_template.jinja`` and ``additional_chat_templates/*.jinja``;
- other libraries' config-named code: diffusers' ``model_index.json``
  (components and custom pipelines from the repository's own files),
  sentence-transformers' ``modules.json`` (module types imported by name)
  and activation functions, PEFT's ``auto_mapping.parent_library``;
- transformers' ``custom_generate/generate.py``, and every ``*.py`` (read
  with :mod:`ast`, never imported).

A config a loader reads is never skipped silently: one too large to parse is
``scan-limit-reached``, one that is not JSON is ``config-malformed``.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.detection import Format
from openward.scanning.context import Location, ScanContext
from openward.scanning.formats.configs import is_config_name, scan_config_file
from openward.scanning.formats.templates import report_template
from openward.scanning.interface import Severity
from openward.scanning.python_code import SEVERE, analyse_python

__all__ = ["is_named_by_loaders", "scan_by_name", "scan_json", "scan_text"]

_AUTO_MAP_FILES: Final = frozenset(
    {
        "config.json", "tokenizer_config.json", "processor_config.json",
        "preprocessor_config.json", "feature_extractor_config.json",
        "image_processor_config.json", "video_preprocessor_config.json",
        "audio_tokenizer_config.json", "modular_config.json",
    }
)  # fmt: skip
_TEMPLATE_JSON: Final = _AUTO_MAP_FILES | {"chat_template.json"}
_OTHER_CONFIGS: Final = frozenset(
    {"model_index.json", "modular_model_index.json", "modules.json", "adapter_config.json"}
)
CONFIG_FILES: Final = _TEMPLATE_JSON | _OTHER_CONFIGS
"""JSON files that loaders find by name and act on."""

# Libraries diffusers loads components from (LOADABLE_CLASSES), and what
# sentence-transformers and PEFT import without trust_remote_code.
_DIFFUSERS_LIBRARIES: Final = frozenset({"diffusers", "transformers", "onnxruntime.training"})
_PEFT_LIBRARIES: Final = ("diffusers", "lerobot", "megatron-core", "megatron", "transformers")


def _basename(name: str) -> str:
    return posixpath.basename(name.replace("\\", "/"))


def is_named_by_loaders(name: str) -> bool:
    """Whether loaders read this file by its name, whatever its first bytes say."""
    base = _basename(name)
    return base in CONFIG_FILES or base.endswith((".jinja", ".j2", ".py"))


def scan_by_name(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> None:
    """Analyse a file that loaders read by name but whose content was detected
    as another format (a template that happens to start with ``PK\\x03\\x04``
    is still rendered by transformers)."""
    base = _basename(name)
    if base in CONFIG_FILES:
        scan_json(ctx, blob, loc, name)
    elif base.endswith((".jinja", ".j2", ".py")):
        scan_text(ctx, blob, loc, name)


def _load_json(ctx: ScanContext, blob: Blob, loc: Location) -> object:
    """The parsed document, or None after reporting why there is none."""
    limit = ctx.limits.max_config_bytes
    if blob.size > limit:
        ctx.add(
            "scan-limit-reached",
            loc,
            None,
            f"{blob.size}-byte config exceeds max_config_bytes={limit}; its auto_map and "
            "chat templates were not analysed (setting max_config_bytes)",
        )
        return None
    try:
        return json.loads(blob.read(0, blob.size).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ctx.add("config-malformed", loc, None, f"{type(exc).__name__}: {str(exc)[:200]}")
        return None


def scan_json(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str:
    base = _basename(name)
    if base.endswith((".jinja", ".j2", ".py")):
        return scan_text(ctx, blob, loc, name)  # "{% ..." and "{" both open like JSON
    config_label = scan_config_file(ctx, blob, loc, name)  # _target_, YAML that opens with "{"
    if config_label is not None:
        return config_label
    if base not in CONFIG_FILES:
        return Format.JSON
    doc = _load_json(ctx, blob, loc)
    if base == "modules.json":
        _sentence_transformers_modules(ctx, doc, loc, name)
    if not isinstance(doc, dict):
        return Format.JSON
    if base in _TEMPLATE_JSON:
        _templates_in(ctx, doc.get("chat_template"), loc)
    if base in _AUTO_MAP_FILES:
        _auto_map(ctx, doc, loc, name)
    if base in ("model_index.json", "modular_model_index.json"):
        _diffusers_components(ctx, doc, loc, name)
    if base == "adapter_config.json":
        _peft_imports(ctx, doc, loc)
    if base == "config.json":
        _activation_functions(ctx, doc, loc)
    return Format.JSON


def _templates_in(ctx: ScanContext, value: object, loc: Location) -> None:
    """A ``chat_template`` value in any of the forms transformers accepts."""
    if isinstance(value, str):
        report_template(ctx, value, (*loc, "<chat_template>"))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                label = f"<chat_template {item.get('name', '?')}>"
                report_template(ctx, item["template"], (*loc, label))
    elif isinstance(value, dict):
        for key, template in value.items():
            if isinstance(template, str):
                report_template(ctx, template, (*loc, f"<chat_template {key}>"))


def _auto_map_targets(value: object) -> list[str]:
    """Class references in an auto_map value: "module.Class", or lists of them."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def _code_references(doc: dict[str, object]) -> list[str]:
    """Every "module.Class" reference a loader may import: auto_map entries, and
    the implementations of custom_pipelines (transformers' pipeline())."""
    targets: list[str] = []
    auto_map = doc.get("auto_map")
    if isinstance(auto_map, dict):
        targets += [t for v in auto_map.values() for t in _auto_map_targets(v)]
    pipelines = doc.get("custom_pipelines")
    if isinstance(pipelines, dict):
        for spec in pipelines.values():
            if isinstance(spec, dict):
                for key in ("impl", "pt", "tf"):
                    targets += _auto_map_targets(spec.get(key))
    return targets


def _remote_code(ctx: ScanContext, loc: Location, name: str, modules: list[str], how: str) -> None:
    """A remote-code finding naming the repository files ``how`` would import."""
    folder = posixpath.dirname(name.replace("\\", "/"))
    missing = [
        m
        for m in modules
        if ctx.sibling_exists(name, posixpath.relpath(m, folder) if folder else m) is False
    ]
    ctx.add(
        "remote-code",
        loc,
        None,
        f"{how} would import {', '.join(modules)}"
        + (f" (not in the scanned files: {', '.join(missing)})" if missing else ""),
    )


def _auto_map(ctx: ScanContext, doc: dict[str, object], loc: Location, name: str) -> None:
    targets = _code_references(doc)
    if not targets:
        return
    local: set[str] = set()
    external: set[str] = set()
    for target in targets:
        if "--" in target:
            external.add(target)  # "org/repo--module.Class": code from another repository
        elif "." in target:
            local.add(target.rsplit(".", 1)[0])
    for target in sorted(external):
        ctx.add(
            "remote-code-external",
            loc,
            None,
            f"auto_map entry {target!r} loads code from another repository",
        )
    if local:
        folder = posixpath.dirname(name.replace("\\", "/"))
        modules = sorted(posixpath.join(folder, f"{m}.py") for m in local)
        _remote_code(ctx, loc, name, modules, "trust_remote_code=True")


def _imports_module(ctx: ScanContext, loc: Location, dotted: str, how: str) -> None:
    """A config names a module (and object) outside the loader's own libraries."""
    from openward.scanning.pickle_policy import classify_global

    module, _, attribute = dotted.rpartition(".")
    verdict = classify_global(module or dotted, attribute or dotted)
    ctx.add(
        "config-imports-module",
        loc,
        None,
        f"{how} imports {dotted!r}"
        + (f": {verdict.reason}" if verdict.status == "dangerous" else ""),
        severity=Severity.CRITICAL if verdict.status == "dangerous" else None,
    )


def _sibling_module(ctx: ScanContext, name: str, folder: str, module: str) -> str | None:
    """The repository file ``module`` names next to ``name`` (``a.b`` -> ``a/b.py``), if any."""
    relative = posixpath.join(folder, *module.split(".")) + ".py"
    base = posixpath.dirname(name.replace("\\", "/"))
    exists = ctx.sibling_exists(name, posixpath.relpath(relative, base) if base else relative)
    return relative if exists else None


def _diffusers_components(
    ctx: ScanContext, doc: dict[str, object], loc: Location, name: str
) -> None:
    """``"unet": ["diffusers", "UNet2DConditionModel"]``: a library other than
    diffusers' own is a module file in the component's folder (custom component,
    imported with trust_remote_code) or a module imported by name (diffusers
    before 0.36 imported any; later ones only what the process already imported)."""
    folder = posixpath.dirname(name.replace("\\", "/"))
    class_name = doc.get("_class_name")
    if (
        isinstance(class_name, list)
        and len(class_name) >= 2
        and isinstance(class_name[0], str)
        and class_name[0]
    ):
        module = class_name[0].removesuffix(".py")
        _remote_code(
            ctx, loc, name, [posixpath.join(folder, f"{module}.py")], "the custom pipeline"
        )
    for component, spec in doc.items():
        if component.startswith("_") or not isinstance(spec, list) or len(spec) < 2:
            continue
        library, cls = spec[0], spec[1]
        if not isinstance(library, str) or not isinstance(cls, str) or not library:
            continue
        if library in _DIFFUSERS_LIBRARIES or library.split(".")[0] in _DIFFUSERS_LIBRARIES:
            continue
        if _is_diffusers_pipeline_module(library):
            continue
        local = _sibling_module(ctx, name, posixpath.join(folder, component), library)
        if local is not None:
            _remote_code(ctx, loc, name, [local], f"component {component!r}")
        else:
            _imports_module(ctx, loc, f"{library}.{cls}", f"component {component!r}")


def _is_diffusers_pipeline_module(library: str) -> bool:
    """``stable_diffusion``-style names: diffusers' own pipeline subpackages."""
    return re.fullmatch(r"[a-z][a-z0-9_]*", library) is not None and library in _PIPELINE_MODULES


_PIPELINE_MODULES: Final = frozenset(
    {
        "stable_diffusion", "stable_diffusion_xl", "stable_diffusion_safe", "deepfloyd_if",
        "kandinsky", "kandinsky2_2", "kandinsky3", "latent_diffusion", "paint_by_example",
        "unclip", "versatile_diffusion", "wuerstchen", "stable_cascade", "blip_diffusion",
        "controlnet", "pag", "audioldm2", "musicldm", "shap_e", "stable_audio",
        "stable_video_diffusion", "animatediff", "i2vgen_xl", "ledits_pp", "pixart_alpha",
    }
)  # fmt: skip


def _sentence_transformers_modules(ctx: ScanContext, doc: object, loc: Location, name: str) -> None:
    """modules.json: each ``type`` outside ``sentence_transformers.`` is imported
    (a repository file through transformers' dynamic modules, else an installed
    module), then called with the model path; since 6.0 only with trust_remote_code."""
    if not isinstance(doc, list):
        return
    folder = posixpath.dirname(name.replace("\\", "/"))
    for entry in doc:
        if not isinstance(entry, dict):
            continue
        ref = entry.get("type")
        if not isinstance(ref, str) or ref.startswith("sentence_transformers."):
            continue
        module = ref.rsplit(".", 1)[0] if "." in ref else ref
        local = _sibling_module(ctx, name, folder, module)
        if local is None and isinstance(entry.get("path"), str):
            local = _sibling_module(ctx, name, posixpath.join(folder, entry["path"]), module)
        if local is not None:
            _remote_code(ctx, loc, name, [local], f"module type {ref!r}")
        else:
            _imports_module(ctx, loc, ref, f"module type {ref!r}")


def _activation_functions(ctx: ScanContext, doc: dict[str, object], loc: Location) -> None:
    """sentence-transformers imports and calls the activation a config names
    (CrossEncoder's ``sentence_transformers.activation_fn``, Dense's
    ``activation_function``); before 3.x with no check at all."""
    paths = [doc.get("activation_function")]
    st = doc.get("sentence_transformers")
    if isinstance(st, dict):
        paths.append(st.get("activation_fn"))
    for path in paths:
        if isinstance(path, str) and path and not path.startswith("torch.nn."):
            _imports_module(ctx, loc, path, "the activation function")


def _peft_imports(ctx: ScanContext, doc: dict[str, object], loc: Location) -> None:
    """PEFT imports ``auto_mapping.parent_library`` (AutoPeftModel) and
    ``megatron_core``; versions before 0.14 with no allowlist."""
    auto_mapping = doc.get("auto_mapping")
    if isinstance(auto_mapping, dict):
        parent = auto_mapping.get("parent_library")
        if isinstance(parent, str) and not (
            parent in _PEFT_LIBRARIES or parent.startswith(tuple(f"{p}." for p in _PEFT_LIBRARIES))
        ):
            base = auto_mapping.get("base_model_class")
            _imports_module(
                ctx, loc, f"{parent}.{base}" if isinstance(base, str) else parent, "auto_mapping"
            )
    megatron = doc.get("megatron_core")
    if isinstance(megatron, str) and megatron not in ("megatron.core", ""):
        _imports_module(ctx, loc, megatron, "megatron_core")


def scan_text(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str:
    base = _basename(name)
    if is_config_name(base):
        return scan_config_file(ctx, blob, loc, name) or Format.TEXT
    if base.endswith((".jinja", ".j2")):
        report_template(ctx, _read_source(ctx, blob, loc), loc)
        return "jinja"
    if base.endswith(".py"):
        if name.replace("\\", "/").endswith("custom_generate/generate.py"):
            ctx.add(
                "remote-code",
                loc,
                None,
                "transformers' generate(custom_generate=…, trust_remote_code=True) imports "
                "this file and runs its generate()",
            )
        _python(ctx, blob, loc)
        return "python"
    return Format.TEXT


def _read_source(ctx: ScanContext, blob: Blob, loc: Location) -> str:
    """A template file's text; report_template refuses what is too long to parse."""
    del loc
    return blob.read(0, min(blob.size, ctx.limits.max_config_bytes)).decode("utf-8", "replace")


def _python(ctx: ScanContext, blob: Blob, loc: Location) -> None:
    limit = ctx.limits.max_source_bytes
    if blob.size > limit:
        ctx.add(
            "scan-limit-reached",
            loc,
            None,
            f"{blob.size}-byte Python file exceeds max_source_bytes={limit} and was not "
            "analysed (setting max_source_bytes)",
        )
        return
    report = analyse_python(blob.read(0, blob.size))
    if report.error is not None:
        ctx.add("python-unparsable", loc, None, report.error)
        return
    by_category: dict[str, list[str]] = {}
    for category, call, line in report.calls:
        by_category.setdefault(category, []).append(f"{call} (line {line})")
    imports = ", ".join(report.imports[:20]) + (" …" if len(report.imports) > 20 else "")
    for category, calls in sorted(by_category.items()):
        shown = ", ".join(calls[:8]) + (f" and {len(calls) - 8} more" if len(calls) > 8 else "")
        ctx.add(
            "python-dangerous-call" if category in SEVERE else "python-file-operation",
            loc,
            None,
            f"{category}: {shown}; imports: {imports or 'nothing'}",
            message=f"Python code that a loader may run calls {category} functions",
        )
