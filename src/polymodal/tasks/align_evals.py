"""Evaluations of an aligner beyond its training task: retrieval, zero-shot and few-shot
classification, on generated scenes or a user's manifest (`polymodal eval retrieve|zero-shot|few-shot`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.manifest import read_manifest
from ..data.shapes_preset import EXTRA_SHAPES
from .align import retrieval_metrics, zero_shot_metrics
from .base import Task
from .few_shot import FEW_SHOT_SHAPES, few_shot_images, few_shot_metrics
from .image_text import load_examples
from .registry import TASKS


@TASKS.register("retrieve")
class RetrieveEvaluation(Task):
    """R@1 and R@5 both ways over the examples as a gallery (each image's first caption is its
    query text; any image a text is true of counts as a hit)."""

    model_task = "align"

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers, required=("caption",))

    def evaluate(self, model, examples, batch_size=128, device=None, progress=False) -> dict:
        return retrieval_metrics(model, examples, batch_size, device, progress)


@TASKS.register("zero-shot")
class ZeroShotEvaluation(Task):
    """Generated scenes: which colour+shape pairs are present, from the pairs' prompts; a
    manifest with a label column: top-1 accuracy over its labels."""

    model_task = "align"

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers, required=())

    def evaluate(self, model, examples, batch_size=128, device=None, progress=False) -> dict:
        return zero_shot_metrics(model, examples, batch_size, device, progress)


@dataclass
class FewShotExample:
    image: object
    label: str
    novel: bool = False          # a class alignment training never showed (the star, the cross)


@TASKS.register("few-shot")
class FewShotEvaluation(Task):
    """Episodes of `shots` example images per class, the rest queries. Generated data:
    single-object scenes of every shape, the star and the cross included (alignment training
    never shows them); a manifest: its images grouped by label."""

    model_task = "align"
    data_options = ("shots",)
    eval_options = ("shots", "episodes", "method", "invariant", "seed")

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True,
                      shots: int = 5):
        if spec.startswith("shapes:"):
            per_class = max(shots + 1, n // len(FEW_SHOT_SHAPES))
            return [FewShotExample(image, shape, shape in EXTRA_SHAPES)
                    for shape, images in few_shot_images(seed, per_class).items() for image in images], None
        manifest = read_manifest(spec, ("image", "label"), columns, on_bad_rows, decode_files=True)
        return [FewShotExample(r["image"], str(r["label"])) for r in manifest.rows], manifest

    def eval_data_options(self, eval_options: dict) -> dict:
        return {"shots": eval_options["shots"]} if "shots" in eval_options else {}

    def evaluate(self, model, examples, batch_size=128, device=None, progress=False, shots: int = 5,
                 episodes: int = 20, method: str = "prototype", invariant: str | tuple = (), seed: int = 0) -> dict:
        """invariant: what the classes do not depend on ("colour,mirror,place", or a tuple)."""
        by_label: dict[str, list] = {}
        for ex in examples:
            by_label.setdefault(ex.label, []).append(ex.image)
        invariances = tuple(v.strip() for v in invariant.split(",") if v.strip()) if isinstance(invariant, str) \
            else tuple(invariant)
        metrics = few_shot_metrics(model, by_label, shots, episodes, seed, method, batch_size, device, invariances)
        novel = sorted({ex.label for ex in examples if ex.novel})
        if novel:
            metrics["novel_class_accuracy"] = float(np.mean([metrics["per_label"][c] for c in novel]))
        return {"images": len(examples), **metrics}
