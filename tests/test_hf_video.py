"""Tiny random VideoMAE, TimeSformer, ViViT and X-CLIP models, built locally in Hugging Face
layout, through `classify` and `embed` on clips; their outputs checked against transformers
run directly on the same frames."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hf_tiny import VIDEO_LABELS, build_timesformer, build_videomae, build_vivit, build_xclip

from polymodal.cli.main import main
from polymodal.inference.pipelines import load
from polymodal.modalities import Video

BUILDERS = {"videomae": build_videomae, "timesformer": build_timesformer, "vivit": build_vivit, "xclip": build_xclip}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-video")
    return {name: str(build(root / name)) for name, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    for i in range(3):
        Video.open(rng.integers(0, 256, (12, 40, 48, 3), dtype=np.uint8), rate=6).save(root / f"clip{i}.mp4")
    return root


def direct_frames(path, frames: int = 4) -> list[np.ndarray]:
    """The frames the adapters take: `frames` at the centres of equal parts of the clip."""
    return list(Video.open(path, frames=frames).frames)


@pytest.mark.parametrize("name", ["videomae", "timesformer", "vivit"])
def test_video_classifiers_agree_with_transformers(folders, clips, name, capsys):
    from transformers import AutoImageProcessor, AutoModelForVideoClassification
    clip = clips / "clip0.mp4"
    assert main(["classify", str(clip), "--model", folders[name], "--json"]) == 0
    import json
    row = json.loads(capsys.readouterr().out)
    model = AutoModelForVideoClassification.from_pretrained(folders[name]).eval()
    pixels = AutoImageProcessor.from_pretrained(folders[name])([direct_frames(clip)], return_tensors="pt")
    with torch.no_grad():
        probs = model(**pixels).logits.softmax(-1)[0]
    assert row["label"] == VIDEO_LABELS[int(probs.argmax())]
    assert row["score"] == pytest.approx(float(probs.max()), abs=1e-4)


def test_xclip_zero_shot_agrees_with_transformers(folders, clips, capsys):
    from transformers import XCLIPModel, XCLIPProcessor
    labels = ["sliding", "bouncing", "still"]
    assert main(["classify", str(clips), "--labels", ",".join(labels), "--model", folders["xclip"]]) == 0
    printed = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    model, processor = XCLIPModel.from_pretrained(folders["xclip"]).eval(), XCLIPProcessor.from_pretrained(folders["xclip"])
    for (name, label, score), i in zip(printed, range(3)):
        inputs = processor(text=[f"a photo of a {label_}." for label_ in labels],
                           videos=[direct_frames(clips / f"clip{i}.mp4")], return_tensors="pt", padding=True,
                           truncation=True)
        with torch.no_grad():
            probs = model(**inputs).logits_per_video.softmax(-1)[0]
        assert name.endswith(f"clip{i}.mp4") and label == labels[int(probs.argmax())]
        assert float(score) == pytest.approx(float(probs.max()), abs=1e-3)


@pytest.mark.parametrize("name", ["videomae", "xclip"])
def test_embed_clips(folders, clips, tmp_path, name):
    out = tmp_path / f"{name}.npz"
    assert main(["embed", str(clips), "--model", folders[name], "--out", str(out)]) == 0
    with np.load(out) as data:
        assert data["vectors"].shape == (3, 32) and str(data["kind"]) == "video"
        assert np.allclose(np.linalg.norm(data["vectors"], axis=1), 1, atol=1e-5)
        assert [n.endswith(f"clip{i}.mp4") for i, n in enumerate(data["names"])] == [True] * 3


def test_xclip_texts_and_clips_share_one_space(folders, clips):
    pipe = load("video-align", folders["xclip"])
    videos = pipe.embed_videos([clips / "clip0.mp4", Video.open(clips / "clip1.mp4")])
    texts = pipe.embed_texts(["a red circle", "a blue square"])
    assert videos.shape == texts.shape == (2, 32)


def test_clip_classification_refusals(folders, clips, capsys):
    clip = str(clips / "clip0.mp4")
    for argv, words in ((["classify", clip], "needs --model"),
                        (["classify", clip, "--model", folders["videomae"], "--labels", "a,b"], "not for video-align"),
                        (["classify", clip, "--model", folders["xclip"]], "not for video-classify"),
                        (["classify", clip, "--model", folders["videomae"], "--examples", str(clips)], "--examples"),
                        (["embed", clip, "--model", "align-shapes", "--out", str(clips / "x.npz")], "video model"),
                        (["embed", clip, "--text", "a", "--model", folders["xclip"], "--out", str(clips / "x.npz")],
                         "not both")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert not (clips / "x.npz").exists()
