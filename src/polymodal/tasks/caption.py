"""Image captioning: image -> a sentence describing it."""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..core.errors import InputError
from ..core.results import Caption
from ..layers import to_device
from ..models.captioner import Captioner, CaptionerConfig
from ..processors.text import WordTokenizer
from . import prompted
from .image_text import ImageTextExample, ImageTextTask, jpeg_augmented, open_image
from .metrics.caption import caption_metrics
from .registry import TASKS

CaptionExample = ImageTextExample        # an image and its reference captions


@torch.no_grad()
def caption_images(model, examples: list[ImageTextExample], batch_size: int = 64, beams: int = 1, device=None,
                   progress: bool = False, guidance: float | None = None) -> list[Caption]:
    """One Caption (text, score) per example; guidance None = the model's own."""
    if prompted.is_chat_model(model):
        return prompted.captions(model, [ex.image for ex in examples], batch_size, beams, progress, guidance)
    model.eval()
    device = device or next(model.parameters()).device
    out = []
    for start in tqdm(range(0, len(examples), batch_size), disable=not progress, desc="captioning"):
        chunk = examples[start:start + batch_size]
        pixels = model.preprocess({"image": [open_image(ex.image) for ex in chunk]})["image"]
        out += model.generate(to_device(pixels, device), beams=beams, guidance=guidance)
    return out


@TASKS.register("caption")
class CaptionTask(ImageTextTask):
    """Image -> a sentence describing it (a captioner: image encoder and text decoder)."""

    model_task = "caption"
    curve_metrics = ("fact_f1", "exact_match")
    eval_options = ("beams", "guidance")

    def modalities(self, examples) -> list[str]:
        return ["image"]

    def own_model_spec(self, encoders: dict, hidden: int) -> dict:
        return {"image_encoder": encoders.get("image", {"name": "cnn", "config": {}}), "dim": hidden}

    def build_model(self, spec: dict, examples):
        texts, _ = self.vocabulary(examples)
        spec = {**spec, "vocab": spec.get("vocab") or WordTokenizer.build(texts).vocab}
        return Captioner(CaptionerConfig.from_dict(spec, "caption model"))

    def make_batch(self, model, examples, rng):
        """One reference caption per image, drawn at random when there are several."""
        if any(not ex.captions for ex in examples):
            raise InputError("training needs a caption for every image")
        if rng is not None:
            examples = [jpeg_augmented(ex, rng, self.options) for ex in examples]
        captions = [ex.captions[int(rng.integers(len(ex.captions)))] if rng is not None else ex.captions[0]
                    for ex in examples]
        batch = model.preprocess({"image": [open_image(ex.image) for ex in examples], "caption": captions})
        return batch, batch.pop("targets")

    def loss(self, logits, targets):
        return torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=0)

    def evaluate(self, model, examples, batch_size=64, device=None, progress=False, beams: int = 1,
                 guidance: float | None = None) -> dict:
        captions = caption_images(model, examples, batch_size, beams, device, progress, guidance)
        return caption_metrics(examples, [c.text for c in captions])
