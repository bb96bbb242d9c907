"""Multimodal classification: any of image / text / audio -> one label from a closed set."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from . import TASKS, common

MODALITY_COLUMNS = ("image", "text", "audio")


@dataclass
class ClassifyExample:
    values: dict                   # modality -> path, str, array or modality value
    label: str | None = None
    row: int | None = None


def open_value(modality: str, value):
    from ..modalities import Audio, Image
    if modality == "image":
        return value if isinstance(value, np.ndarray) else Image.open(value)
    if modality == "audio":
        return Audio.open(value)
    return value


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    """A manifest with a `label` column and any of image / text / audio."""
    if spec.startswith("shapes:"):
        raise InputError(f"{spec}: classification reads a manifest (image/text/audio + label); "
                         f"for questions about generated scenes use the vqa task")
    from ..data.manifest import read_manifest
    manifest = read_manifest(spec, ("label",) if need_answers else (), columns, on_bad_rows, decode_files=True)
    present = [m for m in MODALITY_COLUMNS if all(r.get(m) not in (None, "") for r in manifest.rows)]
    if not present:
        raise InputError(f"{spec}: no column among {', '.join(MODALITY_COLUMNS)} is filled in every row")
    examples = [ClassifyExample({m: r[m] for m in present}, r.get("label"), r.get("_row")) for r in manifest.rows]
    return examples, manifest


def vocabulary(examples: list[ClassifyExample]) -> tuple[list[str], list[str]]:
    texts = [ex.values["text"] for ex in examples if "text" in ex.values]
    return texts, sorted({str(ex.label) for ex in examples if ex.label is not None})


def make_batch(model, examples: list[ClassifyExample]):
    """-> (batch for model.forward, the examples in row order)."""
    values = {m: [open_value(m, ex.values[m]) for ex in examples] for m in model.modalities
              if all(m in ex.values for ex in examples)}
    return model.preprocess(values), examples


def predict(model, examples, batch_size: int = 64, device=None, progress: bool = False):
    """-> (predicted labels, their probabilities)."""
    _, labels, scores = common.predict(model, examples, make_batch, batch_size, device, progress)
    return labels, scores


def metrics(truth: list[str], predicted: list[str]) -> dict:
    """accuracy, macro F1 and accuracy per true label."""
    truth = [str(t) for t in truth]
    out = {"accuracy": float(np.mean([t == p for t, p in zip(truth, predicted)])), "items": len(truth)}
    f1s, per_label = [], {}
    for label in sorted(set(truth) | set(predicted)):
        tp = sum(t == p == label for t, p in zip(truth, predicted))
        n_pred, n_true = predicted.count(label), truth.count(label)
        f1s.append(2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0)
        if n_true:
            per_label[label] = tp / n_true
    out["macro_f1"] = float(np.mean(f1s))
    out["per_label"] = per_label
    return out


@TASKS.register("classify")
class ClassifyTask:
    name = "classify"
    curve_metrics = ("accuracy", "macro_f1")
    load_examples = staticmethod(load_examples)
    vocabulary = staticmethod(vocabulary)

    @staticmethod
    def modalities(examples) -> list[str]:
        return [m for m in MODALITY_COLUMNS if all(m in ex.values for ex in examples)]

    @staticmethod
    def make_batch(model, examples, rng, cfg):
        batch, _ = make_batch(model, examples)
        if any(ex.label is None for ex in examples):
            raise InputError("training needs a label for every row")
        return batch, common.label_targets(model, [str(ex.label) for ex in examples], [ex.row for ex in examples],
                                           "label")

    @staticmethod
    def evaluate(model, examples, batch_size=64, device=None, progress=False) -> dict:
        predicted, _ = predict(model, examples, batch_size, device, progress)
        return metrics([ex.label for ex in examples], predicted)
