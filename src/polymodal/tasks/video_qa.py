"""Video question answering: a clip (its frames, and its sound if the model hears) + a question
-> one answer from a closed vocabulary.

Data: `shapes:motion:<split>` (docs/video.md), or a manifest with `video`, `question` and
`answer` columns (optional `family`, `temporal`). Questions are grouped by clip, so that one
encoded clip serves all its questions in a batch, as VQA does with images.

A model hears the clip's sound track when it has an `audio` encoder: the task option
`audio: true` gives a new model one. A clip without a sound track is heard as silence.

Scores: accuracy, accuracy per question family, and over the temporal questions (those that
one frame cannot answer) and the others (the controls).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..core.errors import InputError
from ..data.manifest import read_manifest
from ..data.motion_preset import AUDIO_RATE, FPS
from ..data.world import parse_spec, shapes
from ..modalities import Video
from .base import TrainableTask, VideoAugmentOptions
from .label_prediction import label_targets, predict_labels
from .metrics.answers import per_type
from .registry import TASKS
from .vqa import Question, as_flag


@dataclass
class ClipExample:
    video: object                          # uint8 [T, H, W, 3] array (a generated clip), a Video or a path
    questions: list[Question] = field(default_factory=list)
    sound: object = None                   # (waveform, rate) of a generated clip; a file's is read from it


def examples_from_clips(clips) -> list[ClipExample]:
    return [ClipExample(c.frames, [Question(q.question, q.answer, q.family, None, q.temporal) for q in c.questions],
                        (c.audio, AUDIO_RATE)) for c in clips]


def examples_from_rows(rows: list[dict]) -> list[ClipExample]:
    """Manifest rows (video, question, answer[, family, temporal]) grouped by clip."""
    grouped: dict[str, list[Question]] = defaultdict(list)
    for r in rows:
        grouped[r["video"]].append(Question(r["question"], r.get("answer"), r.get("family"), r.get("_row"),
                                            as_flag(r.get("temporal"))))
    return [ClipExample(path, qs) for path, qs in grouped.items()]


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    if spec.startswith("shapes:"):
        preset, split = parse_spec(spec)
        if preset != "motion":
            raise InputError(f"{spec}: video questions come from the motion preset (shapes:motion:<split>)")
        return examples_from_clips(shapes(preset, split, seed, n)), None
    required = ("video", "question", "answer") if need_answers else ("video", "question")
    manifest = read_manifest(spec, required, columns, on_bad_rows, decode_files=True)
    return examples_from_rows(manifest.rows), manifest


def silence(seconds: float) -> tuple[np.ndarray, int]:
    return np.zeros(max(1, int(seconds * AUDIO_RATE)), np.float32), AUDIO_RATE


def opened(encoder, video, audio: bool = False) -> object:
    """A generated clip's array as it is; anything else (a path, bytes, a Video) as a Video at
    the video encoder's sampling, with its sound if `audio`: decoded once, for all its uses."""
    if isinstance(video, np.ndarray):
        return video
    processor = encoder.processor
    if isinstance(video, Video):
        return video.sampled(processor.sampling)
    return Video.open(video, frames=processor.frames, size=(processor.size, processor.size), audio=audio)


def clip_inputs(model, ex: ClipExample) -> tuple[object, object]:
    """(the clip as the video processor takes it, its sound as the audio processor takes it,
    or None when the model does not hear)."""
    hears = "audio" in model.encoders
    if isinstance(ex.video, np.ndarray):
        if not hears:
            return ex.video, None
        return ex.video, ex.sound if ex.sound is not None else silence(len(ex.video) / FPS)
    video = opened(model.encoders["video"], ex.video, hears)
    if not hears:
        return video, None
    return video, video.audio if video.audio is not None else silence(video.duration)


def make_batch(model, examples: list[ClipExample], rng: np.random.Generator | None = None,
               questions_per_clip: int | None = None):
    """-> (batch for model.forward, the Question objects in row order)."""
    videos, sounds, questions, index = [], [], [], []
    for i, ex in enumerate(examples):
        qs = ex.questions
        if questions_per_clip and rng is not None and len(qs) > questions_per_clip:
            qs = [qs[j] for j in rng.choice(len(qs), questions_per_clip, replace=False)]
        video, sound = clip_inputs(model, ex)
        videos.append(video)
        sounds.append(sound)
        questions += qs
        index += [i] * len(qs)
    values = {"video": videos, "text": [q.text for q in questions]}
    if "audio" in model.encoders:
        values["audio"] = sounds
    batch = model.preprocess(values)
    batch["video_index"] = torch.tensor(index)
    if "audio" in model.encoders:
        batch["audio_index"] = torch.tensor(index)
    return batch, questions


def video_answer_metrics(questions: list[Question], predicted: list[str]) -> dict:
    """accuracy, per question family, and over temporal / non-temporal questions."""
    right = [q.answer == p for q, p in zip(questions, predicted)]
    out = {"accuracy": float(np.mean(right)) if right else 0.0, "questions": len(right)}
    for name, flag in (("temporal_accuracy", True), ("non_temporal_accuracy", False)):
        picked = [r for r, q in zip(right, questions) if q.relational is flag]
        if picked:
            out[name] = float(np.mean(picked))
    families = per_type(right, [q.family for q in questions])
    if families:
        out["per_type"] = families
    return out


@dataclass
class VideoQAOptions(VideoAugmentOptions):
    audio: bool = False                     # a new model also hears the clip's sound track
    questions_per_clip: int | None = None   # questions of each clip per step, drawn at random (None: all)


@TASKS.register("video-qa")
class VideoQATask(TrainableTask):
    """Clip (+ its sound) + question -> one answer from a closed vocabulary."""

    model_task = "video-qa"
    default_data = "shapes:motion:train"
    curve_metrics = ("accuracy", "temporal_accuracy", "non_temporal_accuracy")
    Options = VideoQAOptions

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers)

    def vocabulary(self, examples):
        texts = [q.text for ex in examples for q in ex.questions]
        return texts, sorted({q.answer for ex in examples for q in ex.questions if q.answer is not None})

    def modalities(self, examples) -> list[str]:
        return ["video", "text"] + (["audio"] if self.options.audio else [])

    def make_batch(self, model, examples, rng):
        examples = [self.augmented(ex, rng) for ex in examples]
        batch, questions = make_batch(model, examples, rng, self.options.questions_per_clip)
        if any(q.answer is None for q in questions):
            raise InputError("training needs an answer for every question")
        return batch, label_targets(model, [q.answer for q in questions], [q.row for q in questions], "answer")

    def augmented(self, ex: ClipExample, rng) -> ClipExample:
        video, sound = self.options.through_codec(ex.video, ex.sound, rng)
        return ex if video is ex.video else replace(ex, video=video, sound=sound)

    def evaluate(self, model, examples, batch_size=64, device=None, progress=False) -> dict:
        questions, answers, _ = predict(model, examples, batch_size, device, progress)
        return video_answer_metrics(questions, answers)


def predict(model, examples: list[ClipExample], batch_size: int = 64, device=None, progress: bool = False):
    """-> (questions in order, predicted answers, their probabilities)."""
    return predict_labels(model, examples, lambda m, chunk: make_batch(m, chunk), batch_size, device, progress)
