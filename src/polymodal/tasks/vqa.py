"""Visual question answering: image + question -> one answer from a closed vocabulary.

Examples are grouped by image so one encoded image serves all its questions in a batch
(20 per sort-of-clevr scene): the image encoder runs 20x less than per-question batching.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.errors import InputError
from ..data.manifest import read_manifest
from ..data.spoken.questions import question_features, variant_of
from ..data.spoken.voices import SPLIT_VOICES
from ..data.world import parse_spec, shapes
from ..modalities import Image
from ..models.reader import ReaderModel
from ..processors.audio import augment_features
from ..processors.image import maybe_jpeg
from . import prompted
from .base import ImageAugmentOptions, TrainableTask
from .label_prediction import label_targets, predict_labels
from .metrics.answers import answer_metrics
from .registry import TASKS


@dataclass
class Question:
    text: str
    answer: str | None = None
    family: str | None = None      # question type, for per-type accuracy
    row: int | None = None         # manifest row, for error messages
    relational: bool | None = None  # None: known from the family for sort-of-clevr
    audio: object = None           # the question spoken (a path or an Audio), if given
    key: tuple | None = None       # (split, seed, scene, question): generated scenes can speak it


@dataclass
class VQAExample:
    image: object                  # uint8 array, modalities.Image, or a path (opened lazily)
    questions: list[Question] = field(default_factory=list)


def examples_from_scenes(scenes, split: str | None = None, seed: int = 0) -> list[VQAExample]:
    return [VQAExample(s.image, [Question(q.question, q.answer, q.family, None, q.relational,
                                          key=(split, seed, i, k) if split else None)
                                 for k, q in enumerate(s.questions)])
            for i, s in enumerate(scenes)]


def examples_from_rows(rows: list[dict]) -> list[VQAExample]:
    """Manifest rows (image, question, answer[, family, relational]) grouped by image file."""
    grouped: dict[str, list[Question]] = defaultdict(list)
    for r in rows:
        grouped[r["image"]].append(Question(r["question"], r.get("answer"), r.get("family"), r.get("_row"),
                                            as_flag(r.get("relational")), r.get("audio") or None))
    return [VQAExample(path, qs) for path, qs in grouped.items()]


def as_flag(value) -> bool | None:
    """A manifest's true/false column (JSON booleans, or CSV text)."""
    if isinstance(value, bool) or value is None:
        return value
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(str(value).lower())


def speakable(examples: list[VQAExample]) -> bool:
    """Every question has audio, or is a generated scene's that can be spoken."""
    return all(q.audio is not None or q.key is not None for ex in examples for q in ex.questions)


ASK_BY = ("text", "speech", "both")      # how questions reach a model that can take either


def spoken(q: Question, processor):
    """The question's audio (its file, or a cached rendition for generated scenes), as the
    model's audio processor takes it."""
    if q.audio is not None:
        return q.audio
    if q.key is None:
        raise InputError(f"question {q.text!r} has no audio (give an audio column, or use shapes: data)")
    split, seed, scene, k = q.key
    return question_features(q.text, split, seed, variant_of(scene, k, split), processor)


def heard(q: Question, processor, rng: np.random.Generator | None, feature_augment: float):
    """The spoken question as the model gets it: in training, sometimes as another voice might
    say it (the features warped, retimed and masked), so that the model learns the words
    rather than the training voices' clips."""
    audio = spoken(q, processor)
    if rng is None or not feature_augment or rng.random() >= feature_augment:
        return audio
    features = audio if processor.is_features(audio) else processor.features(audio)
    return augment_features(features, rng, processor.cfg)


def question_modalities(model, ask_by: str | None) -> list[str]:
    """Which of text / audio carry the questions to this model."""
    has = [m for m in ("text", "audio") if m in model.modalities]
    if ask_by is None:
        return has[:1]                       # text if the model reads it, else speech
    wanted = {"text": ["text"], "speech": ["audio"], "both": ["text", "audio"]}[ask_by]
    if not set(wanted) <= set(has):
        raise InputError(f"this model takes questions as {' and '.join(has)}, not {ask_by}")
    return wanted


def make_batch(model, examples: list[VQAExample], rng: np.random.Generator | None = None,
               questions_per_image: int | None = None, ask_by: str | None = None, feature_augment: float = 0.0):
    """-> (batch for model.forward, the Question objects in row order). feature_augment: the
    probability that a spoken question's features are augmented (training: needs rng)."""
    images, questions, index = [], [], []
    for i, ex in enumerate(examples):
        qs = ex.questions
        if questions_per_image and rng is not None and len(qs) > questions_per_image:
            qs = [qs[j] for j in rng.choice(len(qs), questions_per_image, replace=False)]
        images.append(ex.image if isinstance(ex.image, np.ndarray) else Image.open(ex.image))
        questions += qs
        index += [i] * len(qs)
    values = {"image": images}
    for m in question_modalities(model, ask_by):
        values[m] = [q.text for q in questions] if m == "text" else \
            [heard(q, model.encoders["audio"].processor, rng, feature_augment) for q in questions]
    batch = model.preprocess(values)
    batch["image_index"] = torch.tensor(index)
    return batch, questions


