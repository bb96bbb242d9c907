"""Image captioning: image -> a sentence describing it."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from ..layers import to_device
from . import TASKS, image_text
from ..data.shapes_preset import parse_caption
from .caption_metrics import SceneTruth, bleu_cider, fact_scores, words
from .image_text import ImageTextExample, open_image


CaptionExample = ImageTextExample        # an image and its reference captions


load_examples = image_text.load_examples
vocabulary = image_text.vocabulary


@torch.no_grad()
def generate(model, examples: list[ImageTextExample], batch_size: int = 64, beams: int = 1, device=None,
             progress: bool = False, guidance: float | None = None):
    """-> list of Caption (text, score), one per example; guidance None = the model's own."""
    from tqdm.auto import tqdm
    model.eval()
    device = device or next(model.parameters()).device
    out = []
    for start in tqdm(range(0, len(examples), batch_size), disable=not progress, desc="captioning"):
        chunk = examples[start:start + batch_size]
        pixels = model.preprocess({"image": [open_image(ex.image) for ex in chunk]})["image"]
        out += model.generate(to_device(pixels, device), beams=beams, guidance=guidance)
    return out


def metrics(examples: list[ImageTextExample], generated: list[str]) -> dict:
    if any(not ex.captions for ex in examples):
        raise InputError("caption evaluation needs a reference caption for every image")
    out = {"images": len(examples), **bleu_cider(generated, [ex.captions for ex in examples]),
           "exact_match": float(np.mean([words(g) in {words(c) for c in ex.captions}
                                         for g, ex in zip(generated, examples)]))}
    # Fact-F1 reads captions in the shapes grammar; other references (sort-of-clevr's object
    # lists, a user's free text) would score as all-unparsed, so it is left out for them.
    if all(not parse_caption(ex.captions[0]).unparsed for ex in examples):
        out.update(fact_scores(generated, [SceneTruth.build(ex.captions[0], ex.objects) for ex in examples]))
    return out


@TASKS.register("caption")
class CaptionTask:
    name = "caption"
    curve_metrics = ("fact_f1", "exact_match")
    load_examples = staticmethod(load_examples)
    vocabulary = staticmethod(vocabulary)

    @staticmethod
    def modalities(examples) -> list[str]:
        return ["image"]

    @staticmethod
    def build_model(spec: dict, examples):
        from ..models.captioner import Captioner, CaptionerConfig
        from ..processors.text import WordTokenizer
        texts, _ = vocabulary(examples)
        spec = {**spec, "vocab": spec.get("vocab") or WordTokenizer.build(texts).vocab}
        return Captioner(CaptionerConfig.from_dict(spec))

    @staticmethod
    def make_batch(model, examples, rng, cfg):
        """One reference caption per image, drawn at random when there are several."""
        if any(not ex.captions for ex in examples):
            raise InputError("training needs a caption for every image")
        if rng is not None:
            examples = [image_text.jpeg_augmented(ex, rng, cfg) for ex in examples]
        captions = [ex.captions[int(rng.integers(len(ex.captions)))] if rng is not None else ex.captions[0]
                    for ex in examples]
        batch = model.preprocess({"image": [open_image(ex.image) for ex in examples], "caption": captions})
        return batch, batch.pop("targets")

    @staticmethod
    def loss(logits, targets):
        return torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), targets, ignore_index=0)

    @staticmethod
    def evaluate(model, examples, batch_size=64, device=None, progress=False, beams: int = 1,
                 guidance: float | None = None) -> dict:
        captions = generate(model, examples, batch_size, beams, device, progress, guidance)
        return metrics(examples, [c.text for c in captions])

