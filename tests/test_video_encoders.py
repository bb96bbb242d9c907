"""The frames encoder's temporal fusions: shapes, what late fusion cannot see, and a video
question answering model built, run, trained a step, saved and loaded through the real path."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from polymodal.core.errors import ConfigError
from polymodal.encoders.registry import build_encoder
from polymodal.modalities import Video
from polymodal.models.multimodal import ModelConfig, MultimodalModel

FRAMES, SIZE = 8, 32
TINY = {"frames": FRAMES, "dim": 16, "channels": [8, 8], "strides": [2, 2], "image_size": SIZE, "tubelet": 2,
        "layers": 1, "heads": 2}


def encoder(temporal: str, differences: bool = False):
    torch.manual_seed(0)
    return build_encoder({"name": "frames", "config": {**TINY, "temporal": temporal,
                                                       "differences": differences}}).eval()


def moving_square(reverse: bool = False) -> np.ndarray:
    """A red square sliding right (or, reversed, left) across FRAMES frames."""
    clip = np.full((FRAMES, SIZE, SIZE, 3), 255, np.uint8)
    for t in range(FRAMES):
        x = 2 + 3 * t
        clip[t, 12:20, x:x + 8] = (255, 0, 0)
    return clip[::-1].copy() if reverse else clip


@pytest.mark.parametrize("temporal,tokens", [("early", FRAMES // 2 * 64), ("late", 64), ("hybrid", FRAMES * 64)])
def test_token_counts(temporal, tokens):
    enc = encoder(temporal)
    emb = enc(enc.processor([moving_square(), moving_square(True)]))
    assert emb.tokens.shape == (2, tokens, 16) and emb.pooled.shape == (2, 16) and emb.mask.all()


def test_late_fusion_cannot_tell_a_clip_from_its_reverse():
    for temporal in ("late", "early", "hybrid"):
        enc = encoder(temporal)
        with torch.no_grad():
            forward, backward = enc(enc.processor([moving_square(), moving_square(True)])).tokens
        same = torch.allclose(forward.sort(0).values, backward.sort(0).values, atol=1e-5)
        assert same == (temporal == "late"), temporal


def test_with_frame_differences_even_late_fusion_tells_a_clip_from_its_reverse():
    for temporal in ("late", "early", "hybrid"):
        enc = encoder(temporal, differences=True)
        with torch.no_grad():
            forward, backward = enc(enc.processor([moving_square(), moving_square(True)])).tokens
        assert not torch.allclose(forward.sort(0).values, backward.sort(0).values, atol=1e-5), temporal
    still = np.repeat(moving_square()[:1], FRAMES, axis=0)         # nothing moves: every change is zero
    enc = encoder("hybrid", differences=True)
    plain = encoder("hybrid")
    state = dict(enc.state_dict())
    state["cnn.convs.0.weight"] = state["cnn.convs.0.weight"][:, :3].clone()       # the colour half alone
    plain.load_state_dict(state)
    with torch.no_grad():
        assert torch.allclose(enc(enc.processor([still])).tokens, plain(plain.processor([still])).tokens, atol=1e-5)


def test_processor_samples_any_clip_to_the_model_frames(tmp_path):
    enc = encoder("hybrid")
    long = np.repeat(moving_square(), 3, axis=0)                    # 24 frames of 32 px
    Video.open(long, rate=12).save(tmp_path / "c.mp4")
    batch = enc.processor([Video.open(tmp_path / "c.mp4"), tmp_path / "c.mp4", long, moving_square()])
    assert batch.shape == (4, FRAMES, 3, SIZE, SIZE) and batch.min() >= -1 and batch.max() <= 1
    assert torch.allclose(batch[0], batch[1])
    assert (batch[2] - batch[0]).abs().mean() < 0.02             # the same frames, decoded from H.264
    assert torch.equal(batch[2], batch[3])                        # frame 3k+1 of 24 is frame k of 8


def test_bad_configs_are_refused():
    with pytest.raises(ConfigError, match="temporal"):
        build_encoder({"name": "frames", "config": {"temporal": "sideways"}})
    with pytest.raises(ConfigError, match="tubelet"):
        build_encoder({"name": "frames", "config": {"temporal": "early", "frames": 6, "tubelet": 4}})
    with pytest.raises(ConfigError, match="differences"):
        build_encoder({"name": "frames", "config": {"differences": "yes"}})


@pytest.mark.parametrize("temporal", ["early", "late", "hybrid"])
def test_video_qa_model_trains_saves_and_loads(tmp_path, temporal):
    cfg = ModelConfig(encoders={"video": {"name": "frames", "config": {**TINY, "temporal": temporal}},
                                "text": {"name": "transformer", "config": {"vocab": ["which", "way", "left", "right"],
                                                                           "dim": 16, "layers": 1, "heads": 2}}},
                      fusion="hybrid:cross-attention", fusion_config={"query": "text"}, labels=["left", "right"],
                      task="video-qa", hidden=16)
    torch.manual_seed(0)
    model = MultimodalModel(cfg).train()
    batch = model.preprocess({"video": [moving_square(), moving_square(True)], "text": ["which way", "which way"]})
    loss = torch.nn.functional.cross_entropy(model(batch), torch.tensor([1, 0]))
    loss.backward()
    assert all(p.grad is not None for p in model.encoders["video"].parameters())
    model.eval()
    model.save_pretrained(tmp_path / "m")
    loaded = MultimodalModel.from_pretrained(tmp_path / "m").eval()
    with torch.no_grad():
        assert torch.allclose(model(batch), loaded(batch), atol=1e-6)
