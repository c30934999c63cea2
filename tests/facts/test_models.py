"""Parameter counts of real (tiny) models made with transformers, peft, torch and gguf,
checked against ``sum(p.numel())`` of the live model."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

from openward.facts.model import inspect_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _live_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def _tie(model: Any) -> None:
    """Tie the head to the input embeddings by hand. transformers ties them when it builds the
    model, but in one xdist worker of a full run (after the audit tests had loaded models
    in-process) a freshly built model came out untied; the cause was not found. These tests
    are about counting a tied checkpoint, so they make sure it is one."""
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    if head.weight is not embed.weight:
        head.weight = embed.weight


def _llama_config(**extra: Any) -> Any:
    base = dict(
        vocab_size=320, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        tie_word_embeddings=False,
    )  # fmt: skip
    base.update(extra)
    return transformers.LlamaConfig(**base)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(_llama_config())
    out = tmp_path_factory.mktemp("llama")
    model.save_pretrained(out, max_shard_size="100KB")
    (out / "README.md").write_text(
        "---\nlicense: apache-2.0\ndatasets: [org/corpus]\n---\n"
        "A tiny model trained on 2 billion tokens.\n"
    )
    return out, model


def test_sharded_llama_counts_exactly(tiny_llama: tuple[Path, Any]) -> None:
    path, model = tiny_llama
    assert len(list(path.glob("*.safetensors"))) > 1  # really sharded
    facts = inspect_model(path)
    pc = facts.parameters
    assert pc is not None
    assert pc.total == _live_count(model)
    assert pc.active == pc.total
    emb = model.model.embed_tokens.weight.numel() + model.lm_head.weight.numel()
    assert pc.embedding == emb
    assert pc.non_embedding == pc.total - emb
    assert pc.by_dtype == {"F32": pc.total}
    arch = facts.architecture
    assert arch is not None
    assert (arch.family, arch.layers, arch.hidden_size, arch.kv_heads) == ("llama", 3, 64, 2)
    assert facts.findings == []
    # Card: 2 billion tokens -> 6 N D with the card as the token source.
    assert facts.compute is not None
    assert facts.compute.flop == pytest.approx(6 * pc.total * 2e9)
    assert "model card text" in facts.compute.inputs[1].source


def test_missing_shard_and_layer_mismatch_are_findings(
    tiny_llama: tuple[Path, Any], tmp_path: Path
) -> None:
    import shutil

    path, _ = tiny_llama
    copy = tmp_path / "broken"
    shutil.copytree(path, copy)
    shards = sorted(copy.glob("model-*.safetensors"))
    shards[-1].unlink()
    config = json.loads((copy / "config.json").read_text())
    config["num_hidden_layers"] = 7
    (copy / "config.json").write_text(json.dumps(config))
    facts = inspect_model(copy)
    ids = {f.id for f in facts.findings}
    assert "shard-missing" in ids
    assert "layers-mismatch" in ids


def test_gpt2_tied_embeddings_counted_once(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_embd=64, n_layer=2, n_head=4, vocab_size=300, n_positions=128
    )
    model = transformers.GPT2LMHeadModel(config)
    _tie(model)
    model.save_pretrained(tmp_path)
    facts = inspect_model(tmp_path)
    assert facts.parameters is not None
    assert facts.parameters.total == _live_count(model)
    # wte and wpe are embeddings; the head is the same matrix as wte.
    assert facts.parameters.embedding == (
        model.transformer.wte.weight.numel() + model.transformer.wpe.weight.numel()
    )


def test_torch_bin_checkpoint_with_shared_storage(tmp_path: Path) -> None:
    """A pytorch_model.bin with a tied head: two names, one storage, counted once."""
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(_llama_config(tie_word_embeddings=True))
    _tie(model)
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    facts = inspect_model(tmp_path)
    assert facts.format == "torch"
    pc = facts.parameters
    assert pc is not None
    assert pc.total == _live_count(model)
    assert any("lm_head.weight" in t for t in pc.tied)


def test_mixtral_moe_active_parameters(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = transformers.MixtralConfig(
        vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, num_local_experts=4,
        num_experts_per_tok=2, max_position_embeddings=128, tie_word_embeddings=False,
    )  # fmt: skip
    model = transformers.MixtralForCausalLM(config)
    model.save_pretrained(tmp_path)
    facts = inspect_model(tmp_path, tokens=1e9)
    pc = facts.parameters
    assert pc is not None
    total = _live_count(model)
    expert = sum(p.numel() for n, p in model.named_parameters() if ".experts." in n)
    assert expert > 0
    assert pc.total == total
    assert pc.expert == expert
    assert pc.active == total - expert + expert * 2 // 4
    assert facts.compute is not None
    assert facts.compute.flop == pytest.approx(6 * pc.active * 1e9)
    assert facts.architecture is not None and facts.architecture.is_moe


def test_lora_adapter(tmp_path: Path, tiny_llama: tuple[Path, Any]) -> None:
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    base = transformers.LlamaForCausalLM(_llama_config())
    lora = peft.get_peft_model(
        base, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    )
    lora.save_pretrained(tmp_path)
    trainable = sum(p.numel() for p in lora.parameters() if p.requires_grad)
    facts = inspect_model(tmp_path, tokens=1e8)
    assert facts.adapter is not None
    assert facts.adapter.parameters == trainable
    assert facts.adapter.rank == 4
    assert sorted(facts.adapter.target_modules) == ["q_proj", "v_proj"]
    assert facts.parameters is None  # the base is not in the directory
    # The base (a local tiny model) has no published compute: nothing to add up.
    assert facts.compute is None
    assert "reference table" in (facts.compute_unavailable or "")
    tiers = {t.id: t for t in facts.tiers}
    assert tiers["eu-systemic-risk"].crossed is None


def test_adapter_on_a_known_base_uses_the_frozen_base(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "base_model_name_or_path": "meta-llama/Llama-3.1-8B",
                    "r": 16, "target_modules": ["q_proj"]})
    )  # fmt: skip
    from safetensors.torch import save_file

    save_file(
        {"base_model.model.layers.0.q_proj.lora_A.weight": torch.zeros(16, 4096)},
        tmp_path / "adapter_model.safetensors",
    )
    facts = inspect_model(tmp_path, tokens=1e9)
    assert facts.adapter is not None and facts.adapter.parameters == 16 * 4096
    assert facts.fine_tune_compute is not None
    assert facts.fine_tune_compute.method == "4ND"
    assert facts.fine_tune_compute.flop == pytest.approx(4 * 8e9 * 1e9)
    assert facts.base_compute is not None
    assert facts.base_compute.flop == pytest.approx(1.224e24)
    assert facts.compute is not None
    assert facts.compute.flop == pytest.approx(1.224e24 + 3.2e19)
    tiers = {t.id: t for t in facts.tiers}
    assert tiers["registration-proposal"].crossed is True  # inherited from the base
    modification = tiers["eu-gpai-significant-modification"]
    assert modification.threshold_flop == pytest.approx(1.224e24 / 3)
    assert modification.crossed is False
    # With the base's compute known, the fallbacks for an unknown base do not apply.
    assert tiers["eu-gpai-modification-fallback-gpai"].crossed is None
    assert tiers["eu-gpai-modification-fallback-gpai"].applied_to == "modification"


def test_full_fine_tune_card_names_its_base(tiny_llama: tuple[Path, Any], tmp_path: Path) -> None:
    import shutil

    path, model = tiny_llama
    copy = tmp_path / "ft"
    shutil.copytree(path, copy)
    # The card repeats the base's pretraining tokens: not the fine-tune's own.
    (copy / "README.md").write_text(
        "---\nbase_model: meta-llama/Meta-Llama-3-8B\n---\nThe base was trained on 15T tokens.\n"
    )
    facts = inspect_model(copy)
    assert facts.base_compute is not None
    assert facts.fine_tune_compute is None
    assert facts.compute is not None and facts.compute.flop == facts.base_compute.flop
    assert any("give --tokens" in n for n in facts.compute.notes)
    facts = inspect_model(copy, tokens=2e9)
    assert facts.fine_tune_compute is not None
    assert facts.fine_tune_compute.flop == pytest.approx(6 * _live_count(model) * 2e9)


def _gptq_like(model: Any, out: Path, bits: int = 4, group: int = 32) -> None:
    """The tensors a GPTQ checkpoint holds: int32 qweight packing 32/bits weights,
    qzeros, fp16 scales and g_idx per linear layer; the rest unchanged."""
    from safetensors.torch import save_file

    pack = 32 // bits
    tensors = {}
    for name, p in model.state_dict().items():
        is_linear = name.endswith("_proj.weight") and ".layers." in name
        if not is_linear:
            tensors[name] = p.contiguous()
            continue
        out_f, in_f = p.shape
        stem = name[: -len(".weight")]
        tensors[stem + ".qweight"] = torch.zeros(in_f // pack, out_f, dtype=torch.int32)
        tensors[stem + ".qzeros"] = torch.zeros(in_f // group, out_f // pack, dtype=torch.int32)
        tensors[stem + ".scales"] = torch.zeros(in_f // group, out_f, dtype=torch.float16)
        tensors[stem + ".g_idx"] = torch.zeros(in_f, dtype=torch.int32)
    save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})
    config = model.config.to_dict()
    config["quantization_config"] = {"quant_method": "gptq", "bits": bits, "group_size": group}
    (out / "config.json").write_text(json.dumps(config))


def test_gptq_quantized_keeps_the_logical_count(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(_llama_config())
    _gptq_like(model, tmp_path)
    facts = inspect_model(tmp_path)
    assert facts.quantization is not None and facts.quantization.method == "gptq"
    assert facts.parameters is not None
    assert facts.parameters.total == _live_count(model)
    assert facts.parameters.excluded.get("quantization", 0) > 0


def test_gguf_quantized_keeps_the_logical_count(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    import numpy as np

    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(_llama_config(hidden_size=64, intermediate_size=128))
    path = tmp_path / "tiny-q8_0.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_block_count(3)
    writer.add_embedding_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_context_length(256)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 3)
    for hf_name, p in model.state_dict().items():
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        assert name is not None, hf_name
        data = p.detach().numpy().astype(np.float32)
        if data.ndim == 2:
            q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    facts = inspect_model(path)
    assert facts.format == "gguf"
    assert facts.parameters is not None
    assert facts.parameters.total == _live_count(model)
    assert facts.quantization is not None and facts.quantization.detail["main_type"] == "Q8_0"
    assert facts.parameters.bytes < 4 * facts.parameters.total / 3  # packed, not F32
    assert facts.architecture is not None and facts.architecture.layers == 3


def test_onnx_and_npz_initializers(tmp_path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((16, 8), dtype=np.float32), "fc.weight")
    b = numpy_helper.from_array(np.zeros((8,), dtype=np.float32), "fc.bias")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [w, b],
    )
    onnx.save(helper.make_model(graph), tmp_path / "model.onnx")
    facts = inspect_model(tmp_path / "model.onnx")
    assert facts.format == "onnx"
    assert facts.parameters is not None and facts.parameters.total == 16 * 8 + 8
    npz = tmp_path / "weights.npz"
    np.savez_compressed(npz, a=np.zeros((3, 5), dtype=np.float16), b=np.zeros(7, dtype=np.int8))
    facts = inspect_model(npz)
    assert facts.parameters is not None
    assert facts.parameters.total == 22
    assert facts.parameters.by_dtype == {"F16": 15, "I8": 7}


def test_garbage_weights_are_findings_not_crashes(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", 10**12) + b"{}")
    (tmp_path / "config.json").write_text("{not json")
    facts = inspect_model(tmp_path)
    ids = {f.id for f in facts.findings}
    assert "weights-header" in ids and "json-unreadable" in ids


def test_bitsandbytes_4bit_and_awq_keep_the_logical_count(tmp_path: Path) -> None:
    """The tensors bitsandbytes (nf4) and AutoAWQ write, laid out by hand from the live
    model: packed weights plus their bookkeeping, which is not counted."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(_llama_config())
    live = _live_count(model)
    for method in ("bitsandbytes", "awq"):
        out = tmp_path / method
        out.mkdir()
        tensors = {}
        for name, p in model.state_dict().items():
            if not (name.endswith("_proj.weight") and ".layers." in name):
                tensors[name] = p.contiguous()
                continue
            out_f, in_f = p.shape
            stem = name[: -len(".weight")]
            if method == "bitsandbytes":
                tensors[name] = torch.zeros(out_f * in_f // 2, 1, dtype=torch.uint8)
                tensors[name + ".absmax"] = torch.zeros(out_f * in_f // 64)
                tensors[name + ".quant_map"] = torch.zeros(16)
                tensors[name + ".quant_state.bitsandbytes__nf4"] = torch.zeros(
                    90, dtype=torch.uint8
                )
            else:
                tensors[stem + ".qweight"] = torch.zeros(in_f, out_f // 8, dtype=torch.int32)
                tensors[stem + ".qzeros"] = torch.zeros(in_f // 32, out_f // 8, dtype=torch.int32)
                tensors[stem + ".scales"] = torch.zeros(in_f // 32, out_f, dtype=torch.float16)
        save_file(tensors, out / "model.safetensors")
        config = model.config.to_dict()
        config["quantization_config"] = (
            {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
            if method == "bitsandbytes"
            else {"quant_method": "awq", "bits": 4, "group_size": 32}
        )
        (out / "config.json").write_text(json.dumps(config))
        facts = inspect_model(out)
        assert facts.quantization is not None and facts.quantization.bits == 4, method
        assert facts.parameters is not None
        assert facts.parameters.total == live, method


def test_two_copies_of_the_weights_are_counted_once(
    tiny_llama: tuple[Path, Any], tmp_path: Path
) -> None:
    import shutil

    path, model = tiny_llama
    copy = tmp_path / "both"
    shutil.copytree(path, copy)
    torch.save(model.state_dict(), copy / "pytorch_model.bin")
    facts = inspect_model(copy)
    assert facts.format == "safetensors"
    assert facts.parameters is not None and facts.parameters.total == _live_count(model)
    assert [(w.format, w.parameters) for w in facts.weight_sets] == [
        ("safetensors", _live_count(model)),
        ("torch", _live_count(model)),
    ]
