"""Every encoder x fusion pair runs forward and backward; fusion semantics on XOR."""
import pytest
import torch

from polymodal.encoders.base import Embedding
from polymodal.encoders.registry import ENCODERS
from polymodal.fusion.registry import FUSIONS, OPS
from polymodal.models.multimodal import ModelConfig, MultimodalModel

VOCAB = ["what", "is", "the", "shape", "of", "red", "object", "?"]
# Small configs per built-in encoder, so the full cross product stays fast.
TINY = {
    "cnn": {"dim": 16, "channels": [8, 8, 8], "image_size": 32},
    "vit": {"dim": 16, "image_size": 32, "patch_size": 8, "layers": 1, "heads": 2},
    "transformer": {"vocab": VOCAB, "dim": 16, "layers": 1, "heads": 2},
    "logmel": {"dim": 16, "layers": 1, "heads": 2, "n_mels": 16},
    "speech-reader": {"audio": {"dim": 16, "layers": 1, "heads": 2, "n_mels": 16}, "dim": 16, "slots": 4,
                      "width": 16, "layers": 1, "heads": 2, "train_audio": True},
    "table": {"numbers": [["width", 2.0, 0.5], ["height", 1.0, 2.0]], "categories": [["kind", ["box", "ball"]]],
              "dim": 16},
    "frames": {"temporal": "hybrid", "frames": 4, "dim": 16, "channels": [8, 8], "image_size": 32, "layers": 1,
               "heads": 2},
}
MODALITY_OF = {"transformer": "text", "hf-text": "text", "logmel": "audio", "table": "table", "frames": "video"}
BUILTIN = {"image": ["cnn", "vit", "hf-image"], "text": ["transformer"], "audio": ["logmel", "speech-reader"]}


def tiny_inputs(model, n=3):
    import numpy as np
    values = {"image": [np.full((32, 32, 3), 40 * i, np.uint8) for i in range(n)],
              "text": ["what is the shape of the red object ?", "red object", "shape"][:n],
              "audio": [(np.sin(np.arange(1600 * (i + 1)) * 0.3).astype("float32"), 16000) for i in range(n)],
              "table": [{"width": 2.5, "height": "", "kind": "ball"}, {"width": "1", "height": 3, "kind": "cube"},
                        {"kind": "box"}][:n],
              "video": [np.full((4 + i, 32, 32, 3), 60 * i, np.uint8) for i in range(n)]}
    return model.preprocess({m: values[m] for m in model.modalities})


def test_registry_lists_every_strategy():
    # every registered encoder is exercised below (minilm is hf-text over shipped weights)
    assert set(ENCODERS.names()) == set(TINY) | {"hf-image", "hf-audio", "hf-text", "minilm"}
    assert {"early:feature", "early:token", "late:mean", "late:weighted", "late:gate", "hybrid:cross-attention",
            "hybrid:film", "hybrid:relation", "hybrid:bottleneck"} <= set(FUSIONS.names())
    assert {"concat", "sum", "gmu", "tfn", "lmf"} <= set(OPS.names())
    assert set(TINY) <= set(ENCODERS.names())


@pytest.mark.parametrize("fusion", FUSIONS.names())
@pytest.mark.parametrize("image_encoder", BUILTIN["image"])
@pytest.mark.parametrize("other", ["transformer", "hf-text", "logmel", "table", "frames"])
def test_encoder_fusion_forward_backward(fusion, image_encoder, other, tiny_bert_dir, tiny_vit_dir):
    second = MODALITY_OF[other]
    other_config = {"path": tiny_bert_dir, "tune": "full"} if other == "hf-text" else TINY[other]
    image_config = {"path": tiny_vit_dir, "tune": "full", "dim": 16} if image_encoder == "hf-image" else \
        TINY[image_encoder]
    fusion_config = {"query": second} if fusion.split(":")[0] == "hybrid" and fusion != "hybrid:bottleneck" else {}
    cfg = ModelConfig(encoders={"image": {"name": image_encoder, "config": image_config},
                                second: {"name": other, "config": other_config}},
                      fusion=fusion, fusion_config=fusion_config, labels=["a", "b", "c"], hidden=16)
    torch.manual_seed(0)
    model = MultimodalModel(cfg).train()
    logits = model(tiny_inputs(model))
    assert logits.shape == (3, 3)
    logits.logsumexp(-1).sum().backward()
    for name, p in [*model.fusion.named_parameters(), *model.head.named_parameters()]:
        assert p.grad is not None, f"fusion/head parameter {name} got no gradient"
    for modality, encoder in model.encoders.items():   # an encoder's pooled output may go unused
        assert any(p.grad is not None for p in encoder.parameters()), f"no gradient reached the {modality} encoder"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("op", OPS.names())
def test_operators_merge_three_modalities(op):
    module = OPS.build(op, [4, 6, 8], 5)
    out = module([torch.randn(2, 4), torch.randn(2, 6), torch.randn(2, 8)])
    assert out.shape == (2, 5) and torch.isfinite(out).all()


