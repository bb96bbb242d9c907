"""Image-text alignment (CLIP-style): contrastive training; retrieval both ways; zero-shot
classification from label prompts (few-shot classification: tasks/few_shot.py).

Contrastive targets are *every* text in the batch that is true of the image, not just its
own caption: in a world of 18 colour+shape pairs, "a red circle" is often true of several
images of one batch, and calling those negatives would teach the model to contradict itself.
Training texts are captions, parts of them and foils (tasks/align_texts.py).

Self-supervision (`view_loss` in the model config, as in SLIP): each image is also matched
with a shifted, mirrored, colour-permuted view of itself among the batch's other views. Text
alone only asks the encoder to tell the three trained shapes apart; matching views asks it to
keep whatever tells one scene from another, outlines included, which is what few-shot
classes it never saw (a star, a cross) rely on.

Binding (`factors` in the model config, models/binding.py): the shipped aligner embeds an
image as a sum over its cells, and a text as a sum over its words, of colour x shape x place
outer products, so that a colour is scored together with the shape in the same cell, not
with any shape of the scene.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core.errors import InputError
from ..data.shapes_preset import COLOURS, SHAPES
from ..layers import to_device
from ..modalities import as_array
from ..models.aligner import Aligner, AlignerConfig
from ..processors.image import augmented_view
from .align_texts import foil, positives, training_text
from .base import ImageAugmentOptions
from .image_text import ImageTextTask, fill_text_vocab, jpeg_augmented, open_image
from .metrics.retrieval import recall_both_ways
from .registry import TASKS

PAIR_LABELS = [f"{c} {s}" for c in COLOURS for s in SHAPES]      # zero-shot presence classes


@torch.no_grad()
def embed_images(model, images: list, batch_size: int = 128, device=None, progress: bool = False) -> torch.Tensor:
    model.eval()
    device = device or next(model.parameters()).device
    chunks = []
    for start in tqdm(range(0, len(images), batch_size), disable=not progress, desc="embedding images"):
        pixels = model.preprocess({"image": [open_image(im) for im in images[start:start + batch_size]]})["image"]
        chunks.append(model.encode_image(to_device(pixels, device)).float().cpu())
    return torch.cat(chunks)


@torch.no_grad()
def embed_texts(model, texts: list[str], batch_size: int = 256, device=None) -> torch.Tensor:
    model.eval()
    device = device or next(model.parameters()).device
    chunks = [model.encode_text(to_device(model.preprocess({"text": texts[s:s + batch_size]})["text"], device))
              for s in range(0, len(texts), batch_size)]
    return torch.cat(chunks).float().cpu()


def retrieval_metrics(model, examples, batch_size=128, device=None, progress=False, image_emb=None) -> dict:
    """R@1 and R@5 both ways over the examples as a gallery; each image's first caption is
    its query text, and any image the text is true of counts as a hit."""
    texts = [ex.captions[0] for ex in examples]
    image_emb = embed_images(model, [ex.image for ex in examples], batch_size, device, progress) \
        if image_emb is None else image_emb
    sims = image_emb @ embed_texts(model, texts, device=device).T             # [images, texts]
    hits = positives(texts, examples)
    return {"gallery": len(examples), **recall_both_ways(sims, hits, "image")}


def label_vectors(model, labels: list[str], device=None) -> torch.Tensor:
    """[labels, D] embeddings of the prompts made of the labels."""
    return embed_texts(model, [model.config.prompt.format(label) for label in labels], device=device)


def zero_shot_scores(model, image_emb: torch.Tensor, labels: list[str], device=None,
                     label_emb: torch.Tensor | None = None) -> torch.Tensor:
    """[images, labels] probabilities from the prompts made of the labels (label_emb: their
    embeddings, when already made)."""
    label_emb = label_vectors(model, labels, device) if label_emb is None else label_emb
    return (model.scale().detach().cpu() * image_emb @ label_emb.T).softmax(-1)


def presence_metrics(model, examples, image_emb, device=None) -> dict:
    """Zero-shot presence of colour+shape pairs: for an image with k objects, the share of
    its k best-scoring pair prompts that are really in it (R-precision), and how often the
    single best one is."""
    scores = zero_shot_scores(model, image_emb, PAIR_LABELS, device)
    rprec, top1 = [], []
    for ex, row in zip(examples, scores):
        present = {f"{o['colour']} {o['shape']}" for o in ex.objects}
        best = [PAIR_LABELS[i] for i in row.argsort(descending=True)[:len(present)].tolist()]
        rprec.append(len(present & set(best)) / len(present))
        top1.append(best[0] in present)
    return {"zero_shot_presence": float(np.mean(rprec)), "zero_shot_top1": float(np.mean(top1))}


def zero_shot_label_metrics(model, examples, image_emb, device=None) -> dict:
    """Zero-shot classification of a manifest with a label column: top-1 accuracy over its labels."""
    labels = sorted({str(ex.label) for ex in examples})
    best = zero_shot_scores(model, image_emb, labels, device).argmax(-1).tolist()
    return {"zero_shot_accuracy": float(np.mean([labels[b] == str(ex.label) for b, ex in zip(best, examples)])),
            "labels": len(labels)}


def zero_shot_metrics(model, examples, batch_size=128, device=None, progress=False) -> dict:
    image_emb = embed_images(model, [ex.image for ex in examples], batch_size, device, progress)
    if all(ex.objects for ex in examples):
        return {"images": len(examples), **presence_metrics(model, examples, image_emb, device)}
    if all(ex.label is not None for ex in examples):
        return {"images": len(examples), **zero_shot_label_metrics(model, examples, image_emb, device)}
    raise InputError("zero-shot evaluation needs generated scenes or a manifest with a label column")


def alignment_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy both ways, against the spread over every true pairing; a text true of
    no image of the batch (a foil) is only a negative, so it has no text-to-image term."""
    logits = logits.float()
    i2t = -(targets / targets.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    true_of_some = targets.sum(0) > 0
    t, lg = targets[:, true_of_some], logits[:, true_of_some]
    t2i = -(t / t.sum(0, keepdim=True) * lg.log_softmax(0)).sum(0).mean()
    return (i2t + t2i) / 2


VIEW_TEMPERATURE = 0.1      # SimCLR's value for batches of this size


def view_loss(z: torch.Tensor) -> torch.Tensor:
    """NT-Xent over [2N, D] unit vectors where rows i and i + N are two views of one image:
    each must pick its partner out of the other 2N - 2."""
    z = z.float()
    n = z.shape[0] // 2
    sims = (z @ z.T / VIEW_TEMPERATURE).fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return torch.nn.functional.cross_entropy(sims, partner)


@dataclass
class AlignOptions(ImageAugmentOptions):
    hard_negatives: float = 0.0       # share of images that also bring a false text (one attribute or
                                      # relation changed) as a negative


@TASKS.register("align")
class AlignTask(ImageTextTask):
    """Images and texts into one space, where a text scores highest with the images it is true of."""

    model_task = "align"
    curve_metrics = ("text_to_image_r1", "text_to_image_r5", "zero_shot_presence")
    Options = AlignOptions

    def build_model(self, spec: dict, examples):
        return Aligner(AlignerConfig.from_dict(fill_text_vocab(spec, self.vocabulary(examples)[0]), "align model"))

    def make_batch(self, model, examples, rng):
        if any(not ex.captions for ex in examples):
            raise InputError("alignment training needs a caption for every image")
        rng = rng if rng is not None else np.random.default_rng(0)
        options = self.options
        examples = [jpeg_augmented(ex, rng, options) for ex in examples]
        texts = [training_text(ex, rng) for ex in examples]
        if options.hard_negatives:
            foils = [foil(t, ex, rng) for t, ex in zip(texts, examples) if rng.random() < options.hard_negatives]
            texts += [f for f in foils if f is not None]
        images = [open_image(ex.image) for ex in examples]
        batch = model.preprocess({"image": images, "text": texts})
        if model.config.view_loss:
            batch["views"] = model.preprocess({"image": [augmented_view(as_array(im), rng) for im in images]})["image"]
        return batch, positives(texts, examples).float()

    def loss(self, outputs, targets):
        if isinstance(outputs, dict):
            return alignment_loss(outputs["logits"], targets) + outputs["view_loss"] * view_loss(outputs["views"])
        return alignment_loss(outputs, targets)

    def evaluate(self, model, examples, batch_size=128, device=None, progress=False) -> dict:
        image_emb = embed_images(model, [ex.image for ex in examples], batch_size, device, progress)
        out = retrieval_metrics(model, examples, batch_size, device, image_emb=image_emb)
        if all(ex.objects for ex in examples):
            out.update(presence_metrics(model, examples, image_emb, device))
        return out
