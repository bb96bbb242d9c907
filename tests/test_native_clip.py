"""polymodal's own CLIP code (hf/native_clip.py) against transformers' on random-weight CLIP
folders: the same pixels, tokens, features and loss; folders it does not reproduce go to
transformers; and a classify process never imports transformers."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hf_tiny import build_clip

from polymodal.hf import native_clip
from polymodal.hf.vision import HFAligner

TEXTS = ["blue", "a red circle", "a green square left of a very large yellow triangle"]   # the last one is cut


def random_images(seed: int = 0) -> list[np.ndarray]:
    """Odd sizes and both orientations: the short-side resize and the centre crop are exercised."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(32, 32), (50, 19), (19, 75), (90, 90)]]


def variant(folder: Path, out: Path, **text_config) -> Path:
    """A copy of a CLIP folder whose text config says otherwise (weights unchanged in shape)."""
    shutil.copytree(folder, out)
    config = json.loads((out / "config.json").read_text())
    config["text_config"].update(text_config)
    config["vision_config"]["hidden_act"] = text_config.get("hidden_act", config["vision_config"]["hidden_act"])
    (out / "config.json").write_text(json.dumps(config))
    return out


@pytest.fixture(scope="module")
def clip_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("native-clip")
    base = build_clip(root / "clip")
    # gelu instead of quick_gelu; eos_token_id 2: the first CLIP configs, pooled at the highest id
    return {"quick_gelu": base, "gelu": variant(base, root / "gelu", hidden_act="gelu"),
            "eos 2": variant(base, root / "eos2", eos_token_id=2)}


@pytest.mark.parametrize("which", ["quick_gelu", "gelu", "eos 2"])
def test_pixels_tokens_and_features_equal_transformers(clip_dirs, which):
    from transformers import CLIPModel, CLIPProcessor
    folder = clip_dirs[which]
    model, images, tokens = native_clip.load(folder)
    reference, processor = CLIPModel.from_pretrained(folder).eval(), CLIPProcessor.from_pretrained(folder)
    ours_px, theirs_px = images(random_images())["pixel_values"], processor.image_processor(
        images=random_images(), return_tensors="pt")["pixel_values"]
    assert ours_px.shape == theirs_px.shape and torch.allclose(ours_px, theirs_px, atol=1e-5)
    ours_tok = tokens(TEXTS)
    theirs_tok = processor.tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
    assert torch.equal(ours_tok["input_ids"], theirs_tok["input_ids"])
    assert torch.equal(ours_tok["attention_mask"], theirs_tok["attention_mask"])
    with torch.no_grad():
        def pooled(out):
            return getattr(out, "pooler_output", out)
        assert torch.allclose(model.get_image_features(ours_px),
                              pooled(reference.get_image_features(pixel_values=theirs_px)), atol=1e-5)
        ours_text = model.get_text_features(**ours_tok)
        assert torch.allclose(ours_text, pooled(reference.get_text_features(**theirs_tok)), atol=1e-5)
    # rows of three lengths (one cut at the tiny tokenizer's 16): padding and truncation were compared
    assert ours_tok["attention_mask"].sum(1).unique().numel() == len(TEXTS)


def test_the_contrastive_loss_equals_transformers_and_a_saved_folder_reads_back(clip_dirs, tmp_path):
    from transformers import CLIPModel
    folder = clip_dirs["quick_gelu"]
    model, images, tokens = native_clip.load(folder)
    batch = {"pixel_values": images(random_images(1)[:3])["pixel_values"], **tokens(TEXTS)}
    ours = model(**batch, return_loss=True).loss
    theirs = CLIPModel.from_pretrained(folder).eval()(**batch, return_loss=True).loss
    assert torch.allclose(ours, theirs, atol=1e-5)
    HFAligner.from_pretrained(folder).save_pretrained(tmp_path / "copy")
    again = CLIPModel.from_pretrained(tmp_path / "copy").eval()
    assert torch.allclose(again(**batch, return_loss=True).loss, theirs, atol=1e-5)
    assert native_clip.load(tmp_path / "copy") is not None          # tokenizer and processor files came along


