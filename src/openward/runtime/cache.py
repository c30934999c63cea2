"""openward's model cache: GGUF files dequantized once into safetensors folders.

transformers reads GGUF by dequantizing every tensor, which takes seconds to
tens of seconds; a safetensors folder loads (memory-mapped) in a fraction of
a second. So a GGUF target is converted once, into::

    $OPENWARD_CACHE_DIR/models/<sha256-of-gguf[:16]>/   (default ~/.cache/openward)
        config.json              the model config, without the GGUF quantization config
        generation_config.json
        tokenizer.json, tokenizer_config.json, chat_template.jinja (when the GGUF has one)
        model.safetensors        the dequantized weights, float32
        openward-source.json     what it was made from (file name, SHA-256), written last

Folders are written into a temporary sibling and renamed into place, under a
file lock, so concurrent pytest-xdist workers (or two audits) build it once
and never see a half-written folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from openward.errors import TargetError

__all__ = [
    "cache_root",
    "cached_folder",
    "file_sha256",
    "gguf_to_safetensors",
    "locked",
    "models_dir",
]

SOURCE_RECORD = "openward-source.json"
"""Written last into every cached model folder: its presence marks the folder complete."""


def cache_root() -> Path:
    """``$OPENWARD_CACHE_DIR``, else ``~/.cache/openward``."""
    env = os.environ.get("OPENWARD_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "openward"


def models_dir(cache_dir: Path | None = None) -> Path:
    """The folder holding converted and derived models (``<cache_root>/models``)."""
    return cache_dir if cache_dir is not None else cache_root() / "models"


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """An exclusive inter-process lock on ``lock_path`` (created if missing)."""
    from filelock import FileLock

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock_path)):
        yield


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered per (path, size, mtime) so a large GGUF is hashed once."""
    stat = path.stat()
    key = hashlib.sha256(
        f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()
    ).hexdigest()
    memo = cache_root() / "hashes" / key[:32]
    with contextlib.suppress(OSError):
        known = memo.read_text().strip()
        if len(known) == 64:
            return known
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    value = digest.hexdigest()
    with contextlib.suppress(OSError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
        tmp.write_text(value)
        os.replace(tmp, memo)
    return value


def cached_folder(dest: Path, build: Callable[[Path], dict[str, object]]) -> Path:
    """``dest``, built by ``build(tmp_folder)`` unless it is already complete.

    ``build`` writes the model into the empty ``tmp_folder`` and returns the
    record saved as ``openward-source.json``; the folder is then renamed to
    ``dest``. Concurrent callers wait on a lock and reuse the first one's work.
    """
    if (dest / SOURCE_RECORD).is_file():
        return dest
    with locked(dest.with_name(dest.name + ".lock")):
        if (dest / SOURCE_RECORD).is_file():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a cache folder is not
        try:
            record = build(tmp)
            (tmp / SOURCE_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
            if dest.exists():  # an incomplete folder left by a killed build
                shutil.rmtree(dest)
            os.rename(tmp, dest)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return dest


def gguf_to_safetensors(
    gguf: Path, *, cache_dir: Path | None = None, sha256: str | None = None
) -> Path:
    """The cached safetensors folder for ``gguf``, converting it on first use.

    The caller scans the GGUF first (``resolve_target`` does); nothing here
    executes code from the file: GGUF holds tensors and metadata only.
    """
    digest = sha256 or file_sha256(gguf)
    dest = models_dir(cache_dir) / digest[:16]

    def build(tmp: Path) -> dict[str, object]:
        _convert_gguf(gguf, tmp)
        return {"kind": "gguf", "file": gguf.name, "sha256": digest}

    return cached_folder(dest, build)


def _convert_gguf(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, trust_remote_code=False
        )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except Exception as exc:  # transformers raises many kinds for unsupported GGUF
        raise TargetError(
            str(gguf), f"transformers cannot load this GGUF file: {_one_line(exc)}"
        ) from None
    save_model_folder(model, tokenizer, out)


def save_model_folder(model: object, tokenizer: object, out: Path) -> None:
    """Write a loaded causal LM as config + tokenizer + one float32 safetensors file.

    ``save_pretrained`` refuses models loaded from GGUF, so the state dict and
    the config are written directly; tied weights are stored once (the config
    says they are tied) and the GGUF quantization config is dropped.
    """
    import torch
    from safetensors.torch import save_file

    config = model.config  # type: ignore[attr-defined]
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    config.save_pretrained(str(out))
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None:
        generation_config.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))  # type: ignore[attr-defined]

    state = model.state_dict()  # type: ignore[attr-defined]
    seen: dict[int, str] = {}
    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        ptr = tensor.data_ptr()
        if ptr in seen:  # tied to a tensor already stored (embeddings <-> lm_head)
            continue
        seen[ptr] = name
        tensors[name] = tensor.detach().to(torch.float32).contiguous()
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
