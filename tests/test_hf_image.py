"""hf-image: tiny random vision backbones of real families, written to tmp and read through
the real loading path; the frozen tower's embedding cache; fusion models trained on them."""
import json

import numpy as np
import pytest
import torch
from hf_tiny import build_clip, build_vision_backbone

from polymodal.core.errors import ConfigError, ModelNotFoundError
from polymodal.encoders import embedding_cache
from polymodal.encoders.registry import ENCODERS, encoder_spec
from polymodal.training import run as training_run

FAMILIES = ["vit", "dinov2", "convnext", "resnet", "siglip", "clip"]
IMAGES = [np.random.default_rng(i).integers(0, 255, (40, 50, 3), dtype=np.uint8) for i in range(3)]


@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    root = tmp_path_factory.mktemp("vision")
    return {f: str(build_clip(root / f) if f == "clip" else build_vision_backbone(root / f, f)) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_gives_tokens_and_pooled_and_a_frozen_tower_is_not_saved(backbones, family):
    enc = ENCODERS.build("hf-image", path=backbones[family])
    batch = enc.processor(IMAGES)
    out = enc(batch)
    assert out.tokens.shape[0] == 3 and out.tokens.shape[-1] == enc.dim and out.pooled.shape == (3, enc.dim)
    assert out.mask.all() and not out.tokens.requires_grad
    assert enc.state_dict() == {} and list(enc.parameters()) == []
    direct_tokens, _, direct_pooled = enc.run(enc.tower, batch)       # the tower itself, no cache
    assert torch.equal(out.tokens, direct_tokens) and torch.equal(out.pooled, direct_pooled)
    enc.train()
    assert not enc.tower.training                                     # stays in eval: no dropout


def test_the_cache_runs_each_distinct_image_once_and_gives_the_same_embeddings(backbones):
    enc = ENCODERS.build("hf-image", path=backbones["vit"])
    images = [np.full((32, 32, 3), v, np.uint8) for v in (11, 22, 33)]      # in no other test
    misses, hits = enc.cache.misses, enc.cache.hits
    first = enc(enc.processor(images + images[:1]))
    assert enc.cache.misses - misses == 3
    second = enc(enc.processor(images[::-1]))
    assert enc.cache.misses - misses == 3 and enc.cache.hits - hits >= 3
    assert torch.equal(second.tokens, first.tokens[:3].flip(0)) and torch.equal(second.pooled, first.pooled[:3].flip(0))


def test_the_disk_cache_serves_a_later_process(backbones, monkeypatch):
    enc = ENCODERS.build("hf-image", path=backbones["dinov2"])
    images = [np.full((32, 32, 3), v, np.uint8) for v in (44, 55)]
    first = enc(enc.processor(images))
    assert enc.cache.folder is not None and any(enc.cache.folder.rglob("*.safetensors"))
    monkeypatch.setattr(embedding_cache, "_caches", {})                   # as a new process finds it
    again = ENCODERS.build("hf-image", path=backbones["dinov2"])
    second = again(again.processor(images))
    assert again.cache.misses == 0 and again.cache.hits == 2
    assert torch.equal(first.tokens, second.tokens) and torch.equal(first.pooled, second.pooled)


def test_another_checkpoint_never_reads_the_cache_of_one(backbones, tmp_path):
    other = build_vision_backbone(tmp_path / "vit-other", "vit")
    config = json.loads((other / "config.json").read_text())
    assert config["model_type"] == "vit"
    import safetensors.torch as st
    weights = st.load_file(str(other / "model.safetensors"))
    st.save_file({k: v + 0.01 for k, v in weights.items()}, str(other / "model.safetensors"))
    a = ENCODERS.build("hf-image", path=backbones["vit"])
    b = ENCODERS.build("hf-image", path=str(other))
    assert a.cache is not b.cache
    assert not torch.equal(a(a.processor(IMAGES[:1])).pooled, b(b.processor(IMAGES[:1])).pooled)


def test_tuned_in_full_the_tower_learns_and_is_saved(backbones):
    enc = ENCODERS.build("hf-image", path=backbones["convnext"], tune="full", dim=8).train()
    assert enc.dim == 8 and any(k.startswith("model.") for k in enc.state_dict())
    enc(enc.processor(IMAGES)).pooled.pow(2).sum().backward()
    assert all(p.grad is not None for p in enc.tower.parameters() if p.requires_grad)


def test_bad_folders_and_options_are_one_line(tmp_path, backbones):
    with pytest.raises(ModelNotFoundError, match="no such image model folder"):
        ENCODERS.build("hf-image", path=str(tmp_path / "nope"))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("not a model")
    with pytest.raises(ModelNotFoundError, match="not a Hugging Face model folder"):
        ENCODERS.build("hf-image", path=str(tmp_path / "junk"))
    with pytest.raises(ModelNotFoundError, match="not in the local Hugging Face cache"):
        ENCODERS.build("hf-image", path="hf:nobody/no-such-model")
    with pytest.raises(ConfigError, match="tune must be one of"):
        ENCODERS.build("hf-image", path=backbones["vit"], tune="half")


def test_what_a_user_names_becomes_an_encoder_spec(backbones):
    assert encoder_spec("cnn", "image") == {"name": "cnn", "config": {}}
    assert encoder_spec(backbones["vit"], "image", "full") == {"name": "hf-image",
                                                               "config": {"path": backbones["vit"], "tune": "full"}}
    assert encoder_spec("hf:org/model", "text")["name"] == "hf-text"
    with pytest.raises(ConfigError, match="not a registered encoder"):
        encoder_spec("no-such-thing", "image")


@pytest.mark.parametrize("tower, fusion", [("vit", "early:feature"), ("vit", "late:mean"),
                                           ("vit", "hybrid:cross-attention"), ("clip", "early:feature"),
                                           ("convnext", "late:mean")])
def test_a_fusion_model_on_pretrained_towers_learns_from_a_manifest(backbones, tiny_bert_dir, tower, fusion,
                                                                    tmp_path):
    from polymodal.cli.main import main
    data = tmp_path / "data"
    assert main(["data", "shapes", "--preset", "sort-of-clevr", "--split", "train", "--seed", "1", "--n", "24",
                 "--out", str(data)]) == 0
    recipe = {"task": "vqa", "data": {"spec": str(data / "manifest.jsonl")},
              "model": {"encoders": {"image": {"name": "hf-image", "config": {"path": backbones[tower], "dim": 16}},
                                     "text": {"name": "hf-text", "config": {"path": tiny_bert_dir, "dim": 16}}},
                        "fusion": fusion, "hidden": 32,
                        "fusion_config": {"query": "text"} if fusion.startswith("hybrid") else {}},
              "train": {"batch_size": 4, "epochs": 8, "lr": 3e-3, "warmup_steps": 2, "seed": 0}}
    training_run.run(recipe, tmp_path / "run")
    losses = [r["loss"] for r in json.loads((tmp_path / "run" / "metrics.json").read_text())["train"]]
    start, end = np.mean(losses[:3]), np.mean(losses[-6:])    # 6 steps an epoch, 48 in all
    assert end < 0.8 * start, (start, end)
    saved = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert saved["encoders"]["image"]["config"]["path"] == backbones[tower]


def test_lora_trains_only_its_adapters(backbones):
    pytest.importorskip("peft")
    enc = ENCODERS.build("hf-image", path=backbones["vit"], tune="lora", lora_rank=2).train()
    trainable = {n: p.numel() for n, p in enc.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    # rank 2 on the query and value projections of one 32-wide layer: 2 x (A 2x32 + B 32x2) = 256
    assert sum(trainable.values()) == 256
    before = {n: p.detach().clone() for n, p in enc.named_parameters()}
    optimiser = torch.optim.SGD([p for p in enc.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):      # B starts at zero, so A moves from the second step
        optimiser.zero_grad()
        enc(enc.processor(IMAGES)).pooled.pow(2).sum().backward()
        optimiser.step()
    changed = {n for n, p in enc.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= set(trainable)
    with pytest.raises(ConfigError, match="none of the LoRA targets"):
        ENCODERS.build("hf-image", path=backbones["convnext"], tune="lora")


def test_a_service_uses_the_cache_and_adds_nothing_to_it(backbones):
    from polymodal.server import ServerConfig, create_app
    enc = ENCODERS.build("hf-image", path=backbones["resnet"])
    known, new = [np.full((32, 32, 3), 66, np.uint8)], [np.full((32, 32, 3), 77, np.uint8)]
    enc(enc.processor(known))
    stored = len(enc.cache.memory), sorted(enc.cache.folder.rglob("*.safetensors"))
    create_app(ServerConfig())                             # the server's policy: keep nothing new
    hits = enc.cache.hits
    enc(enc.processor(known))
    enc(enc.processor(new))
    assert enc.cache.hits == hits + 1
    assert (len(enc.cache.memory), sorted(enc.cache.folder.rglob("*.safetensors"))) == stored
