"""``inspect`` on the files people actually ship, made here with the real libraries:
legacy (pre-1.6) torch files, TorchScript, ``.pth.tar`` training checkpoints, whole
pickled modules, BatchNorm networks, ONNX exports, and folders holding several models.
Each count is checked against ``sum(p.numel() for p in model.parameters())`` of the
live model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from openward.facts.model import inspect_model

torch = pytest.importorskip("torch")
nn = torch.nn


def _live(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def _buffers(model: Any) -> int:
    return sum(b.numel() for b in model.buffers())


class ResNetLike(nn.Module):  # type: ignore[misc]
    """Convolutions, BatchNorm (running statistics and a counter as buffers), a head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()
        )
        self.layer2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2), nn.BatchNorm2d(16), nn.ReLU())
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layer2(self.layer1(self.bn1(self.conv1(x)))).mean((2, 3)))


class TinyLM(nn.Module):  # type: ignore[misc]
    """Embedding, LayerNorm, an MLP with a bias-free layer, a top-level inv_freq buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.ln = nn.LayerNorm(16)
        self.mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16, bias=False))
        self.head = nn.Linear(16, 50)
        self.register_buffer("inv_freq", torch.ones(8))

    def forward(self, x: Any) -> Any:
        return self.head(self.mlp(self.ln(self.emb(x)))) * 2.0 + self.inv_freq.sum()


@pytest.fixture(scope="module")
def resnet() -> Any:
    torch.manual_seed(0)
    model = ResNetLike()
    model(torch.randn(2, 3, 16, 16))  # train-mode step: running statistics move
    return model.eval()


def _count(path: Path) -> tuple[int, dict[str, int]]:
    facts = inspect_model(path)
    assert facts.parameters is not None, facts.findings
    assert not [f for f in facts.findings if f.id == "weights-header"], facts.findings
    return facts.parameters.total, facts.parameters.excluded


def test_batchnorm_statistics_are_buffers(resnet: Any, tmp_path: Path) -> None:
    torch.save(resnet.state_dict(), tmp_path / "resnet.pt")
    total, excluded = _count(tmp_path / "resnet.pt")
    assert total == _live(resnet)
    assert excluded["buffer"] == _buffers(resnet)  # running_mean, running_var, counters


@pytest.mark.parametrize("whole", [False, True], ids=["state-dict", "whole-module"])
def test_legacy_torch_save(resnet: Any, tmp_path: Path, whole: bool) -> None:
    path = tmp_path / "legacy.pth"
    torch.save(resnet if whole else resnet.state_dict(), path,
               _use_new_zipfile_serialization=False)  # fmt: skip
    assert path.read_bytes()[:2] == b"\x80\x02"  # really the pre-1.6 format, not a zip
    total, excluded = _count(path)
    assert total == _live(resnet)
    assert excluded["buffer"] == _buffers(resnet)


def test_whole_pickled_module_uses_its_parameter_and_buffer_dicts(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyLM()
    model.register_buffer("table", torch.zeros(7))  # a buffer no name rule knows
    torch.save(model, tmp_path / "model.pt")
    facts = inspect_model(tmp_path / "model.pt")
    assert facts.parameters is not None
    assert facts.parameters.total == _live(model)
    assert facts.parameters.excluded == {"buffer": _buffers(model)}


@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_keeps_module_paths_and_declared_roles(
    resnet: Any, tmp_path: Path, how: str
) -> None:
    module = (
        torch.jit.script(resnet)
        if how == "script"
        else torch.jit.trace(resnet, torch.zeros(1, 3, 16, 16))
    )
    module.save(str(tmp_path / "model.jit"))
    facts = inspect_model(tmp_path)  # a folder: .jit is recognised as weights
    pc = facts.parameters
    assert pc is not None
    assert pc.total == _live(resnet)
    assert pc.tensors == len(list(resnet.parameters()))  # none lost to duplicate names
    assert pc.excluded == {"buffer": _buffers(resnet)}
    from openward.facts.tensors import read_weight_file

    wf = read_weight_file(tmp_path / "model.jit", "model.jit")
    assert wf is not None
    names = {t.name for t in wf.tensors if t.role == "parameter"}
    assert names == {n for n, _ in resnet.named_parameters()}


def test_torchscript_attribute_tensors_are_not_parameters(tmp_path: Path) -> None:
    class WithConstant(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.lookup = torch.arange(12.0)  # a plain attribute: neither parameter nor buffer

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x) + self.lookup[:4]

    model = WithConstant()
    torch.jit.script(model).save(str(tmp_path / "m.pt"))
    total, excluded = _count(tmp_path / "m.pt")
    assert total == _live(model)
    assert excluded == {"constant": 12}


def test_pth_tar_training_checkpoint_in_a_folder(resnet: Any, tmp_path: Path) -> None:
    """The ImageNet-example checkpoint: state_dict beside the optimizer's state."""
    optimizer = torch.optim.SGD(resnet.parameters(), lr=0.1, momentum=0.9)
    resnet.train()
    resnet(torch.randn(2, 3, 16, 16)).sum().backward()
    optimizer.step()
    resnet.eval()
    torch.save(
        {"epoch": 3, "arch": "resnet", "state_dict": resnet.state_dict(),
         "optimizer": optimizer.state_dict(), "best_acc1": 0.5},
        tmp_path / "checkpoint.pth.tar",
    )  # fmt: skip
    (tmp_path / "README.md").write_text("A checkpoint.\n")
    facts = inspect_model(tmp_path)
    assert [f.role for f in facts.files if f.path == "checkpoint.pth.tar"] == ["weights"]
    assert facts.parameters is not None
    assert facts.parameters.total == _live(resnet)  # momentum buffers are not counted


