"""Per-recipient weight marks: keys, streaming, round trips, the null, bad input."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openward.errors import OpenwardError
from openward.watermark import _attacks, weights
from openward.watermark.weights import (
    GROUP,
    GROUP_16,
    RELATIVE_STEP,
    ULP_STEP,
    Match,
    NotACopy,
    WatermarkError,
    grant_key,
    is_markable,
    mark_folder,
    marked_chunks,
    score,
    trace,
)
from tests.watermark._weights_models import (
    MODEL,
    SECRET,
    TEST_GROUP_16,
    group_16_for_tests,
    tiny_llama,
)


@pytest.fixture(scope="module", autouse=True)
def _test_group_16() -> Iterator[None]:
    """16-bit tensors marked one element in TEST_GROUP_16 (its docstring says why)."""
    with group_16_for_tests():
        yield


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wm")
    orig = tiny_llama(root / "orig")
    out = {"orig": orig}
    for grant in ("alice", "bob"):
        mark_folder(orig, root / grant, grant_key(SECRET, MODEL, grant))
        out[grant] = root / grant
    return out


def keys(*grants: str) -> dict[str, bytes]:
    return {g: grant_key(SECRET, MODEL, g) for g in grants}


def _small_file(path: Path) -> Path:
    """A hand-written safetensors file: a bf16, an f16 and an f32 matrix inside a layer, an
    embedding and a norm (not marked), in an odd order of offsets."""
    rng = np.random.default_rng(1)
    parts = {
        "model.layers.0.mlp.up_proj.weight": ("BF16", (48, 40)),
        "model.embed_tokens.weight": ("F32", (16, 40)),
        "model.layers.0.self_attn.q_proj.weight": ("F32", (40, 40)),
        "model.layers.0.input_layernorm.weight": ("F32", (40,)),
        "model.layers.1.mlp.down_proj.weight": ("F16", (40, 33)),
    }
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    body = b""
    for name, (dtype, shape) in parts.items():
        v = rng.standard_normal(shape).astype(np.float32) * 0.02
        if dtype == "BF16":
            raw = (v.view(np.uint32) >> 16).astype("<u2").tobytes()
        elif dtype == "F16":
            raw = v.astype("<f2").tobytes()
        else:
            raw = v.astype("<f4").tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [len(body), len(body) + len(raw)],
        }
        body += raw
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)
    return path


def test_grant_keys_are_deterministic_and_distinct() -> None:
    a = grant_key(SECRET, MODEL, "alice")
    assert a == grant_key(SECRET, MODEL, "alice") and len(a) == 32
    assert a != grant_key(SECRET, MODEL, "bob")
    assert a != grant_key(SECRET, "acme/other", "alice")
    assert a != grant_key(b"another secret", MODEL, "alice")
    with pytest.raises(WatermarkError):
        grant_key(b"", MODEL, "alice")


def test_two_recipients_each_traced_to_their_own_grant(models: dict[str, Path]) -> None:
    k = keys("alice", "bob", "carol")
    for grant in ("alice", "bob"):
        found = trace(models["orig"], models[grant], k)
        assert [m.grant for m in found] == [grant]
        assert found[0].p_value <= 1e-6 and found[0].z > 20
    # a single file works as well as a folder
    found = trace(models["orig"] / "model.safetensors", models["bob"] / "model.safetensors", k)
    assert [m.grant for m in found] == ["bob"]


def test_unmarked_copy_names_no_one(models: dict[str, Path]) -> None:
    assert trace(models["orig"], models["orig"], keys("alice", "bob")) == []
    everyone = score(models["orig"], models["orig"], keys("alice", "bob"))
    assert {m.grant for m in everyone} == {"alice", "bob"}
    assert all(m.p_value == 1.0 for m in everyone)


def test_null_of_other_keys_is_standard(models: dict[str, Path]) -> None:
    """The statistic of 200 keys that did not mark the copy. z is the larger of two
    statistics that are each about standard normal under the null (so its mean is a little
    above 0); the p-value bound must hold at every level checked."""
    others = {f"g{i}": grant_key(SECRET, MODEL, f"g{i}") for i in range(200)}
    found = score(models["orig"], models["alice"], others)
    zs = np.array([m.z for m in found])
    assert -0.2 < zs.mean() < 0.7
    assert 0.6 < zs.std() < 1.3
    assert zs.max() < 4.5
    for level in (0.3, 0.1, 0.03):
        assert sum(m.p_value <= level for m in found) <= level * len(found) + 3


def test_mark_changes_few_values_by_one_step(models: dict[str, Path]) -> None:
    orig, _ = _attacks.load(models["orig"])
    marked, _ = _attacks.load(models["alice"])
    for name, v in orig.items():
        w = marked[name]
        if not _attacks.is_matrix(name, v):
            assert np.array_equal(v, w), name
            continue
        changed = v != w
        assert changed.mean() == pytest.approx(1 / GROUP, rel=0.1)
        rel = np.abs(w[changed] - v[changed]) / np.abs(v[changed])
        assert rel == pytest.approx(RELATIVE_STEP, rel=1e-3)


def test_streaming_equals_mark_folder_and_is_deterministic(models: dict[str, Path]) -> None:
    src = models["orig"] / "model.safetensors"
    key = grant_key(SECRET, MODEL, "alice")
    whole = b"".join(marked_chunks(src, key))
    assert whole == (models["alice"] / "model.safetensors").read_bytes()
    assert whole == b"".join(marked_chunks(src, key, chunk_size=1 << 20))
    original = src.read_bytes()
    assert len(whole) == len(original)
    (size,) = struct.unpack("<Q", original[:8])
    assert whole[: 8 + size] == original[: 8 + size]
    assert whole != original
    assert whole != b"".join(marked_chunks(src, grant_key(SECRET, MODEL, "bob")))
    # non-weight files are copied as they are
    for name in ("config.json", "generation_config.json"):
        assert (models["alice"] / name).read_bytes() == (models["orig"] / name).read_bytes()


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _small_file(tmp_path_factory.mktemp("small") / "model.safetensors")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(chunk=st.one_of(st.integers(1, 64), st.integers(65, 20000)))
def test_any_chunking_gives_the_same_bytes(small_file: Path, chunk: int) -> None:
    key = grant_key(SECRET, MODEL, "alice")
    reference = b"".join(marked_chunks(small_file, key, chunk_size=1 << 20))
    chunks = list(marked_chunks(small_file, key, chunk_size=chunk))
    assert all(len(c) == chunk for c in chunks[:-1])
    assert b"".join(chunks) == reference


def test_every_float_dtype_is_marked_and_traced(small_file: Path, tmp_path: Path) -> None:
    assert is_markable(small_file)
    key = grant_key(SECRET, MODEL, "alice")
    marked = tmp_path / "marked.safetensors"
    marked.write_bytes(b"".join(marked_chunks(small_file, key)))
    a, _ = _attacks.load(small_file.parent)
    b, _ = _attacks.load(tmp_path)
    for name in a:
        differs = not np.array_equal(a[name], b[name])
        assert differs == ("layers" in name and a[name].ndim == 2), name
    (m,) = score(small_file, marked, {"alice": key})
    assert m.z > 8


def test_16_bit_elements_move_by_whole_units_in_the_last_place(
    small_file: Path, tmp_path: Path
) -> None:
    """bfloat16 and float16 elements move by ULP_STEP units in the last place: a relative
    change as small as RELATIVE_STEP would round away in 16 bits and leave them unmarked."""
    key = grant_key(SECRET, MODEL, "alice")
    (tmp_path / "model.safetensors").write_bytes(b"".join(marked_chunks(small_file, key)))
    a, dtypes = _attacks.load(small_file.parent)
    b, _ = _attacks.load(tmp_path)
    seen = set()
    for name, dtype in dtypes.items():
        if dtype == "BF16":
            before = (a[name].view(np.uint32) >> 16).astype(np.int64)
            after = (b[name].view(np.uint32) >> 16).astype(np.int64)
        elif dtype == "F16":
            before = a[name].astype(np.float16).view(np.uint16).astype(np.int64)
            after = b[name].astype(np.float16).view(np.uint16).astype(np.int64)
        else:
            continue
        changed = before != after
        assert changed.mean() == pytest.approx(1 / TEST_GROUP_16, rel=0.5), name
        assert np.all(np.abs(after[changed] - before[changed]) == ULP_STEP), name
        seen.add(dtype)
    assert seen == {"BF16", "F16"}
    assert np.float16(1 + RELATIVE_STEP) == 1  # why float16 is not moved by RELATIVE_STEP


@pytest.mark.parametrize("dtype", ["BF16", "F16", "F32"])
def test_the_shipped_groups_mark_one_element_in_each(
    dtype: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the shipped constants, a 16-bit matrix has exactly one element moved (by one
    unit in the last place) in every GROUP_16 consecutive elements, a float32 one in every
    GROUP: bfloat16/float16 are marked far more sparsely than float32."""
    monkeypatch.setattr(weights, "GROUP_16", GROUP_16)
    assert GROUP_16 > GROUP and GROUP_16 <= 1 << 15
    rows, cols = 64, 6 * GROUP_16 // 64  # six groups of GROUP_16 elements
    v = np.random.default_rng(7).standard_normal(rows * cols).astype(np.float32) * 0.02
    if dtype == "BF16":
        raw = (v.view(np.uint32) >> 16).astype("<u2")
    else:
        raw = v.astype("<f2" if dtype == "F16" else "<f4")
    text = json.dumps(
        {"model.layers.0.mlp.up_proj.weight": {
            "dtype": dtype, "shape": [rows, cols], "data_offsets": [0, raw.nbytes]}}
    ).encode()  # fmt: skip
    src = tmp_path / "model.safetensors"
    src.write_bytes(struct.pack("<Q", len(text)) + text + raw.tobytes())
    marked = b"".join(marked_chunks(src, grant_key(SECRET, MODEL, "alice"), chunk_size=4099))
    after = np.frombuffer(marked[8 + len(text) :], dtype=raw.dtype)
    changed = np.flatnonzero(after != raw)
    group = GROUP if dtype == "F32" else GROUP_16
    assert len(changed) == rows * cols // group
    assert np.array_equal(changed // group, np.arange(rows * cols // group))
    if dtype != "F32":
        units = raw.view("<u2").astype(np.int64)
        moved = after.view("<u2").astype(np.int64)
        assert np.all(np.abs(moved[changed] - units[changed]) == ULP_STEP)


def test_collusion_of_two_and_of_three(models: dict[str, Path], tmp_path: Path) -> None:
    k = keys("alice", "bob", "carol", "dave")
    mark_folder(models["orig"], tmp_path / "carol", k["carol"])
    copies = [_attacks.load(models["alice"])[0], _attacks.load(models["bob"])[0]]
    two = _attacks.save(models["orig"], tmp_path / "two", _attacks.average(copies))
    assert {m.grant for m in trace(models["orig"], two, k)} == {"alice", "bob"}
    copies.append(_attacks.load(tmp_path / "carol")[0])
    three = _attacks.save(models["orig"], tmp_path / "three", _attacks.average(copies))
    assert {m.grant for m in trace(models["orig"], three, k)} == {"alice", "bob", "carol"}


def test_quality_logits_stay_close(models: dict[str, Path]) -> None:
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM

    a = AutoModelForCausalLM.from_pretrained(models["orig"]).eval()
    b = AutoModelForCausalLM.from_pretrained(models["alice"]).eval()
    ids = torch.randint(0, 512, (4, 48), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        la, lb = a(ids).logits, b(ids).logits
    pa, pb = torch.log_softmax(la, -1), torch.log_softmax(lb, -1)
    kl = (pa.exp() * (pa - pb)).sum(-1).mean().item()
    assert kl < 1e-5
    assert (la.argmax(-1) == lb.argmax(-1)).float().mean().item() >= 0.99
    assert ((la - lb).abs().max() / la.abs().max()).item() < 0.02


def test_another_architecture_is_not_a_copy(models: dict[str, Path], tmp_path: Path) -> None:
    wider = tiny_llama(tmp_path / "wider", hidden=96)
    with pytest.raises(NotACopy, match="not a copy of this model"):
        trace(models["orig"], wider, keys("alice"))
    shallower = tiny_llama(tmp_path / "shallow", layers=2)
    with pytest.raises(NotACopy, match="not a copy of this model"):
        trace(models["orig"], shallower, keys("alice"))
    unrelated = tiny_llama(tmp_path / "unrelated", seed=5)
    with pytest.raises(NotACopy, match="not a copy of this model"):
        trace(models["orig"], unrelated, keys("alice"))


def test_bad_inputs_are_openward_errors(models: dict[str, Path], tmp_path: Path) -> None:
    text = tmp_path / "notes.safetensors"
    text.write_text("not weights at all")
    assert not is_markable(text)
    assert not is_markable(models["orig"] / "config.json")
    assert not is_markable(tmp_path / "missing.safetensors")
    with pytest.raises(WatermarkError, match="not a readable safetensors"):
        list(marked_chunks(text, b"k"))
    src = models["orig"] / "model.safetensors"
    truncated = tmp_path / "cut" / "model.safetensors"
    truncated.parent.mkdir()
    truncated.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.raises(WatermarkError, match="not a loadable safetensors"):
        list(marked_chunks(truncated, b"k"))
    with pytest.raises(WatermarkError):
        trace(truncated.parent, models["alice"], keys("alice"))
    with pytest.raises(OpenwardError):
        trace(models["orig"], truncated.parent, keys("alice"))
    with pytest.raises(WatermarkError, match="empty"):
        list(marked_chunks(src, b""))
    with pytest.raises(WatermarkError, match="chunk_size"):
        list(marked_chunks(src, b"k", chunk_size=0))
    with pytest.raises(WatermarkError, match="non-empty bytes"):
        trace(models["orig"], models["alice"], {"alice": b""})
    with pytest.raises(WatermarkError, match="no such file"):
        trace(models["orig"], tmp_path / "nowhere", keys("alice"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(WatermarkError, match="original must be safetensors"):
        trace(tmp_path / "empty", models["alice"], keys("alice"))
    with pytest.raises(WatermarkError, match="threshold"):
        trace(models["orig"], models["alice"], keys("alice"), threshold=0)
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "x").write_text("occupied")
    with pytest.raises(WatermarkError, match="not an empty folder"):
        mark_folder(models["orig"], dst, b"k")
    with pytest.raises(WatermarkError, match="not a folder"):
        mark_folder(src, tmp_path / "new", b"k")


def test_match_is_a_frozen_value() -> None:
    m = Match("alice", 7.0, 1e-9)
    with pytest.raises(AttributeError):
        m.z = 0.0  # type: ignore[misc]
