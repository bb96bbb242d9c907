"""hf-audio: tiny random audio encoders of real families (wav2vec2, HuBERT, AST, CLAP's audio
tower, Whisper's encoder) written to tmp and read through the real loading path; a fusion model that hears
its questions, trained on them."""
import json

import numpy as np
import pytest
import torch
from hf_tiny import build_audio_backbone, build_whisper

from polymodal.encoders.registry import ENCODERS
from polymodal.training import run as training_run

FAMILIES = ["wav2vec2", "hubert", "ast", "clap", "whisper"]
# clips of 0.1, 0.2 and 0.3 s at 16 kHz, and 1 s at 8 kHz (resampled to the extractor's rate)
CLIPS = [(np.sin(np.arange(1600 * (i + 1)) * 0.3).astype("float32"), 16000) for i in range(3)] + \
    [(np.full(8000, 0.1, np.float32), 8000)]


@pytest.fixture(scope="module")
def towers(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    return {f: str(build_whisper(root / f) if f == "whisper" else build_audio_backbone(root / f, f)) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_gives_frames_a_mask_and_pooled_independent_of_the_batch(towers, family):
    enc = ENCODERS.build("hf-audio", path=towers[family], tune="full").eval()      # no cache: the tower itself
    batch = enc.processor(CLIPS)
    with torch.no_grad():
        out = enc(batch)
        alone = [enc(enc.processor([clip])) for clip in CLIPS]
    assert out.tokens.shape[0] == 4 and out.tokens.shape[-1] == enc.dim and out.pooled.shape == (4, enc.dim)
    lengths = out.mask.sum(-1).tolist()
    if family not in ("ast", "clap"):                     # they read a fixed window: every frame is real
        assert lengths[0] < lengths[1] < lengths[2], lengths     # longer clips, more frames
    for i, single in enumerate(alone):
        assert torch.allclose(single.pooled[0], out.pooled[i], atol=1e-4), (family, i)


@pytest.mark.parametrize("family", ["wav2vec2", "whisper"])
def test_a_frozen_tower_runs_each_clip_once_and_gives_what_the_tower_gives(towers, family):
    enc = ENCODERS.build("hf-audio", path=towers[family])
    assert enc.state_dict() == {} and list(enc.parameters()) == []
    clips = [(np.cos(np.arange(n) * 0.2).astype("float32"), 16000) for n in (1234, 2345)]    # in no other test
    misses = enc.cache.misses
    first = enc(enc.processor(clips + clips[:1]))
    assert enc.cache.misses - misses == 2
    direct_tokens, direct_mask, direct_pooled = enc.run(enc.tower, enc.processor(clips))
    assert torch.allclose(first.pooled[:2], direct_pooled, atol=1e-5)
    assert torch.equal(first.mask[:2].sum(-1), direct_mask.sum(-1))
    again = enc(enc.processor(clips[1:]))                  # another batch, another padding
    assert enc.cache.misses - misses == 2
    assert torch.equal(again.pooled[0], first.pooled[1])


@pytest.mark.parametrize("tower, fusion", [("wav2vec2", "early:feature"), ("wav2vec2", "late:mean"),
                                           ("wav2vec2", "hybrid:cross-attention"), ("whisper", "early:feature")])
def test_a_fusion_model_that_hears_its_questions_learns(towers, tiny_vit_dir, tower, fusion, tmp_path):
    from polymodal.cli.main import main
    data = tmp_path / "data"
    assert main(["data", "shapes", "--preset", "sort-of-clevr", "--split", "train", "--seed", "1", "--n", "12",
                 "--spoken", "--out", str(data)]) == 0
    recipe = {"task": "vqa", "data": {"spec": str(data / "manifest.jsonl")},
              "model": {"encoders": {"image": {"name": "hf-image", "config": {"path": tiny_vit_dir, "dim": 16}},
                                     "audio": {"name": "hf-audio", "config": {"path": towers[tower], "dim": 16}}},
                        "fusion": fusion, "hidden": 32,
                        "fusion_config": {"query": "audio"} if fusion.startswith("hybrid") else {}},
              "train": {"batch_size": 4, "epochs": 12, "lr": 3e-3, "warmup_steps": 2, "seed": 0}}
    training_run.run(recipe, tmp_path / "run")
    losses = [r["loss"] for r in json.loads((tmp_path / "run" / "metrics.json").read_text())["train"]]
    start, end = np.mean(losses[:3]), np.mean(losses[-6:])     # 3 steps an epoch, 36 in all
    assert end < start - 0.2, (start, end)      # towers of random weights: little more than the answers' prior