def test_two_unrelated_models_in_one_folder(resnet: Any, tmp_path: Path) -> None:
    torch.manual_seed(0)
    lm = TinyLM()
    torch.save(resnet.state_dict(), tmp_path / "detector.pth")
    torch.save(lm.state_dict(), tmp_path / "recognizer.pth")
    # A copy of the detector at another precision is not a third model.
    torch.save(resnet.half().state_dict(), tmp_path / "detector_fp16.pth")
    resnet.float()
    facts = inspect_model(tmp_path)
    assert facts.parameters is not None
    assert {(m.name, m.parameters) for m in facts.models} == {
        ("detector.pth", _live(resnet)),
        ("recognizer.pth", _live(lm)),
    }
    assert facts.parameters.total == _live(resnet) + _live(lm)
    detector = next(m for m in facts.models if m.name == "detector.pth")
    assert detector.copies == 1


def test_a_sharded_model_with_an_index_is_one_model(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(tmp_path, max_shard_size="100KB")
    assert len(list(tmp_path.glob("*.safetensors"))) > 2
    facts = inspect_model(tmp_path)
    assert len(facts.models) == 1
    assert facts.parameters is not None and facts.parameters.total == _live(model)


# -- ONNX ------------------------------------------------------------------------------


def _export(model: Any, args: tuple[Any, ...], path: Path, **kwargs: Any) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(path), **kwargs)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript-exporter", "dynamo"])
def test_onnx_export_of_a_language_model(tmp_path: Path, dynamo: bool) -> None:
    pytest.importorskip("onnx")
    if dynamo:
        pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    model = TinyLM().eval()
    path = tmp_path / "lm.onnx"
    _export(model, (torch.zeros(1, 5, dtype=torch.long),), path, dynamo=dynamo)
    total, _ = _count(path)
    assert total == _live(model)


def test_onnx_export_keeps_batchnorm_statistics_apart(resnet: Any, tmp_path: Path) -> None:
    """Exported without folding, BatchNormalization reads its statistics from
    initializers: they feed its mean and variance inputs, so they are buffers."""
    pytest.importorskip("onnx")
    path = tmp_path / "resnet.onnx"
    _export(resnet, (torch.zeros(1, 3, 16, 16),), path, dynamo=False,
            training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)  # fmt: skip
    total, excluded = _count(path)
    assert total == _live(resnet)
    stats = sum(b.numel() for n, b in resnet.named_buffers() if "running" in n)
    assert excluded["buffer"] == stats


