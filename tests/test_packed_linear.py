"""Linear layers packed once on a CPU (hf/packed_linear.py): the same products as torch's
linear (with a fused activation: as the activation after it), only the layers the adapter
names, and the same captions, transcripts and zero-shot labels through pm.load as the unpacked
model gives; on a CPU whose oneDNN has no bf16 products (AVX2 only), no bf16 layer packed and a
one-line warning that bf16 is slow there."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hf_tiny import build_blip, build_clip, build_whisper
from torch import nn

from polymodal.cli.main import main, one_line
from polymodal.core.errors import SlowPathWarning
from polymodal.hf import native_clip, packed_linear
from polymodal.hf.base import HFAdapter
from polymodal.hf.packed_linear import PackedLinear, pack_linears, packing_available
from polymodal.inference import backend
from polymodal.inference.pipelines import load
from polymodal.modalities import Audio

pytestmark = pytest.mark.skipif(not packing_available(), reason="this torch build has no oneDNN")
# bf16 products need AVX-512 (or AVX-NE-CONVERT) in oneDNN; an AVX2 CPU packs no bf16 layer
needs_bf16 = pytest.mark.skipif(not packing_available(torch.bfloat16), reason="this CPU has no oneDNN bf16 products")


def precisions():
    return ["fp32", pytest.param("bf16", marks=needs_bf16)]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("packed")
    return {"blip": build_blip(root / "blip"), "whisper": build_whisper(root / "whisper"), "clip": build_clip(root / "clip")}


@pytest.mark.parametrize("bias", [True, False])
def test_packed_linear_computes_torchs_linear(bias):
    torch.manual_seed(0)
    linear = nn.Linear(40, 24, bias=bias)
    packed = PackedLinear.of(linear)
    with torch.no_grad():
        for shape in [(8, 40), (3, 5, 40), (1, 40), (200, 40)]:
            x = torch.randn(*shape)
            assert packed(x).shape == linear(x).shape
            assert torch.allclose(packed(x), linear(x), atol=1e-5)
        assert torch.equal(packed.weight, linear.weight)
        x = torch.randn(6, 80)[:, ::2]                       # not contiguous
        assert torch.allclose(packed(x), linear(x), atol=1e-5)


@needs_bf16
@pytest.mark.parametrize("bias", [True, False])
def test_a_packed_bf16_linear_computes_torchs_bf16_linear_bit_for_bit(bias):
    torch.manual_seed(0)
    linear = nn.Linear(40, 24, bias=bias)
    with torch.no_grad():
        linear.to(torch.bfloat16)
        low = PackedLinear.of(linear)
        x = torch.randn(4, 7, 40)
        with torch.autocast("cpu", dtype=torch.bfloat16):     # as polymodal's bf16 path runs it
            ours, theirs = low(x), F.linear(x, linear.weight, linear.bias)
        assert ours.dtype == theirs.dtype == torch.bfloat16
        assert torch.equal(ours, theirs)


@pytest.mark.parametrize("activation", ["swish", "gelu"])
def test_a_fused_activation_is_the_activation_after_the_product(activation):
    torch.manual_seed(0)
    linear = nn.Linear(40, 24)
    x = torch.randn(3, 5, 40)
    after = {"swish": F.silu, "gelu": F.gelu}[activation]
    with torch.no_grad():
        assert torch.allclose(PackedLinear(linear.weight, linear.bias, activation)(x), after(linear(x)), atol=1e-5)
    with pytest.raises(ValueError, match="activation must be one of"):
        PackedLinear(linear.weight, linear.bias, "relu6")


@pytest.mark.parametrize("act", ["quick_gelu", "gelu"])
@pytest.mark.parametrize("dtype", [torch.float32, pytest.param(torch.bfloat16, marks=needs_bf16)])
def test_a_packed_clip_layer_computes_the_unpacked_one(act, dtype):
    torch.manual_seed(0)
    config = {**native_clip.VISION_DEFAULTS, "hidden_size": 64, "intermediate_size": 256, "num_attention_heads": 4,
              "hidden_act": act}
    layer = native_clip.Layer(config).to(dtype).eval()
    x = torch.randn(3, 10, 64).to(dtype)
    with torch.no_grad():
        every, first = layer(x, None), layer(x, None, queries=1)
        layer.self_attn.pack()
        layer.mlp.pack()
        assert layer.self_attn.q_proj is None and isinstance(layer.mlp.fc1, PackedLinear)
        tolerance = 1e-4 if dtype == torch.float32 else 0.1     # bf16: 1.702 W1 rounds once more
        assert torch.allclose(layer(x, None).float(), every.float(), atol=tolerance)
        assert torch.allclose(layer(x, None, queries=1).float(), first.float(), atol=tolerance)


def test_pack_linears_replaces_only_the_named_layers():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2)))
    named = [model[0], model[2][1]]
    assert pack_linears(model, named) == 2
    assert [type(m).__name__ for m in (model[0], model[2][0], model[2][1])] == ["PackedLinear", "Linear",
                                                                              "PackedLinear"]
    assert pack_linears(model, []) == 0


def packed_and_plain(task: str, folder, precision: str, monkeypatch, isa: str = "AVX512"):
    """The task's pipeline loaded as pm.load packs it on a CPU whose widest vectors are `isa`
    (encoders are packed in fp32 only with AVX-512: packed_linear.wide_products_pay), and
    loaded with nothing packed."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: isa)
    packed = load(task, str(folder), precision=precision)
    with monkeypatch.context() as m:
        m.setattr(HFAdapter, "pack_for_cpu", lambda self: 0)
        m.setattr(native_clip.NativeClip, "pack_image_tower", lambda self: 0)     # the CLIP adapter's own
        plain = load(task, str(folder), precision=precision)
    return packed, plain


