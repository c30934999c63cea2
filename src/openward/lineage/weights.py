"""Reading the weights a fingerprint needs, and only those, as data.

A :class:`WeightSource` opens a model folder, a single weight file or an ``hf://`` snapshot
and gives, by canonical role, the tensors of a decoder-only transformer:

- ``embed`` (token embeddings, rows per token) and the token strings of the vocabulary;
- per layer ``q``, ``k``, ``v``, ``gate``, ``up`` (matrices that read the residual stream:
  one row per output unit, each row as long as the hidden size) and ``o``, ``down`` (they
  write it).

Rows are read on demand with positioned reads (safetensors) or from the memory-mapped GGUF
(quantized rows dequantized with gguf's own tables), converted to float32, and every byte
read is counted (``bytes_read``) so a fingerprint can show it touched a small part of a big
model. Nothing is unpickled, nothing is executed; torch checkpoints are refused with a
one-line error (convert them to safetensors first).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from openward.errors import OpenwardError

__all__ = ["LineageError", "TensorRef", "WeightSource", "open_weights"]

Floats = npt.NDArray[np.float32]

ROLES: Final = ("q", "k", "v", "o", "gate", "up", "down")

_HF_LAYER = re.compile(
    r"(?:^|\.)layers\.(\d+)\.(?:self_attn|attention|attn|mlp|feed_forward)\."
    r"(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj|w1|w2|w3)\.weight$"
)
_HF_ROLE: Final = {
    "q_proj": "q",
    "k_proj": "k",
    "v_proj": "v",
    "o_proj": "o",
    "gate_proj": "gate",
    "up_proj": "up",
    "down_proj": "down",
    "w1": "gate",
    "w3": "up",
    "w2": "down",
}
_HF_EMBED = re.compile(r"(?:^|\.)(?:embed_tokens|wte|word_embeddings|tok_embeddings)\.weight$")
_GGUF_LAYER = re.compile(
    r"^blk\.(\d+)\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$"
)
_GGUF_ROLE: Final = {
    "attn_q": "q",
    "attn_k": "k",
    "attn_v": "v",
    "attn_output": "o",
    "ffn_gate": "gate",
    "ffn_up": "up",
    "ffn_down": "down",
}
_ST_DTYPES: Final = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": None}
_WEIGHT_SUFFIXES: Final = (".safetensors", ".gguf")


class LineageError(OpenwardError):
    """A model whose weights cannot be fingerprinted (one line, for the CLI)."""


@dataclass(frozen=True)
class TensorRef:
    """Where one 2-D tensor's rows are: ``rows`` x ``cols`` in its file."""

    name: str
    rows: int
    cols: int
    file: Path
    dtype: str
    offset: int = 0
    """safetensors: absolute offset of the first byte."""
    gguf_index: int = -1


@dataclass
class WeightSource:
    """The tensors of one model, by role, with counted reads."""

    path: Path
    format: str
    embed: TensorRef
    layers: dict[int, dict[str, TensorRef]]
    tokens: list[str]
    size: int
    """Bytes of the weight files."""
    bytes_read: int = 0
    _gguf: dict[Path, Any] = field(default_factory=dict)
    _int8_scales: dict[str, TensorRef] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return max(self.layers) + 1 if self.layers else 0

    @property
    def hidden(self) -> int:
        return self.embed.cols

    def read_rows(self, ref: TensorRef, rows: Sequence[int]) -> Floats:
        """Rows ``rows`` of ``ref`` as float32, shape (len(rows), cols)."""
        if not rows:
            return np.zeros((0, ref.cols), dtype=np.float32)
        if ref.gguf_index >= 0:
            return self._gguf_rows(ref, rows)
        return self._safetensors_rows(ref, rows)

    def read_all(self, ref: TensorRef) -> Floats:
        return self.read_rows(ref, range(ref.rows))

    def _safetensors_rows(self, ref: TensorRef, rows: Sequence[int]) -> Floats:
        itemsize = 2 if ref.dtype in ("F16", "BF16") else 8 if ref.dtype == "F64" else 4
        if ref.dtype == "I8":
            itemsize = 1
        row_bytes = ref.cols * itemsize
        out = np.empty((len(rows), ref.cols), dtype=np.float32)
        fd = os.open(ref.file, os.O_RDONLY)
        try:
            # consecutive rows are read in one call
            i = 0
            order = list(rows)
            while i < len(order):
                j = i + 1
                while j < len(order) and order[j] == order[j - 1] + 1:
                    j += 1
                start = ref.offset + order[i] * row_bytes
                length = (j - i) * row_bytes
                raw = os.pread(fd, length, start)
                if len(raw) != length:
                    raise LineageError(f"{ref.file}: {ref.name} is truncated")
                self.bytes_read += length
                out[i:j] = _decode(raw, ref.dtype).reshape(j - i, ref.cols)
                i = j
        finally:
            os.close(fd)
        if ref.dtype == "I8":  # bitsandbytes LLM.int8: per-row absmax scales in `.SCB`
            scales = self._int8_scales.get(ref.name)
            if scales is None:
                raise LineageError(f"{ref.file}: {ref.name} is int8 without its scales (SCB)")
            scb = self._safetensors_rows(scales, [0]).reshape(-1)
            out *= scb[list(rows)][:, None] / 127.0
        return out

    def _gguf_rows(self, ref: TensorRef, rows: Sequence[int]) -> Floats:
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize

        reader = self._gguf[ref.file]
        tensor = reader.tensors[ref.gguf_index]
        data = tensor.data
        picked = np.asarray(data[np.asarray(list(rows))])
        self.bytes_read += picked.nbytes
        qtype = GGMLQuantizationType(int(tensor.tensor_type))
        if qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
            return picked.astype(np.float32).reshape(len(rows), ref.cols)
        try:
            values = dequantize(picked, qtype)
        except NotImplementedError:
            raise LineageError(
                f"{ref.file}: {ref.name} has GGUF type {qtype.name}, which gguf cannot dequantize"
            ) from None
        return np.asarray(values, dtype=np.float32).reshape(len(rows), ref.cols)


