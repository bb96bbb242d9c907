"""Image grounding: image + referring phrase -> box. Scored by accuracy at IoU >= 0.5 and by
mean IoU, overall and per kind of phrase (attribute: "the red circle"; relational: "the
square left of the green circle")."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..layers import to_device
from . import TASKS, image_text
from .image_text import open_image

BOX_WEIGHT = 5.0     # weight of the L1 box loss (in image widths) beside the cell cross-entropy


@dataclass
class GroundExample:
    image: object                  # uint8 array, modalities.Image or a path
    phrase: str
    box: list[float] | None = None     # [x0, y0, x1, y1] in pixels (None at inference)
    kind: str | None = None        # "attribute" / "relational" for shapes phrases
    row: int | None = None


def examples_from_scenes(scenes) -> list[GroundExample]:
    return [GroundExample(s.image, p.text, list(map(float, p.box)), p.kind) for s in scenes for p in s.phrases]


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    if spec.startswith("shapes:"):
        from ..data.world import parse_spec, shapes
        preset, split = parse_spec(spec)
        if preset != "shapes":
            raise InputError(f"{spec}: referring expressions come with the shapes preset (shapes:shapes:<split>)")
        return examples_from_scenes(shapes(preset, split, seed, n)), None
    from ..data.manifest import read_manifest
    required = ("image", "phrase", "box") if need_answers else ("image", "phrase")
    manifest = read_manifest(spec, required, columns, on_bad_rows, decode_files=True)
    return [GroundExample(r["image"], r["phrase"], r.get("box"), r.get("kind"), r.get("_row"))
            for r in manifest.rows], manifest


def vocabulary(examples: list[GroundExample]) -> tuple[list[str], list[str]]:
    return [ex.phrase for ex in examples], []


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def make_inputs(model, examples: list[GroundExample]):
    """-> (batch for the model, [(width, height)] of each image)."""
    images = [open_image(ex.image) for ex in examples]
    arrays = [getattr(im, "array", im) for im in images]
    sizes = [(a.shape[1], a.shape[0]) for a in arrays]
    return model.preprocess({"image": arrays, "text": [ex.phrase for ex in examples]}), sizes


@torch.no_grad()
def locate(model, examples: list[GroundExample], batch_size: int = 128, device=None, progress: bool = False):
    from tqdm.auto import tqdm
    model.eval()
    device = device or next(model.parameters()).device
    out = []
    for start in tqdm(range(0, len(examples), batch_size), disable=not progress, desc="grounding"):
        batch, sizes = make_inputs(model, examples[start:start + batch_size])
        out += model.locate(to_device(batch, device), sizes)
    return out


def metrics(examples: list[GroundExample], predicted: list) -> dict:
    if any(ex.box is None for ex in examples):
        raise InputError("grounding evaluation needs a box for every phrase")
    ious = np.array([iou(p.box, ex.box) for p, ex in zip(predicted, examples)])
    out = {"phrases": len(examples), "accuracy_iou50": float((ious >= 0.5).mean()), "mean_iou": float(ious.mean())}
    for kind in sorted({ex.kind for ex in examples if ex.kind}):
        chosen = np.array([ex.kind == kind for ex in examples])
        out[f"{kind}_accuracy_iou50"] = float((ious[chosen] >= 0.5).mean())
        out[f"{kind}_phrases"] = int(chosen.sum())
    return out


@TASKS.register("ground")
class GroundTask:
    name = "ground"
    curve_metrics = ("accuracy_iou50", "mean_iou")
    load_examples = staticmethod(load_examples)
    vocabulary = staticmethod(vocabulary)

    @staticmethod
    def modalities(examples) -> list[str]:
        return ["image", "text"]

    @staticmethod
    def build_model(spec: dict, examples):
        from ..models.grounder import Grounder, GrounderConfig
        return Grounder(GrounderConfig.from_dict(image_text.fill_text_vocab(spec, vocabulary(examples)[0])))

    @staticmethod
    def make_batch(model, examples, rng, cfg):
        if any(ex.box is None for ex in examples):
            raise InputError("grounding training needs a box for every phrase")
        if rng is not None and cfg.jpeg_augment:
            from ..processors.image import maybe_jpeg
            examples = [dataclasses.replace(ex, image=maybe_jpeg(ex.image, rng, cfg.jpeg_augment, cfg.jpeg_quality))
                        for ex in examples]
        batch, sizes = make_inputs(model, examples)
        boxes = torch.tensor([[v / s for v, s in zip(ex.box, (w, h, w, h))] for ex, (w, h) in zip(examples, sizes)],
                             dtype=torch.float32)
        side = model.image_encoder.side
        cx = ((boxes[:, 0] + boxes[:, 2]) / 2 * side).long().clamp(0, side - 1)
        cy = ((boxes[:, 1] + boxes[:, 3]) / 2 * side).long().clamp(0, side - 1)
        return batch, {"cell": cy * side + cx, "box": boxes}

    @staticmethod
    def loss(outputs, targets):
        """Cross-entropy over cells for the cell holding the box centre, plus L1 on that
        cell's box."""
        cell = targets["cell"]
        rows = torch.arange(len(cell), device=cell.device)
        ce = torch.nn.functional.cross_entropy(outputs["logits"].float(), cell)
        l1 = (outputs["boxes"][rows, cell].float() - targets["box"]).abs().sum(-1).mean()
        return ce + BOX_WEIGHT * l1

    @staticmethod
    def evaluate(model, examples, batch_size=128, device=None, progress=False) -> dict:
        return metrics(examples, locate(model, examples, batch_size, device, progress))
