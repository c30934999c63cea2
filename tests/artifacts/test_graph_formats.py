"""The schema-less protobuf reader and the flatbuffer reader: right and robust."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openward._samples import saved_model_bytes, tflite_bytes
from openward.artifacts.blob import Blob
from openward.artifacts.errors import ArtifactFormatError
from openward.artifacts.flatbuffer import root_table
from openward.artifacts.protobuf_wire import fields
from openward.artifacts.tf_graph import read_keras_metadata, read_saved_model


def test_saved_model_ops_include_functions() -> None:
    data = saved_model_bytes(["Placeholder", "ReadFile"], function_ops=["WriteFile"])
    (graph,) = read_saved_model(Blob.of(data))
    ops = [n.op for n in graph.nodes] + [n.op for f in graph.functions.values() for n in f.nodes]
    assert sorted(ops) == ["Placeholder", "ReadFile", "WriteFile"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_tf_graph_readers_only_raise_format_errors(data: bytes) -> None:
    with contextlib.suppress(ArtifactFormatError):
        read_saved_model(Blob.of(data))
    with contextlib.suppress(ArtifactFormatError):
        read_keras_metadata(Blob.of(data))


def test_tflite_custom_codes() -> None:
    model = root_table(Blob.of(tflite_bytes(["FlexReadFile", "MyOp"])))
    assert [t.string(1) for t in model.tables(1)] == ["FlexReadFile", "MyOp"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_protobuf_garbage_only_raises_format_errors(data: bytes) -> None:
    with contextlib.suppress(ArtifactFormatError):
        for _ in fields(Blob.of(data)):
            pass


SEED = tflite_bytes(["FlexWriteFile", "Custom"])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), max_size=6))
def test_mutated_flatbuffers_only_raise_format_errors(flips: list[tuple[int, int]]) -> None:
    data = bytearray(SEED)
    for pos, value in flips:
        data[pos] = value
    with contextlib.suppress(ArtifactFormatError):
        model = root_table(Blob.of(bytes(data)))
        for table in model.tables(1):
            table.string(1)