def predict(model, examples: list[VQAExample], batch_size: int = 64, device=None, progress: bool = False,
            ask_by: str | None = None):
    """-> (questions in order, predicted answers, their probabilities)."""
    if prompted.is_chat_model(model):
        asked = [(ex.image, q) for ex in examples for q in ex.questions]
        texts, scores = prompted.answers(model, [(image, q.text) for image, q in asked], batch_size, progress)
        return [q for _, q in asked], texts, scores
    return predict_labels(model, examples, lambda m, chunk: make_batch(m, chunk, ask_by=ask_by), batch_size, device,
                          progress)


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True, spoken: bool | str = False):
    """`shapes:<preset>:<split>` or a manifest path -> (examples, manifest or None).
    spoken: generated scenes also speak their questions, in the split's voices (True) or in
    a named voice set of data/spoken/voices.py (e.g. "train-accents")."""
    if spec.startswith("shapes:"):
        preset, split = parse_spec(spec)
        voices = spoken if isinstance(spoken, str) else split
        if spoken and voices not in SPLIT_VOICES:
            raise InputError(f"spoken: no voice set {voices!r} (known: {', '.join(SPLIT_VOICES)})")
        return examples_from_scenes(shapes(preset, split, seed, n), voices if spoken else None, seed), None
    required = ("image", "question", "answer") if need_answers else ("image", "question")
    manifest = read_manifest(spec, required, columns, on_bad_rows, decode_files=True)
    return examples_from_rows(manifest.rows), manifest


def vocabulary(examples: list[VQAExample]) -> tuple[list[str], list[str]]:
    """(question texts, sorted answers) seen in the data: what a new model's tokenizer and
    answer head are built from."""
    texts = [q.text for ex in examples for q in ex.questions]
    answers = sorted({q.answer for ex in examples for q in ex.questions if q.answer is not None})
    return texts, answers


def augmented(ex: VQAExample, rng: np.random.Generator, options: VQAOptions) -> VQAExample:
    """A training-time copy of the example whose image may be JPEG re-encoded."""
    return VQAExample(maybe_jpeg(ex.image, rng, options.jpeg_augment, options.jpeg_quality), ex.questions)


@dataclass
class VQAOptions(ImageAugmentOptions):
    questions_per_image: int | None = None   # questions of each image per step, drawn at random (None: all)
    feature_augment: float = 0.0      # spoken questions given as cached features: probability of a
                                      # vocal-tract warp, tempo change and SpecAugment masks


@TASKS.register("vqa")
class VQATask(TrainableTask):
    """Image + question (typed or spoken) -> one answer from a closed vocabulary."""

    model_task = "vqa"
    default_data = "shapes:sort-of-clevr:train"
    curve_metrics = ("accuracy", "relational_accuracy", "non_relational_accuracy", "speech_accuracy")
    data_options = ("spoken",)
    eval_options = ("ask_by",)
    Options = VQAOptions

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True,
                      spoken: bool | str = False):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers, spoken)

    def vocabulary(self, examples):
        return vocabulary(examples)

    def modalities(self, examples) -> list[str]:
        return ["image", "text"] + (["audio"] if speakable(examples) else [])

    def make_batch(self, model, examples, rng):
        options = self.options
        if options.jpeg_augment and rng is not None:
            examples = [augmented(ex, rng, options) for ex in examples]
        ask_by, teach = None, isinstance(model, ReaderModel) and rng is not None
        if teach:
            ask_by = "both"            # the typed question teaches the speech reader (ReaderModel.teach)
        elif "text" in model.encoders and "audio" in model.encoders and rng is not None:
            ask_by = ASK_BY[int(rng.integers(len(ASK_BY)))]   # one model for typed and spoken questions
        batch, questions = make_batch(model, examples, rng, options.questions_per_image, ask_by,
                                      options.feature_augment)
        if any(q.answer is None for q in questions):
            raise InputError("training needs an answer for every question")
        batch["teach"] = teach
        return batch, label_targets(model, [q.answer for q in questions], [q.row for q in questions], "answer")

    def loss(self, outputs, targets) -> torch.Tensor:
        if isinstance(outputs, dict):          # a speech reader taught: its distillation loss too
            return torch.nn.functional.cross_entropy(outputs["logits"].float(), targets) + outputs["read_loss"]
        return torch.nn.functional.cross_entropy(outputs.float(), targets)

    def evaluate(self, model, examples, batch_size=64, device=None, progress=False, ask_by: str | None = None) -> dict:
        """With ask_by None, a model that takes both typed and spoken questions, on examples
        that can be spoken (a training run's validation), is scored both ways."""
        questions, answers, _ = predict(model, examples, batch_size, device, progress, ask_by)
        out = answer_metrics(questions, answers)
        if ask_by is None and {"text", "audio"} <= set(model.modalities) and examples and speakable(examples):
            questions, answers, _ = predict(model, examples, batch_size, device, progress, "speech")
            out.update({f"speech_{k}": v for k, v in answer_metrics(questions, answers).items()
                        if k.endswith("accuracy")})
        return out

    def eval_data_options(self, eval_options: dict) -> dict:
        return {"spoken": True} if eval_options.get("ask_by") in ("speech", "both") else {}