def adapter_of(pipeline) -> nn.Module:
    return next(v for v in vars(getattr(pipeline, "pipeline", pipeline)).values() if isinstance(v, nn.Module))


@pytest.mark.parametrize("precision", precisions())
def test_pm_load_packs_blips_decoder_and_captions_the_same(dirs, precision, monkeypatch):
    """The decoder's linears are packed, and on a CPU with AVX-512 the vision tower's too (encoder_linears)."""
    packed, plain = packed_and_plain("caption", dirs["blip"], precision, monkeypatch)
    model = adapter_of(packed).model
    names = {name for name, m in model.named_modules() if isinstance(m, PackedLinear)}
    assert {n for n in names if n.startswith("vision_model.")} == {
        name for name, m in adapter_of(plain).model.vision_model.named_modules(prefix="vision_model")
        if type(m) is nn.Linear}
    assert names and all(n.startswith(("text_decoder.", "vision_model.")) for n in names)
    assert not any(n.endswith((".crossattention.self.key", ".crossattention.self.value")) for n in names)
    assert not any(isinstance(m, PackedLinear) for m in adapter_of(plain).model.modules())
    images = [np.random.default_rng(i).integers(0, 256, (40, 56, 3), dtype=np.uint8) for i in range(5)]
    ours, theirs = packed.batch(images, batch_size=5), plain.batch(images, batch_size=5)
    assert [c.text for c in ours] == [c.text for c in theirs]
    assert np.allclose([c.score for c in ours], [c.score for c in theirs], atol=1e-3)


@pytest.mark.parametrize("precision", precisions())
def test_pm_load_packs_whispers_decoder_and_transcribes_the_same(dirs, precision, monkeypatch):
    """The decoder's linears and output layer are packed, and on a CPU with AVX-512 the encoder's linears too."""
    packed, plain = packed_and_plain("transcribe", dirs["whisper"], precision, monkeypatch)
    model = adapter_of(packed).model
    names = {name for name, m in model.named_modules() if isinstance(m, PackedLinear)}
    encoder = {name for name, m in adapter_of(plain).model.named_modules()
               if name.startswith("model.encoder.") and type(m) is nn.Linear}
    assert encoder and {n for n in names if n.startswith("model.encoder.")} == encoder
    assert "proj_out" in names and all(n.startswith(("model.decoder.", "model.encoder.")) or n == "proj_out" for n in names)
    assert not any(n.endswith((".encoder_attn.k_proj", ".encoder_attn.v_proj")) for n in names)   # folding reads them
    audios = [Audio((np.sin(np.arange(16000) / (5.0 + i)) * 0.3).astype(np.float32), 16000) for i in range(3)]
    assert [t.text for t in packed.batch(audios, batch_size=3)] == [t.text for t in plain.batch(audios, batch_size=3)]


