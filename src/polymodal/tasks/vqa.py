"""Visual question answering: image + question -> one answer from a closed vocabulary.

Examples are grouped by image so one encoded image serves all its questions in a batch
(20 per sort-of-clevr scene): the image encoder runs 20x less than per-question batching.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch

from ..data import sort_of_clevr
from ..errors import InputError
from . import TASKS, common


@dataclass
class Question:
    text: str
    answer: str | None = None
    family: str | None = None      # question type, for per-type accuracy
    row: int | None = None         # manifest row, for error messages
    relational: bool | None = None  # None: known from the family for sort-of-clevr


@dataclass
class VQAExample:
    image: object                  # uint8 array, modalities.Image, or a path (opened lazily)
    questions: list[Question] = field(default_factory=list)


def examples_from_scenes(scenes) -> list[VQAExample]:
    return [VQAExample(s.image, [Question(q.question, q.answer, q.family, None, q.relational) for q in s.questions])
            for s in scenes]


def examples_from_rows(rows: list[dict]) -> list[VQAExample]:
    """Manifest rows (image, question, answer[, family, relational]) grouped by image file."""
    grouped: dict[str, list[Question]] = defaultdict(list)
    for r in rows:
        grouped[r["image"]].append(Question(r["question"], r.get("answer"), r.get("family"), r.get("_row"),
                                            as_flag(r.get("relational"))))
    return [VQAExample(path, qs) for path, qs in grouped.items()]


def as_flag(value) -> bool | None:
    """A manifest's true/false column (JSON booleans, or CSV text)."""
    if isinstance(value, bool) or value is None:
        return value
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(str(value).lower())


def is_relational(q: Question) -> bool | None:
    if q.relational is not None:
        return q.relational
    spec = sort_of_clevr.QUESTION_FAMILIES.get(q.family or "")
    return None if spec is None else spec[1]


def make_batch(model, examples: list[VQAExample], rng: np.random.Generator | None = None,
               questions_per_image: int | None = None):
    """-> (batch for model.forward, the Question objects in row order)."""
    from ..modalities import Image
    images, questions, index = [], [], []
    for i, ex in enumerate(examples):
        qs = ex.questions
        if questions_per_image and rng is not None and len(qs) > questions_per_image:
            qs = [qs[j] for j in rng.choice(len(qs), questions_per_image, replace=False)]
        images.append(ex.image if isinstance(ex.image, np.ndarray) else Image.open(ex.image))
        questions += qs
        index += [i] * len(qs)
    batch = model.preprocess({"image": images, "text": [q.text for q in questions]})
    batch["image_index"] = torch.tensor(index)
    return batch, questions


def metrics(questions: list[Question], predicted: list[str]) -> dict:
    """accuracy, relational / non-relational accuracy and accuracy per question type."""
    right = np.array([q.answer == p for q, p in zip(questions, predicted)], dtype=float)
    out = {"accuracy": float(right.mean()) if len(right) else 0.0, "questions": len(right)}
    rel = [is_relational(q) for q in questions]
    for name, flag in (("relational_accuracy", True), ("non_relational_accuracy", False)):
        picked = [r for r, f in zip(right, rel) if f is flag]
        if picked:
            out[name] = float(np.mean(picked))
    families = sorted({q.family for q in questions if q.family})
    if families:
        out["per_type"] = {f: float(np.mean([r for r, q in zip(right, questions) if q.family == f]))
                           for f in families}
    return out


def predict(model, examples: list[VQAExample], batch_size: int = 64, device=None, progress: bool = False):
    """-> (questions in order, predicted answers, their probabilities)."""
    return common.predict(model, examples, make_batch, batch_size, device, progress)


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    """`shapes:<preset>:<split>` or a manifest path -> (examples, manifest or None)."""
    if spec.startswith("shapes:"):
        from ..data.world import parse_spec, shapes
        preset, split = parse_spec(spec)
        return examples_from_scenes(shapes(preset, split, seed, n)), None
    from ..data.manifest import read_manifest
    required = ("image", "question", "answer") if need_answers else ("image", "question")
    manifest = read_manifest(spec, required, columns, on_bad_rows, decode_files=True)
    return examples_from_rows(manifest.rows), manifest


def vocabulary(examples: list[VQAExample]) -> tuple[list[str], list[str]]:
    """(question texts, sorted answers) seen in the data: what a new model's tokenizer and
    answer head are built from."""
    texts = [q.text for ex in examples for q in ex.questions]
    answers = sorted({q.answer for ex in examples for q in ex.questions if q.answer is not None})
    return texts, answers


def augmented(ex: VQAExample, rng: np.random.Generator, cfg) -> VQAExample:
    """A training-time copy of the example whose image may be JPEG re-encoded."""
    from ..processors.image import maybe_jpeg
    return VQAExample(maybe_jpeg(ex.image, rng, cfg.jpeg_augment, cfg.jpeg_quality), ex.questions)


@TASKS.register("vqa")
class VQATask:
    """What the trainer and the CLI need to know about VQA."""

    name = "vqa"
    curve_metrics = ("accuracy", "relational_accuracy", "non_relational_accuracy")
    load_examples = staticmethod(load_examples)
    vocabulary = staticmethod(vocabulary)

    @staticmethod
    def modalities(examples) -> list[str]:
        return ["image", "text"]

    @staticmethod
    def make_batch(model, examples, rng, cfg):
        if cfg.jpeg_augment and rng is not None:
            examples = [augmented(ex, rng, cfg) for ex in examples]
        batch, questions = make_batch(model, examples, rng, cfg.questions_per_image)
        if any(q.answer is None for q in questions):
            raise InputError("training needs an answer for every question")
        return batch, common.label_targets(model, [q.answer for q in questions], [q.row for q in questions], "answer")

    @staticmethod
    def evaluate(model, examples, batch_size=64, device=None, progress=False) -> dict:
        questions, answers, _ = predict(model, examples, batch_size, device, progress)
        return metrics(questions, answers)
