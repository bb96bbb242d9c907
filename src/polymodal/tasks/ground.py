"""Image grounding: image + referring phrase -> box. Scored by accuracy at IoU >= 0.5 and by
mean IoU, overall and per kind of phrase (attribute: "the red circle"; relational: "the
square left of the green circle")."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..core.errors import InputError
from ..core.results import Grounding
from ..data.manifest import read_manifest
from ..data.world import parse_spec, shapes
from ..layers import to_device
from ..modalities import as_array
from ..models.grounder import Grounder, GrounderConfig
from ..processors.image import maybe_jpeg
from . import prompted
from .image_text import ImageTextTask, fill_text_vocab, open_image
from .metrics.boxes import box_metrics
from .registry import TASKS

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
        preset, split = parse_spec(spec)
        if preset != "shapes":
            raise InputError(f"{spec}: referring expressions come with the shapes preset (shapes:shapes:<split>)")
        return examples_from_scenes(shapes(preset, split, seed, n)), None
    required = ("image", "phrase", "box") if need_answers else ("image", "phrase")
    manifest = read_manifest(spec, required, columns, on_bad_rows, decode_files=True)
    return [GroundExample(r["image"], r["phrase"], r.get("box"), r.get("kind"), r.get("_row"))
            for r in manifest.rows], manifest


def make_inputs(model, examples: list[GroundExample]):
    """-> (batch for the model, [(width, height)] of each image)."""
    images = [open_image(ex.image) for ex in examples]
    arrays = [as_array(im) for im in images]
    sizes = [(a.shape[1], a.shape[0]) for a in arrays]
    return model.preprocess({"image": arrays, "text": [ex.phrase for ex in examples]}), sizes


@torch.no_grad()
def locate(model, examples: list[GroundExample], batch_size: int = 128, device=None,
           progress: bool = False) -> list[Grounding]:
    if prompted.is_chat_model(model):
        return prompted.groundings(model, [(ex.image, ex.phrase) for ex in examples], batch_size, progress)
    model.eval()
    device = device or next(model.parameters()).device
    out = []
    for start in tqdm(range(0, len(examples), batch_size), disable=not progress, desc="grounding"):
        batch, sizes = make_inputs(model, examples[start:start + batch_size])
        out += model.locate(to_device(batch, device), sizes)
    return out


@TASKS.register("ground")
class GroundTask(ImageTextTask):
    """Image + referring phrase -> the box of what it names."""

    model_task = "ground"
    curve_metrics = ("accuracy_iou50", "mean_iou")
    data_options = ()

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers)

    def vocabulary(self, examples):
        return [ex.phrase for ex in examples], []

    def build_model(self, spec: dict, examples):
        return Grounder(GrounderConfig.from_dict(fill_text_vocab(spec, self.vocabulary(examples)[0]), "ground model"))

    def make_batch(self, model, examples, rng):
        if any(ex.box is None for ex in examples):
            raise InputError("grounding training needs a box for every phrase")
        options = self.options
        if rng is not None and options.jpeg_augment:
            examples = [dataclasses.replace(ex, image=maybe_jpeg(ex.image, rng, options.jpeg_augment,
                                                                 options.jpeg_quality)) for ex in examples]
        batch, sizes = make_inputs(model, examples)
        boxes = torch.tensor([[v / s for v, s in zip(ex.box, (w, h, w, h))] for ex, (w, h) in zip(examples, sizes)],
                             dtype=torch.float32)
        side = model.image_encoder.side
        cx = ((boxes[:, 0] + boxes[:, 2]) / 2 * side).long().clamp(0, side - 1)
        cy = ((boxes[:, 1] + boxes[:, 3]) / 2 * side).long().clamp(0, side - 1)
        return batch, {"cell": cy * side + cx, "box": boxes}

    def loss(self, outputs, targets):
        """Cross-entropy over cells for the cell holding the box centre, plus L1 on that
        cell's box."""
        cell = targets["cell"]
        rows = torch.arange(len(cell), device=cell.device)
        ce = torch.nn.functional.cross_entropy(outputs["logits"].float(), cell)
        l1 = (outputs["boxes"][rows, cell].float() - targets["box"]).abs().sum(-1).mean()
        return ce + BOX_WEIGHT * l1

    def evaluate(self, model, examples, batch_size=128, device=None, progress=False) -> dict:
        found = locate(model, examples, batch_size, device, progress)
        return box_metrics([ex.box for ex in examples], [g.box for g in found], [ex.kind for ex in examples])