# --- XOR: a visible only in "image", b only in "text", label = a XOR b -------------------
def xor_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randint(0, 2, (n,), generator=g), torch.randint(0, 2, (n,), generator=g)

    def tokens(bit):    # 4 tokens of 8 features; the bit is spread over one feature, plus noise
        x = torch.randn(n, 4, 8, generator=g) * 0.1
        x[:, :, 0] += (bit.float() * 2 - 1).unsqueeze(1)
        return Embedding(x, torch.ones(n, 4, dtype=torch.bool), x.mean(1))
    return {"image": tokens(a), "text": tokens(b)}, a ^ b


# Small knobs: the test is about what each strategy can express, not its capacity.
XOR_KNOBS = {"hybrid:relation": {"hidden": 32}, "early:token": {"dim": 32, "layers": 1},
             "hybrid:cross-attention": {"dim": 32, "layers": 1},
             "hybrid:bottleneck": {"dim": 32, "layers": 2, "fusion_layer": 1}}


def xor_accuracy(fusion: str) -> float:
    torch.manual_seed(0)
    fuse = FUSIONS.build(fusion, {"image": 8, "text": 8}, 32, **XOR_KNOBS.get(fusion, {}))
    head = torch.nn.Linear(32, 2)
    opt = torch.optim.Adam([*fuse.parameters(), *head.parameters()], lr=3e-3)
    train, y = xor_data(512, seed=1)
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(head(fuse(train)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    test, y_test = xor_data(512, seed=2)
    with torch.no_grad():
        return (head(fuse(test)).argmax(-1) == y_test).float().mean().item()


def test_late_fusion_cannot_learn_xor():
    # Summed per-modality logits are additive in a and b: no additive function is XOR.
    assert xor_accuracy("late:mean") < 0.65


@pytest.mark.parametrize("fusion", ["early:feature", "early:token", "hybrid:cross-attention", "hybrid:film",
                                    "hybrid:bottleneck", "hybrid:relation"])
def test_early_and_hybrid_fusion_learn_xor(fusion):
    assert xor_accuracy(fusion) > 0.95


def test_late_fusion_answers_with_a_modality_missing():
    fuse = FUSIONS.build("late:gate", {"image": 8, "text": 8}, 4)
    data, _ = xor_data(5, seed=3)
    assert fuse({"image": data["image"]}).shape == (5, 4)


@pytest.mark.parametrize("fusion", ["hybrid:cross-attention", "hybrid:relation"])
def test_sharing_one_image_among_questions_equals_copying_it(fusion):
    torch.manual_seed(0)
    fuse = FUSIONS.build(fusion, {"image": 8, "text": 8}, 4).eval()
    images = Embedding(torch.randn(3, 5, 8), torch.ones(3, 5, dtype=torch.bool), torch.randn(3, 8))
    mask = torch.ones(7, 4, dtype=torch.bool)
    mask[2, 3:] = False                       # one padded question
    text = Embedding(torch.randn(7, 4, 8), mask, torch.randn(7, 8))
    index = torch.tensor([2, 0, 0, 1, 2, 2, 0])   # uneven, unsorted sharing
    shared = fuse({"image": images.shared(index), "text": text})
    copied = fuse({"image": images.shared(index).expanded(), "text": text})
    torch.testing.assert_close(shared, copied, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("op", OPS.names())
def test_operators_work_inside_bottleneck_fusion(op):
    fuse = FUSIONS.build("hybrid:bottleneck", {"image": 8, "text": 8}, 4, dim=16, layers=2, fusion_layer=1, op=op)
    data, _ = xor_data(3, seed=4)
    out = fuse(data)
    out.sum().backward()
    assert out.shape == (3, 4) and all(p.grad is not None for p in fuse.merge.parameters())


def test_bottleneck_refuses_a_fusion_layer_past_the_last_layer():
    from polymodal.core.errors import ConfigError
    with pytest.raises(ConfigError, match="fusion_layer"):
        FUSIONS.build("hybrid:bottleneck", {"image": 8, "text": 8}, 4, layers=2, fusion_layer=2)


def test_text_transformer_flatten_pooling_keeps_word_positions_and_ignores_padding():
    enc = ENCODERS.build("transformer", vocab=["red", "square", "circle", "left"], dim=16, layers=1, heads=2,
                         max_length=8, pooling="flatten").eval()
    one = enc(enc.processor(["red square left"])).pooled
    padded = enc(enc.processor(["red square left", "red square left circle circle"])).pooled[0]
    assert torch.allclose(one[0], padded, atol=1e-5)                 # batch padding changes nothing
    swapped = enc(enc.processor(["square red left"])).pooled[0]
    assert not torch.allclose(one[0], swapped, atol=1e-3)
    with pytest.raises(Exception, match="pooling"):
        ENCODERS.build("transformer", vocab=["red"], pooling="max")
