"""int8 products through oneDNN with bf16 between them (hf/int8_linear.py,
`pm.load(..., precision="int8-bf16")`): the products within the quantization's error of the
float ones, only the layers the adapter names quantized, the outputs of the whole model near
fp32's, and a clear refusal where the CPU or the model cannot run it."""
import pytest
import torch
from hf_tiny import build_blip, build_clip, build_vilt, build_whisper
from torch import nn

import polymodal as pm
from polymodal.cli.main import main
from polymodal.core.errors import InputError
from polymodal.hf import int8_linear, native_clip
from polymodal.hf.int8_linear import Int8Linear, int8_products_available, quantized
from polymodal.hf.packed_linear import PackedLinear
from polymodal.inference import backend

needs_int8_bf16 = pytest.mark.skipif(not int8_products_available(),
                                     reason="this CPU's oneDNN has no bf16 products (precision int8-bf16 is refused)")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("int8")
    return {"blip": build_blip(root / "blip"), "whisper": build_whisper(root / "whisper"), "clip": build_clip(root / "clip"),
            "vilt": build_vilt(root / "vilt")}


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm())


def test_quantized_inputs_keep_zero_and_are_within_half_a_step():
    torch.manual_seed(0)
    rows = torch.randn(37, 24) * 3
    rows[0, 0] = 0.0
    before = rows.clone()
    levels, scale, zero = quantized(rows)
    assert torch.equal(rows, before)           # the input is left as it is
    assert levels.dtype == torch.uint8 and levels.shape == rows.shape
    back = scale * (levels.float() - zero)
    assert back[0, 0] == 0.0
    assert (back - rows).abs().max() <= scale / 2 + 1e-6
    positive = quantized(torch.rand(5, 8) + 1)[2]
    assert positive == 0                       # the range includes zero: all-positive rows start at level 0


def test_an_input_quantized_in_blocks_is_the_input_quantized_at_once(monkeypatch):
    torch.manual_seed(1)
    rows = torch.randn(50, 16).to(torch.bfloat16)
    whole = quantized(rows)
    monkeypatch.setattr(int8_linear, "BLOCK_BYTES", 4 * 16 * 3)        # three rows a block: 17 blocks
    blocks = quantized(rows)
    assert torch.equal(whole[0], blocks[0]) and whole[1:] == blocks[1:]


def test_an_input_of_zeros_gives_the_bias():
    linear = nn.Linear(16, 8)
    with torch.no_grad():
        out = Int8Linear.of(linear)(torch.zeros(3, 16))
    assert torch.isfinite(out).all() and torch.allclose(out, linear.bias.expand(3, 8), atol=1e-6)


def test_an_input_that_is_not_finite_is_refused_in_one_line():
    rows = torch.ones(3, 4)
    rows[1, 2] = float("inf")
    with pytest.raises(ValueError, match="not finite"):
        quantized(rows)


@pytest.mark.parametrize("bias", [True, False])
def test_int8_products_are_within_the_quantizations_error_of_fp32(bias):
    torch.manual_seed(0)
    linear = nn.Linear(64, 48, bias=bias)
    layer = Int8Linear.of(linear)
    # rows of several shapes, one a strided (not contiguous) view
    inputs = [torch.randn(*shape) for shape in [(8, 64), (3, 5, 64), (1, 64), (300, 64)]] + [torch.randn(6, 128)[:, ::2]]
    with torch.no_grad():
        pairs = [(layer(x), linear(x)) for x in inputs]
    assert all(out.shape == ref.shape and out.dtype == torch.float32 for out, ref in pairs)
    assert max(relative_error(out, ref) for out, ref in pairs) < 0.02
    assert "int8 products" in repr(layer)


def test_an_int8_product_applies_its_activation_as_it_writes():
    torch.manual_seed(0)
    linear = nn.Linear(64, 48)
    x = torch.randn(20, 64)
    with torch.no_grad():
        for activation, function in (("gelu", nn.functional.gelu), ("swish", nn.functional.silu)):
            layer = Int8Linear(linear.weight, linear.bias, activation)
            assert relative_error(layer(x), function(linear(x))) < 0.03
            assert f"{activation} fused" in repr(layer)
    with pytest.raises(ValueError, match="activation must be one of"):
        Int8Linear(linear.weight, linear.bias, "tanh")


@needs_int8_bf16
def test_int8_products_write_the_inputs_dtype():
    torch.manual_seed(0)
    linear = nn.Linear(64, 48)
    layer = Int8Linear.of(linear)
    x = torch.randn(4, 7, 64)
    with torch.no_grad():
        out = layer(x.to(torch.bfloat16))
        assert out.dtype == torch.bfloat16 and out.shape == (4, 7, 48)
        assert relative_error(out, linear(x)) < 0.03


def int8_layers(pipe) -> tuple[nn.Module, list[str]]:
    model = next(v for v in vars(pipe.pipeline).values() if isinstance(v, nn.Module)).model
    return model, [name for name, m in model.named_modules() if isinstance(m, Int8Linear)]


