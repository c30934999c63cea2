"""Repository files that make loaders run code: configs, templates, Python sources.

These are JSON and text files whose meaning comes from their names, the way
transformers and friends find them: ``config.json`` and its ``auto_map``
(``trust_remote_code=True`` imports the modules it names),
``tokenizer_config.json`` (tokenizer classes, chat templates),
``chat_template.jinja`` and ``*.py`` (read with :mod:`ast`, never imported).
"""

from __future__ import annotations

import json
import posixpath
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.detection import Format
from openward.scanning.context import Location, ScanContext
from openward.scanning.formats.configs import is_config_name, scan_config_file
from openward.scanning.formats.templates import report_template
from openward.scanning.python_code import SEVERE, analyse_python

__all__ = ["scan_json", "scan_text"]

MAX_JSON: Final = 64 << 20
_AUTO_MAP_FILES: Final = frozenset(
    {
        "config.json", "tokenizer_config.json", "processor_config.json",
        "preprocessor_config.json", "feature_extractor_config.json",
        "image_processor_config.json", "video_preprocessor_config.json",
    }
)  # fmt: skip
_TEMPLATE_JSON: Final = frozenset(
    {"tokenizer_config.json", "chat_template.json", "processor_config.json"}
)


def _basename(name: str) -> str:
    return posixpath.basename(name.replace("\\", "/"))


def _load_json(ctx: ScanContext, blob: Blob, loc: Location) -> object:
    if blob.size > MAX_JSON:
        return None
    try:
        return json.loads(blob.read(0, blob.size).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def scan_json(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str:
    base = _basename(name)
    if base.endswith((".jinja", ".j2", ".py")):
        return scan_text(ctx, blob, loc, name)  # "{% ..." and "{" both open like JSON
    config_label = scan_config_file(ctx, blob, loc, name)  # _target_, YAML that opens with "{"
    if config_label is not None:
        return config_label
    if base not in _AUTO_MAP_FILES and base not in _TEMPLATE_JSON:
        return Format.JSON
    doc = _load_json(ctx, blob, loc)
    if not isinstance(doc, dict):
        return Format.JSON
    if base in _TEMPLATE_JSON:
        _templates_in(ctx, doc.get("chat_template"), loc)
    if base in _AUTO_MAP_FILES:
        _auto_map(ctx, doc, loc, name)
    return Format.JSON


def _templates_in(ctx: ScanContext, value: object, loc: Location) -> None:
    if isinstance(value, str):
        report_template(ctx, value, (*loc, "<chat_template>"))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                label = f"<chat_template {item.get('name', '?')}>"
                report_template(ctx, item["template"], (*loc, label))


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
        modules = sorted(f"{m}.py" for m in local)
        missing = [m for m in modules if ctx.sibling_exists(name, m) is False]
        ctx.add(
            "remote-code",
            loc,
            None,
            f"trust_remote_code=True would import {', '.join(modules)}"
            + (f" (not in the scanned files: {', '.join(missing)})" if missing else ""),
        )


def scan_text(ctx: ScanContext, blob: Blob, loc: Location, name: str) -> str:
    base = _basename(name)
    if is_config_name(base):
        return scan_config_file(ctx, blob, loc, name) or Format.TEXT
    if base.endswith(".jinja") or base.endswith(".j2"):
        source = blob.read(0, min(blob.size, MAX_JSON)).decode("utf-8", "replace")
        report_template(ctx, source, loc)
        return "jinja"
    if base.endswith(".py"):
        _python(ctx, blob, loc)
        return "python"
    return Format.TEXT


def _python(ctx: ScanContext, blob: Blob, loc: Location) -> None:
    source = blob.read(0, min(blob.size, MAX_JSON)).decode("utf-8", "replace")
    report = analyse_python(source)
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