def test_the_aligner_runs_natively_where_it_can_and_through_transformers_where_not(clip_dirs, tmp_path):
    folder = clip_dirs["quick_gelu"]
    assert type(HFAligner.from_pretrained(folder).model) is native_clip.NativeClip
    # a saved LoRA adapter beside the weights: peft merges it, in transformers' model
    with_adapter = tmp_path / "adapter"
    shutil.copytree(folder, with_adapter)
    (with_adapter / "adapter").mkdir()
    assert native_clip.load(with_adapter) is None
    # image settings this module does not reproduce (no centre crop): transformers
    no_crop = tmp_path / "no-crop"
    shutil.copytree(folder, no_crop)
    settings = json.loads((no_crop / "processor_config.json").read_text())
    settings["image_processor"]["do_center_crop"] = False
    (no_crop / "processor_config.json").write_text(json.dumps(settings))
    assert native_clip.load(no_crop) is None
    assert type(HFAligner.from_pretrained(no_crop).model).__name__ == "CLIPModel"


def test_a_classify_process_never_imports_transformers(clip_dirs, tmp_path):
    from PIL import Image
    Image.fromarray(random_images()[3]).save(tmp_path / "a.png")
    script = ("import sys; from polymodal.cli.main import main; "
              f"code = main(['classify', {str(tmp_path / 'a.png')!r}, '--model', {str(clip_dirs['quick_gelu'])!r}, "
              "'--labels', 'red circle,blue square', '--json']); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('transformers', 'torch._dynamo'))); "
              "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result, imported = done.stdout.strip().splitlines()
    assert json.loads(result)["label"] in ("red circle", "blue square")
    assert imported == "[]"


def test_quick_gelu_is_clips_activation_in_place_without_a_gradient_and_not_with_one():
    x = torch.randn(4, 50, 96) * 4
    expected = x * torch.sigmoid(1.702 * x)
    assert torch.allclose(native_clip.quick_gelu(x.clone()), expected, rtol=1e-5, atol=1e-6)
    leaf = x.clone().requires_grad_()
    out = native_clip.quick_gelu(leaf)
    assert torch.equal(leaf.detach(), x) and torch.allclose(out, expected, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    reference = x.clone().requires_grad_()
    (reference * torch.sigmoid(1.702 * reference)).sum().backward()
    assert torch.allclose(leaf.grad, reference.grad, rtol=1e-4, atol=1e-5)


def test_int8_clip_packs_its_patch_projection_and_classifies_as_unpacked_int8(clip_dirs, monkeypatch):
    import polymodal as pm
    from polymodal.hf.packed_linear import PackedLinear, packing_available
    if not packing_available():
        pytest.skip("this torch build has no oneDNN")
    labels = ["a red circle", "a blue square", "a green triangle"]
    # as on a CPU with AVX-512, where fp32 products are packed (with AVX2 only they are left to
    # MKL's: packed_linear.wide_products_pay, tested in test_packed_linear.py)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    packed = pm.load("align", str(clip_dirs["quick_gelu"]), precision="int8")
    model = next(v for v in vars(packed).values() if isinstance(v, torch.nn.Module)).model
    assert isinstance(model.vision_model.embeddings.projection, PackedLinear)
    assert not any(type(m) is torch.nn.Linear for m in model.modules())           # the layers are int8
    monkeypatch.setattr(native_clip.NativeClip, "pack_image_tower", lambda self: 0)
    plain = pm.load("align", str(clip_dirs["quick_gelu"]), precision="int8")
    images = random_images(2)
    ours, theirs = packed.classify(images, labels), plain.classify(images, labels)
    assert [r[0][0] for r in ours] == [r[0][0] for r in theirs]
    assert max(abs(dict(a)[k] - dict(b)[k]) for a, b in zip(ours, theirs) for k in labels) < 2e-2