def _decode(raw: bytes, dtype: str) -> Floats:
    if dtype == "BF16":
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    if dtype == "I8":
        return np.frombuffer(raw, dtype=np.int8).astype(np.float32)
    np_dtype = _ST_DTYPES[dtype]
    assert np_dtype is not None
    return np.frombuffer(raw, dtype=np.dtype(np_dtype).newbyteorder("<")).astype(np.float32)


def _weight_files(path: Path) -> tuple[str, list[Path]]:
    """The files a loader would read: the file itself, or the folder's top-level weights
    (the shards ``model.safetensors.index.json`` names when there is one). Sub-folders are
    not read: transformers does not load them either, so a decoy there must not count.
    Symlinks (a Hugging Face cache snapshot links into ``blobs/``) are followed to regular
    files."""
    if path.is_file():
        if path.suffix not in _WEIGHT_SUFFIXES:
            return "none", []
        return ("gguf" if path.suffix == ".gguf" else "safetensors"), [path.resolve()]
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(
                set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise LineageError(f"{index}: not a readable safetensors index") from None
        files = []
        for name in names:
            shard = (path / str(name)).resolve()
            if Path(str(name)).name != str(name) or not shard.is_file():
                raise LineageError(f"{index}: names a missing or nested shard {name!r}")
            files.append(shard)
        return "safetensors", files
    top = sorted(p for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file())
    st = [p.resolve() for p in top if p.suffix == ".safetensors"]
    if st:
        return "safetensors", st
    # a folder with several GGUF files: the first (one model each)
    return "gguf", [p.resolve() for p in top[:1]]


def open_weights(target: str | Path) -> WeightSource:
    """Open a model folder, weight file or ``hf://ORG/NAME[@REV]`` snapshot for reading.

    Raises:
        LineageError: no readable weights, an unsupported format, or no token embedding.
    """
    from openward.artifacts.hf_cache import is_hf_target, resolve_hf_target

    text = str(target)
    try:
        path = resolve_hf_target(text) if is_hf_target(text) else Path(text)
    except OpenwardError as exc:
        raise LineageError(str(exc)) from None
    if not path.exists():
        raise LineageError(f"{path}: no such file or folder")
    kind, files = _weight_files(path)
    if not files:
        torch_files = [path] if path.is_file() else list(path.glob("*.bin"))
        if torch_files:
            raise LineageError(
                f"{path}: no safetensors or GGUF weights (torch checkpoints are not read for "
                "fingerprints; convert them to safetensors)"
            )
        raise LineageError(f"{path}: no safetensors or GGUF weights")
    if kind == "gguf":
        return _open_gguf(path, files[0])
    return _open_safetensors(path, files)


def _open_safetensors(path: Path, files: list[Path]) -> WeightSource:
    from openward.artifacts.blob import MappedFile
    from openward.artifacts.errors import ArtifactFormatError, ArtifactLimitError
    from openward.artifacts.safetensors import read_safetensors_header

    embed: TensorRef | None = None
    layers: dict[int, dict[str, TensorRef]] = {}
    scales: dict[str, TensorRef] = {}
    size = 0
    for file in files:
        size += file.stat().st_size
        try:
            with MappedFile(file) as mapped:
                header = read_safetensors_header(mapped.blob)
        except (ArtifactFormatError, ArtifactLimitError) as exc:
            raise LineageError(f"{file}: not a readable safetensors file ({exc})") from None
        except OSError as exc:
            raise LineageError(f"{file}: cannot read ({exc.strerror or exc})") from None
        if header.problems:
            raise LineageError(f"{file}: {header.problems[0]}")
        for t in header.tensors:
            if t.name.endswith(".SCB") and len(t.shape) == 1:
                scales[t.name[: -len(".SCB")] + ".weight"] = TensorRef(
                    t.name, 1, t.shape[0], file, t.dtype, header.data_start + t.start
                )
                continue
            if len(t.shape) != 2:
                continue
            if t.dtype not in _ST_DTYPES and t.dtype != "I8":
                if _HF_EMBED.search(t.name) or _HF_LAYER.search(t.name):
                    raise LineageError(
                        f"{file}: {t.name} is stored as {t.dtype}, a quantization openward "
                        "does not read (packed 4-bit formats: dequantize to safetensors first)"
                    )
                continue
            ref = TensorRef(
                t.name, t.shape[0], t.shape[1], file, t.dtype, header.data_start + t.start
            )
            if _HF_EMBED.search(t.name) and embed is None:
                embed = ref
                continue
            m = _HF_LAYER.search(t.name)
            if m:
                layers.setdefault(int(m.group(1)), {})[_HF_ROLE[m.group(2)]] = ref
    if embed is None:
        raise LineageError(f"{path}: no token embedding tensor found")
    folder = path if path.is_dir() else path.parent
    source = WeightSource(path, "safetensors", embed, layers, _hf_tokens(folder), size)
    source._int8_scales = scales
    return source


MAX_TOKENIZER_BYTES: Final = 256 << 20
MAX_TOKEN_ID: Final = 1 << 24


def _hf_tokens(folder: Path) -> list[str]:
    """Token strings by id from tokenizer.json (byte-level BPE, SentencePiece or WordPiece).

    A file that is not what it should be (too large, not an object, ids out of range) reads
    as no vocabulary: the fingerprint then uses token ids."""
    file = folder / "tokenizer.json"
    try:
        if not file.is_file() or file.stat().st_size > MAX_TOKENIZER_BYTES:
            return []
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return []
    if not isinstance(doc, dict):
        return []
    model = doc.get("model")
    vocab = model.get("vocab") if isinstance(model, dict) else None
    tokens: dict[int, str] = {}

    def keep(i: object, t: object) -> None:
        if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < MAX_TOKEN_ID:
            tokens[i] = str(t)

    if isinstance(vocab, dict):
        for t, i in vocab.items():
            keep(i, t)
    elif isinstance(vocab, list):
        for i, e in enumerate(vocab):
            if isinstance(e, list) and e:
                keep(i, e[0])
    added = doc.get("added_tokens")
    for entry in added if isinstance(added, list) else []:
        if isinstance(entry, dict):
            keep(entry.get("id"), entry.get("content", ""))
    if not tokens:
        return []
    out = [""] * (max(tokens) + 1)
    for i, t in tokens.items():
        out[i] = t
    return out


def _open_gguf(path: Path, file: Path) -> WeightSource:
    from gguf import GGUFReader

    try:
        reader = GGUFReader(file, "r")
    except Exception as exc:  # gguf raises ValueError, struct errors, IndexError, ...
        raise LineageError(f"{file}: not a readable GGUF file ({_first_line(exc)})") from None
    embed: TensorRef | None = None
    layers: dict[int, dict[str, TensorRef]] = {}
    for index, tensor in enumerate(reader.tensors):
        shape = [int(n) for n in tensor.shape]
        if len(shape) != 2:
            continue
        cols, rows = shape  # GGUF lists the contiguous dimension first
        ref = TensorRef(tensor.name, rows, cols, file, str(tensor.tensor_type), gguf_index=index)
        if tensor.name == "token_embd.weight":
            embed = ref
            continue
        m = _GGUF_LAYER.match(tensor.name)
        if m:
            layers.setdefault(int(m.group(1)), {})[_GGUF_ROLE[m.group(2)]] = ref
    if embed is None:
        raise LineageError(f"{file}: no token embedding tensor (token_embd.weight)")
    tokens: list[str] = []
    field_ = reader.fields.get("tokenizer.ggml.tokens")
    if field_ is not None:
        tokens = [bytes(field_.parts[i]).decode("utf-8", "replace") for i in field_.data]
    source = WeightSource(path, "gguf", embed, layers, tokens, file.stat().st_size)
    source._gguf[file] = reader
    return source


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