@needs_int8_bf16
def test_int8_bf16_quantizes_the_layers_the_adapter_names_and_captions(dirs):
    from polymodal.hf.vision import HFBlipCaptioner
    pipe = pm.load("caption", str(dirs["blip"]), precision="int8-bf16")
    model, names = int8_layers(pipe)
    adapter = HFBlipCaptioner.from_pretrained(dirs["blip"])
    assert len(names) == len(adapter.per_token_linears()) + len(adapter.encoder_linears())
    assert any(n.startswith("vision_model.") for n in names) and any(n.startswith("text_decoder.") for n in names)
    # the cross-attention's keys and values are folded into the queries (hf/fast_layers.py),
    # which reads their weights: they stay bf16 layers
    assert not any(n.endswith(("crossattention.self.key", "crossattention.self.value")) for n in names)
    assert model.vision_model.embeddings.patch_embedding.weight.dtype == torch.bfloat16
    scenes = [s.image for s in pm.data.shapes("shapes", "test", seed=2, n=3)]
    captions = pipe.batch(scenes, batch_size=3)
    assert len(captions) == 3 and all(isinstance(c.text, str) for c in captions)


@needs_int8_bf16
def test_int8_bf16_image_features_stay_near_fp32s(dirs):
    scenes = [s.image for s in pm.data.shapes("shapes", "test", seed=2, n=4)]
    fp32 = torch.as_tensor(pm.load("align", str(dirs["clip"])).embed_images(scenes))
    pipe = pm.load("align", str(dirs["clip"]), precision="int8-bf16")
    model, names = int8_layers(pipe)
    assert names and all(n.startswith("vision_model.") for n in names)     # the text tower runs once per label set
    assert isinstance(model, native_clip.NativeClip)
    # laid out as packing lays it out: the three projections one product, the activation fused
    layer = model.vision_model.encoder.layers[0]
    assert isinstance(layer.self_attn.qkv, Int8Linear) and layer.self_attn.q_proj is None
    assert layer.mlp.fused and layer.mlp.fc1.activation in ("swish", "gelu")
    assert isinstance(model.vision_model.embeddings.projection, PackedLinear)       # the patch projection: bf16
    int8 = torch.as_tensor(pipe.embed_images(scenes))
    assert torch.nn.functional.cosine_similarity(int8.float(), fp32.float()).min() > 0.98


@needs_int8_bf16
def test_int8_bf16_transcribes(dirs):
    from polymodal.modalities import Audio
    pipe = pm.load("transcribe", str(dirs["whisper"]), precision="int8-bf16")
    _, names = int8_layers(pipe)
    assert any(".encoder." in f".{n}" for n in names) and any(".decoder." in f".{n}" for n in names)
    audio = Audio(torch.randn(16000).numpy() * 0.1, 16000)
    assert len(pipe.batch([audio, audio], batch_size=2)) == 2


def test_int8_bf16_is_refused_where_it_cannot_run(dirs, monkeypatch):
    with pytest.raises(InputError, match="runs on a CPU"):
        pm.load("caption", str(dirs["blip"]), device="cuda", precision="int8-bf16")
    with pytest.raises(InputError, match="has none"):
        pm.load("speak", "espeak", precision="int8-bf16")
    # a CPU whose oneDNN has no bf16 products (AVX2 only): one line naming what to use instead
    monkeypatch.setattr(backend, "int8_products_available", lambda: False)
    with pytest.raises(InputError, match="use int8 or fp32"):
        pm.load("caption", str(dirs["blip"]), precision="int8-bf16")


def test_the_cli_takes_precision_int8_bf16_or_says_why_not(dirs, tmp_path, capsys, monkeypatch):
    from PIL import Image
    scene = pm.data.shapes("shapes", "test", seed=1, n=1)[0]
    Image.fromarray(scene.image).save(tmp_path / "a.png")
    monkeypatch.setattr(backend, "int8_products_available", lambda: False)
    capsys.readouterr()
    assert main(["caption", str(tmp_path / "a.png"), "--model", str(dirs["blip"]), "--precision", "int8-bf16"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "int8-bf16" in err and "Traceback" not in err


@needs_int8_bf16
def test_a_shipped_model_in_int8_bf16_answers_as_fp32_does():
    from polymodal.tasks import vqa
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:test", 3, 5)
    items = [(ex.image, q.text) for ex in examples for q in ex.questions]
    fp32 = [a.text for a in pm.load("vqa").batch(items)]
    pipe = pm.load("vqa", precision="int8-bf16")
    assert any(isinstance(m, Int8Linear) for m in pipe.pipeline.model.modules())
    # every linear layer of polymodal's own models (torch's encoder layers' too: their fused
    # kernel, which reads the weights, is not tried)
    assert not any(type(m) is nn.Linear for m in pipe.pipeline.model.modules())
    same = sum(a == b.text for a, b in zip(fp32, pipe.batch(items)))
    assert same >= 0.95 * len(items), (same, len(items))


@needs_int8_bf16
def test_an_adapter_that_names_no_layers_has_every_linear_layer_quantized(dirs):
    pipe = pm.load("vqa", str(dirs["vilt"]), precision="int8-bf16")
    model, names = int8_layers(pipe)
    assert names and not any(type(m) is nn.Linear for m in model.modules())
    scene = pm.data.shapes("shapes", "test", seed=1, n=1)[0]
    answers = pipe.batch([(scene.image, "what colour is the circle?")])
    assert len(answers) == 1 and isinstance(answers[0].text, str)
