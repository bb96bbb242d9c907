"""Multimodal classification: any of image / text / audio / video -> one label from a closed set
(a clip is classified by a model with a video encoder, its frames fused with each other first)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError
from ..data.manifest import read_manifest
from ..modalities import Audio, Image, Video
from .base import TrainableTask
from .label_prediction import label_targets, predict_labels
from .metrics.answers import label_metrics
from .registry import TASKS
from .video_qa import opened

MODALITY_COLUMNS = ("image", "text", "audio", "video")


@dataclass
class ClassifyExample:
    values: dict                   # modality -> path, str, array or modality value
    label: str | None = None
    row: int | None = None


def open_value(modality: str, value, model=None):
    if modality == "image":
        return value if isinstance(value, np.ndarray) else Image.open(value)
    if modality == "audio":
        return Audio.open(value)
    if modality == "video":                        # decoded at the model's own sampling
        return opened(model.encoders["video"], value) if model is not None else Video.open(value)
    return value


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    """A manifest with a `label` column and any of image / text / audio / video."""
    if spec.startswith("shapes:"):
        raise InputError(f"{spec}: classification reads a manifest (image/text/audio + label); "
                         f"for questions about generated scenes use the vqa task")
    manifest = read_manifest(spec, ("label",) if need_answers else (), columns, on_bad_rows, decode_files=True)
    present = [m for m in MODALITY_COLUMNS if all(r.get(m) not in (None, "") for r in manifest.rows)]
    if not present:
        raise InputError(f"{spec}: no column among {', '.join(MODALITY_COLUMNS)} is filled in every row")
    examples = [ClassifyExample({m: r[m] for m in present}, r.get("label"), r.get("_row")) for r in manifest.rows]
    return examples, manifest


def make_batch(model, examples: list[ClassifyExample]):
    """-> (batch for model.forward, the examples in row order)."""
    values = {m: [open_value(m, ex.values[m], model) for ex in examples] for m in model.modalities
              if all(m in ex.values for ex in examples)}
    return model.preprocess(values), examples


def predict(model, examples, batch_size: int = 64, device=None, progress: bool = False):
    """-> (predicted labels, their probabilities)."""
    _, labels, scores = predict_labels(model, examples, make_batch, batch_size, device, progress)
    return labels, scores


@TASKS.register("classify")
class ClassifyTask(TrainableTask):
    """A manifest's image / text / audio columns -> its label column."""

    model_task = "classify"
    curve_metrics = ("accuracy", "macro_f1")

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers)

    def vocabulary(self, examples):
        texts = [ex.values["text"] for ex in examples if "text" in ex.values]
        return texts, sorted({str(ex.label) for ex in examples if ex.label is not None})

    def modalities(self, examples) -> list[str]:
        return [m for m in MODALITY_COLUMNS if all(m in ex.values for ex in examples)]

    def make_batch(self, model, examples, rng):
        batch, _ = make_batch(model, examples)
        if any(ex.label is None for ex in examples):
            raise InputError("training needs a label for every row")
        return batch, label_targets(model, [str(ex.label) for ex in examples], [ex.row for ex in examples], "label")

    def evaluate(self, model, examples, batch_size=64, device=None, progress=False) -> dict:
        predicted, _ = predict(model, examples, batch_size, device, progress)
        return label_metrics([ex.label for ex in examples], predicted)