def test_onnx_weights_in_constants_subgraphs_functions_and_quantized_form(tmp_path: Path) -> None:
    """Weights where exporters put them besides the main graph's initializers: Constant
    nodes, If/Loop bodies, a model-local function, sparse initializers, int8 weights
    behind DequantizeLinear and 4-bit MatMulNBits; and tensors that are not weights:
    shape constants, scalars, BatchNorm statistics, quantization scales."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    def arr(shape: tuple[int, ...], dtype: Any = np.float32) -> Any:
        return np.zeros(shape, dtype=dtype)

    def const(out: str, value: Any) -> Any:
        return helper.make_node("Constant", [], [out], value=numpy_helper.from_array(value))

    weights = 0

    def w(name: str, shape: tuple[int, ...]) -> Any:
        nonlocal weights
        weights += int(np.prod(shape))
        return numpy_helper.from_array(arr(shape), name)

    def branch(name: str) -> Any:
        return helper.make_graph(
            [helper.make_node("MatMul", ["x", name], [name + ".out"])], "branch", [],
            [helper.make_tensor_value_info(name + ".out", TensorProto.FLOAT, None)],
            [w(name, (8, 8))],
        )  # fmt: skip

    weights += 8 * 3  # the Loop body's Constant weight
    loop_body = helper.make_graph(
        [const("body_w", arr((8, 3))), helper.make_node("MatMul", ["x", "body_w"], ["l"])],
        "body", [], [helper.make_tensor_value_info("l", TensorProto.FLOAT, None)],
    )  # fmt: skip
    weights += 4 * 4  # the function's Constant weight
    function = helper.make_function(
        "local", "Proj", ["a"], ["b"],
        [const("fw", arr((4, 4))), helper.make_node("MatMul", ["a", "fw"], ["b"])],
        [helper.make_opsetid("", 17)],
    )  # fmt: skip
    weights += 16 * 8 + 8 * 8  # the Constant weight and the int8 weight
    weights += 32 * 64  # MatMulNBits: N x K logical elements
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(arr((3,)), "sparse.w"),
        numpy_helper.from_array(np.array([0, 5, 9], dtype=np.int64), "sparse.w_idx"),
        [4, 4],
    )
    weights += 16
    nodes = [
        const("const_w", arr((16, 8))),  # a weight held in a Constant node
        helper.make_node("MatMul", ["x", "const_w"], ["h0"]),
        const("shape", np.array([1, -1], dtype=np.int64)),  # a shape, not a weight
        helper.make_node("Reshape", ["h0", "shape"], ["h1"]),
        const("half", np.array(0.5, dtype=np.float32)),  # a scalar folded by the exporter
        helper.make_node("Mul", ["h1", "half"], ["h2"]),
        const("scales", np.array([1, 1, 2, 2], dtype=np.float32)),  # Resize scales
        helper.make_node("Resize", ["h2", "", "scales"], ["h3"]),
        helper.make_node(
            "BatchNormalization",
            ["h3", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
            ["h4"],
        ),
        helper.make_node("DequantizeLinear", ["q.w", "q.scale", "q.zp"], ["q.deq"]),
        helper.make_node("MatMul", ["h4", "q.deq"], ["h5"]),
        helper.make_node(
            "MatMulNBits",
            ["h5", "nb.w", "nb.scales"],
            ["h6"],
            domain="com.microsoft",
            K=64,
            N=32,
            bits=4,
            block_size=32,
        ),
        helper.make_node(
            "If", ["cond"], ["h7"], then_branch=branch("then.w"), else_branch=branch("else.w")
        ),
        helper.make_node("Loop", ["", "cond"], ["h8"], body=loop_body),
        helper.make_node("Proj", ["h8"], ["y"], domain="local"),
    ]
    initializers = [
        w("bn.weight", (8,)), w("bn.bias", (8,)),
        numpy_helper.from_array(arr((8,)), "bn.running_mean"),
        numpy_helper.from_array(arr((8,)), "bn.running_var"),
        numpy_helper.from_array(arr((8, 8), np.int8), "q.w"),
        numpy_helper.from_array(arr(()), "q.scale"),
        numpy_helper.from_array(arr((), np.int8), "q.zp"),
        numpy_helper.from_array(arr((32, 2, 16), np.uint8), "nb.w"),
        numpy_helper.from_array(arr((64,)), "nb.scales"),
    ]  # fmt: skip
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers,
        sparse_initializer=[sparse],
    )  # fmt: skip
    model = helper.make_model(
        graph, functions=[function],
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1),
                       helper.make_opsetid("com.microsoft", 1)],
    )  # fmt: skip
    onnx.save(model, tmp_path / "model.onnx")
    total, excluded = _count(tmp_path / "model.onnx")
    assert total == weights
    assert excluded == {"buffer": 16, "constant": 2 + 1 + 4, "quantization": 1 + 1 + 64}


def test_an_onnx_folder_of_independent_models_and_variants(tmp_path: Path) -> None:
    """rapidocr-style: detection, recognition and classification models side by side,
    with a half-precision variant of one of them."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    def save(name: str, shape: tuple[int, int], dtype: Any = np.float32) -> int:
        weight = numpy_helper.from_array(np.zeros(shape, dtype=dtype), "fc.weight")
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["x", "fc.weight"], ["y"])], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight],
        )  # fmt: skip
        onnx.save(helper.make_model(graph), tmp_path / name)
        return shape[0] * shape[1]

    det, rec, cls = save("det.onnx", (8, 8)), save("rec.onnx", (8, 4)), save("cls.onnx", (2, 8))
    save("det_fp16.onnx", (8, 8), np.float16)
    facts = inspect_model(tmp_path)
    assert sorted((m.name, m.parameters) for m in facts.models) == [
        ("cls.onnx", cls), ("det.onnx", det), ("rec.onnx", rec),
    ]  # fmt: skip
    assert facts.parameters is not None and facts.parameters.total == det + rec + cls


