"""TensorFlow Lite model metadata: the associated files a model declares.

TFLite's metadata tools (``tflite_support``'s and MediaPipe's
``MetadataPopulator``) store a ``ModelMetadata`` flatbuffer (identifier
``M001``) in a model buffer named ``TFLITE_METADATA`` and append the files it
names (label maps, vocabularies) to the end of the ``.tflite`` as a zip: by
Python's ``zipfile`` in append mode (stored members, absolute offsets), by
minizip or by miniz (deflated members). The metadata says which files belong
there, so a zip at the end of a model can be told apart from one that
something else put there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError
from openward.artifacts.flatbuffer import Table, root_table

__all__ = ["METADATA_NAME", "TfliteMetadata", "read_tflite_metadata"]

METADATA_NAME: Final = "TFLITE_METADATA"
METADATA_IDENTIFIER: Final = b"M001"

# Table field indexes, from the TFLite schema (schema.fbs) and the metadata
# schema (metadata_schema.fbs).
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_BUFFER_DATA = 0
_MM_SUBGRAPHS, _MM_FILES = 3, 6
_SG_INPUTS, _SG_OUTPUTS, _SG_FILES, _SG_IN_UNITS, _SG_OUT_UNITS = 2, 3, 4, 5, 6
_TM_UNITS, _TM_FILES = 4, 6
_PU_OPTIONS_TYPE, _PU_OPTIONS = 0, 1
# ProcessUnitOptions union members that carry files, and their file fields.
_TOKENIZER_FILE_FIELDS: Final[dict[int, tuple[int, ...]]] = {
    4: (0,),  # BertTokenizerOptions.vocab_file
    5: (0, 1),  # SentencePieceTokenizerOptions.sentencePiece_model, vocab_file
    6: (1,),  # RegexTokenizerOptions.vocab_file
}
_MAX_TABLES: Final = 10_000


@dataclass(frozen=True)
class TfliteMetadata:
    """The ``TFLITE_METADATA`` of a model."""

    associated_files: frozenset[str]
    """Every file name the metadata records (model, subgraph, tensor and tokenizer files)."""
    end: int
    """Offset just past the metadata buffer inside the model file."""


def read_tflite_metadata(blob: Blob) -> TfliteMetadata | None:
    """The model's metadata, or None when it has none or it does not parse."""
    try:
        model = root_table(blob)
        buffers = model.tables(_MODEL_BUFFERS)
        for entry in model.tables(_MODEL_METADATA):
            if entry.string(_METADATA_NAME) != METADATA_NAME:
                continue
            index = entry.scalar(_METADATA_BUFFER, "<I")
            if index >= len(buffers):
                return None
            span = buffers[index].vector_span(_BUFFER_DATA)
            if span is None:
                return None
            data = blob.window(*span)
            if data.read(4, 4) != METADATA_IDENTIFIER:
                return None
            return TfliteMetadata(frozenset(_associated_files(root_table(data))), span[0] + span[1])
    except ArtifactFormatError:
        return None
    return None


def _associated_files(metadata: Table) -> list[str]:
    names: list[str] = []

    def files(table: Table | None, index: int) -> None:
        if table is None:
            return
        for f in table.tables(index, _MAX_TABLES):
            name = f.string(0)
            if name:
                names.append(name)

    def units(table: Table, index: int) -> None:
        for unit in table.tables(index, _MAX_TABLES):
            fields = _TOKENIZER_FILE_FIELDS.get(unit.scalar(_PU_OPTIONS_TYPE, "<B"), ())
            options = unit.table(_PU_OPTIONS) if fields else None
            for field in fields:
                files(options, field)

    files(metadata, _MM_FILES)
    for subgraph in metadata.tables(_MM_SUBGRAPHS, _MAX_TABLES):
        files(subgraph, _SG_FILES)
        for tensors in (_SG_INPUTS, _SG_OUTPUTS):
            for tensor in subgraph.tables(tensors, _MAX_TABLES):
                files(tensor, _TM_FILES)
                units(tensor, _TM_UNITS)
        units(subgraph, _SG_IN_UNITS)
        units(subgraph, _SG_OUT_UNITS)
    return names
