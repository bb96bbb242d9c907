"""Video captioning: a clip -> a sentence of what happens in it ("the red circle moves left,
the blue square stays still, the red circle hits the blue square, ...").

The model is polymodal's captioner whose encoder is a video encoder (the `frames` encoder:
early, late or hybrid temporal fusion); data are `shapes:motion:<split>` or a manifest with
`video` and `caption` columns. Scores: BLEU-4, CIDEr, exact match and, for captions in the
motion grammar, event fact precision / recall / F1 and event order (tasks/metrics/events.py)."""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core.errors import InputError
from ..core.results import Caption
from ..data.motion_preset import parse_caption
from ..layers import to_device
from ..models.captioner import Captioner, CaptionerConfig
from ..processors.text import WordTokenizer
from .clip_text import CAPTION_TOKENS, ClipCaptionExample, ClipTextTask
from .metrics.caption import bleu_cider, words
from .metrics.events import event_fact_scores
from .registry import TASKS
from .video_qa import opened


@torch.no_grad()
def caption_clips(model: Captioner, examples: list[ClipCaptionExample], batch_size: int = 32, beams: int = 1,
                  device=None, progress: bool = False) -> list[Caption]:
    model.eval()
    device = device or next(model.parameters()).device
    out = []
    for start in tqdm(range(0, len(examples), batch_size), disable=not progress, desc="captioning"):
        chunk = examples[start:start + batch_size]
        pixels = model.preprocess({"image": [opened_clip(model, ex.video) for ex in chunk]})["image"]
        out += model.generate(to_device(pixels, device), beams=beams)
    return out


def opened_clip(model: Captioner, video):
    """A clip as the captioner's video encoder takes it (decoded at its sampling)."""
    return opened(model.image_encoder, video)


def video_caption_metrics(examples: list[ClipCaptionExample], generated: list[str]) -> dict:
    if any(not ex.captions for ex in examples):
        raise InputError("caption evaluation needs a reference caption for every clip")
    out = {"clips": len(examples), **bleu_cider(generated, [ex.captions for ex in examples]),
           "exact_match": float(np.mean([words(g) in {words(c) for c in ex.captions}
                                         for g, ex in zip(generated, examples)]))}
    if all(not parse_caption(ex.captions[0])[1] for ex in examples):       # references in the motion grammar
        out.update(event_fact_scores(generated, [ex.captions[0] for ex in examples]))
    return out


@TASKS.register("video-caption")
class VideoCaptionTask(ClipTextTask):
    """Clip -> a sentence of what happens (a captioner over a video encoder)."""

    model_task = "video-caption"
    curve_metrics = ("fact_f1", "exact_match")
    eval_options = ("beams",)

    def modalities(self, examples) -> list[str]:
        return ["video"]

    def own_model_spec(self, encoders: dict, hidden: int) -> dict:
        return {"image_encoder": encoders.get("video", {"name": "frames", "config": {}}), "dim": hidden,
                "max_length": CAPTION_TOKENS}

    def build_model(self, spec: dict, examples):
        texts, _ = self.vocabulary(examples)
        spec = {"max_length": CAPTION_TOKENS, **spec, "task": "video-caption",
                "vocab": spec.get("vocab") or WordTokenizer.build(texts).vocab}
        if spec["image_encoder"].get("name") != "frames":
            raise InputError("a video captioner's encoder is a video encoder (frames)")
        return Captioner(CaptionerConfig.from_dict(spec, "video caption model"))

    def make_batch(self, model, examples, rng):
        if any(not ex.captions for ex in examples):
            raise InputError("training needs a caption for every clip")
        examples = [self.augmented(ex, rng) for ex in examples]
        captions = [ex.captions[int(rng.integers(len(ex.captions)))] if rng is not None else ex.captions[0]
                    for ex in examples]
        batch = model.preprocess({"image": [opened_clip(model, ex.video) for ex in examples], "caption": captions})
        return batch, batch.pop("targets")

    def loss(self, logits, targets):
        return torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=0)

    def evaluate(self, model, examples, batch_size=32, device=None, progress=False, beams: int = 1) -> dict:
        captions = caption_clips(model, examples, batch_size, beams, device, progress)
        return video_caption_metrics(examples, [c.text for c in captions])