@pytest.mark.parametrize("precision", precisions())
def test_pm_load_packs_clips_image_tower_and_classifies_the_same(dirs, precision, monkeypatch):
    packed, plain = packed_and_plain("align", dirs["clip"], precision, monkeypatch)
    assert not any(isinstance(m, PackedLinear) for m in adapter_of(plain).model.modules())
    model = adapter_of(packed).model
    layers = len(model.vision_model.encoder.layers)
    names = {name for name, m in model.named_modules() if isinstance(m, PackedLinear)}
    assert "vision_model.embeddings.projection" in names        # the patch kernels
    names.discard("vision_model.embeddings.projection")
    assert len(names) == 4 * layers and all(n.startswith("vision_model.encoder.layers.") for n in names)
    assert sum(m.activation == "swish" for m in model.modules() if isinstance(m, PackedLinear)) == layers
    images = [np.random.default_rng(i).integers(0, 256, (40, 56, 3), dtype=np.uint8) for i in range(6)]
    labels = ["a red circle", "a blue square", "a green triangle"]
    ours, theirs = packed.classify(images, labels), plain.classify(images, labels)
    assert [r[0][0] for r in ours] == [r[0][0] for r in theirs]
    gap = max(abs(dict(a)[k] - dict(b)[k]) for a, b in zip(ours, theirs) for k in labels)
    assert gap < (1e-4 if precision == "fp32" else 2e-2)


MODEL_OF = {"caption": "blip", "transcribe": "whisper", "align": "clip"}


def outputs(task: str, pipeline) -> list:
    """The pipeline's captions, transcripts or zero-shot probabilities of a few inputs."""
    images = [np.random.default_rng(i).integers(0, 256, (40, 56, 3), dtype=np.uint8) for i in range(3)]
    if task == "caption":
        return [c.text for c in pipeline.batch(images, batch_size=3)]
    if task == "transcribe":
        audios = [Audio((np.sin(np.arange(16000) / (5.0 + i)) * 0.3).astype(np.float32), 16000) for i in range(2)]
        return [t.text for t in pipeline.batch(audios, batch_size=2)]
    return pipeline.classify(images, ["a red circle", "a blue square"])


@pytest.mark.parametrize("task", ["caption", "transcribe", "align"])
def test_on_a_cpu_with_avx2_only_fp32_encoders_are_left_to_torchs_product(dirs, task, monkeypatch):
    """There MKL's fp32 product is faster than oneDNN's packed one over an encoder's many rows;
    a decoding step's layers are still packed, and the outputs are the unpacked model's."""
    folder = dirs[MODEL_OF[task]]
    packed, plain = packed_and_plain(task, folder, "fp32", monkeypatch, isa="AVX2")
    names = {name for name, m in adapter_of(packed).model.named_modules() if isinstance(m, PackedLinear)}
    assert not any(n.startswith(("vision_model.", "model.encoder.")) for n in names)
    decoder = {"caption": "text_decoder.", "transcribe": "model.decoder.", "align": None}[task]
    assert (any(n.startswith(decoder) for n in names) if decoder else not names)
    assert outputs(task, packed) == outputs(task, plain)


def no_onednn_bf16(monkeypatch):
    """This machine as a CPU with AVX2 only, where torch refuses oneDNN's bf16 products."""
    for module in (packed_linear, backend):
        monkeypatch.setattr(module, "onednn_multiplies", lambda dtype: dtype == torch.float32)


@pytest.mark.parametrize("task", ["caption", "transcribe", "align"])
def test_where_onednn_has_no_bf16_products_bf16_models_run_unpacked(dirs, task, monkeypatch):
    """On a CPU with AVX2 only pm.load packs none of a bf16 model's layers (fp32 ones still),
    says that bf16 is slow there, and the model gives what it gives unpacked."""
    no_onednn_bf16(monkeypatch)
    folder = dirs[MODEL_OF[task]]
    with pytest.warns(SlowPathWarning, match="precision bf16 on this CPU"):
        low, plain = packed_and_plain(task, folder, "bf16", monkeypatch)
    assert not any(isinstance(m, PackedLinear) for m in adapter_of(low).model.modules())
    assert any(isinstance(m, PackedLinear) for m in adapter_of(load(task, str(folder), precision="fp32")).model.modules())
    assert outputs(task, low) == outputs(task, plain)


def test_the_cli_says_in_one_line_that_bf16_is_slow_on_such_a_cpu(dirs, tmp_path, monkeypatch, capsys):
    from PIL import Image
    no_onednn_bf16(monkeypatch)
    image = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(image)
    with pytest.warns(SlowPathWarning) as caught:      # pytest records it; the CLI's format is checked on it
        assert main(["caption", str(image), "--model", str(dirs["blip"]), "--precision", "bf16"]) == 0
    (warning,) = caught
    line = one_line(warning.message, warning.category, warning.filename, warning.lineno)
    assert line.startswith("polymodal: warning: precision bf16 on this CPU (no AVX-512)") and line.count("\n") == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowPathWarning)                         # fp32: no such warning
        assert main(["caption", str(image), "--model", str(dirs["blip"])]) == 0