def test_a_copy_in_another_format_is_not_a_second_model(resnet: Any, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file(resnet.state_dict(), tmp_path / "model.safetensors")
    torch.save(resnet.state_dict(), tmp_path / "pytorch_model.bin")
    shutil.copy(tmp_path / "pytorch_model.bin", tmp_path / "old_checkpoint.pt")
    facts = inspect_model(tmp_path)
    assert len(facts.models) == 1
    assert facts.models[0].copies == 2
    assert facts.parameters is not None and facts.parameters.total == _live(resnet)


def test_keras_h5_model_and_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole model saved as legacy HDF5 and Keras 3's ``.weights.h5``: the
    BatchNormalization moving statistics are not trainable parameters."""
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16), keras.layers.BatchNormalization(),
         keras.layers.Dense(3)]
    )  # fmt: skip
    model.save(tmp_path / "model.h5")
    model.save_weights(tmp_path / "model.weights.h5")
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    moving = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    for name in ("model.h5", "model.weights.h5"):
        total, excluded = _count(tmp_path / name)
        assert total == trainable, name
        assert excluded == {"buffer": moving}, name


def test_lightning_checkpoint_counts_its_state_dict_only(resnet: Any, tmp_path: Path) -> None:
    """PyTorch Lightning's layout: optimizer states in a list (their keys lose the
    ``optimizer`` prefix), callbacks holding tensors, an EMA copy of the weights."""
    optimizer = torch.optim.Adam(resnet.parameters())
    resnet.train()
    resnet(torch.randn(2, 3, 16, 16)).sum().backward()
    optimizer.step()
    resnet.eval()
    torch.save(
        {"epoch": 1, "global_step": 10, "state_dict": resnet.state_dict(),
         "optimizer_states": [optimizer.state_dict()],
         "callbacks": {"ModelCheckpoint": {"best_model_score": torch.tensor(0.5)}},
         "state_dict_ema": resnet.state_dict()},
        tmp_path / "last.ckpt",
    )  # fmt: skip
    total, _ = _count(tmp_path / "last.ckpt")
    assert total == _live(resnet)


def test_pipeline_components_in_folders_are_separate_models(tmp_path: Path) -> None:
    """diffusers names every component's weights the same; each folder is a model."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    parts = {"unet": ResNetLike(), "text_encoder": TinyLM()}
    for folder, model in parts.items():
        (tmp_path / folder).mkdir()
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, tmp_path / folder / "diffusion_pytorch_model.safetensors")
        half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        save_file(half, tmp_path / folder / "diffusion_pytorch_model.fp16.safetensors")
    (tmp_path / "model_index.json").write_text("{}")
    facts = inspect_model(tmp_path)
    assert sorted(m.parameters for m in facts.models) == sorted(map(_live, parts.values()))
    assert all(m.copies == 1 for m in facts.models)
    assert facts.parameters is not None
    assert facts.parameters.total == sum(map(_live, parts.values()))
