"""The task interface: all that the trainer, the CLI, `pm.build`, the pipelines and the server
know of a task. A task is registered by name in TASKS (tasks/registry.py) and built with its
options: `TASKS.build("vqa", questions_per_image=6)`.

Every task says how its data is read and how its models are scored:

- `load_examples(spec, seed, n, columns, on_bad_rows, need_answers, **data_options)`: generated
  data (`shapes:<preset>:<split>`, `spoken:<split>`) or a user's manifest -> (examples,
  the manifest or None). `data_options` names the extra options it takes (a recipe's data
  entry may give them, e.g. `spoken: true`).
- `evaluate(model, examples, batch_size, device, progress, **eval_options)` -> metrics; the
  CLI's `eval` passes the flags named in `eval_options`.
- `model_task`: the task its models are for (their config's `task`): itself for a task that
  trains, the aligner's task for `retrieve`, `zero-shot` and `few-shot`, and so on.

A TrainableTask also says how a model for it is built and fed:

- `vocabulary(examples)` -> (texts, labels) and `modalities(examples)`: what sizes a new model;
- `build_model(spec, examples)`: the model a spec describes (default: encoders -> fusion ->
  head); `model_spec(...)` turns pm.build's arguments into such a spec;
- `make_batch(model, examples, rng)` -> (batch, targets), `rng` None outside training;
- `loss(outputs, targets)` (default: cross-entropy over labels); `curve_metrics`, the
  validation metrics drawn in the training curve.

A task's own options (augmentations, question sampling, hard negatives) are its `Options`,
given in a recipe's `task_options`; the training loop never sees them.
"""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from ..core.config import Config, check_keys
from ..core.errors import ConfigError
from ..data.motion_preset import FPS as MOTION_FPS
from ..models.base import Pretrained
from ..models.multimodal import ModelConfig, MultimodalModel
from ..models.reader import ReaderModel, ReaderModelConfig
from ..processors.text import WordTokenizer
from ..processors.video import check_codec_options, maybe_codec

LOWER_IS_BETTER = ("wer", "cer", "rmse", "mae", "loss", "kid")    # metrics that fall as a model improves


@dataclass
class TaskOptions(Config):
    """A task's own training options (none here; each task that has some extends this)."""


@dataclass
class ImageAugmentOptions(TaskOptions):
    jpeg_augment: float = 0.0         # probability that a training image is JPEG re-encoded
    jpeg_quality: tuple = (50, 95)    # its quality, drawn uniformly from this range


@dataclass
class VideoAugmentOptions(TaskOptions):
    codec_augment: float = 0.0        # probability that a generated training clip goes through an MP4 and back
    codec_crf: tuple = (10, 30)       # its H.264 quality (crf, lower is better), drawn uniformly from this range

    def __post_init__(self):
        check_codec_options(self.codec_augment, tuple(self.codec_crf), "task options")

    def through_codec(self, video, sound, rng) -> tuple:
        """(video, sound) of a training example: a generated clip (an array, at the motion
        world's frame rate) through an MP4 and back codec_augment of the time; anything else
        (a clip from a file, or outside training: rng None) as it is."""
        if not self.codec_augment or rng is None or not isinstance(video, np.ndarray):
            return video, sound
        return maybe_codec(video, sound, MOTION_FPS, rng, self.codec_augment, tuple(self.codec_crf))


class Task(ABC):
    model_task: str = ""                  # the task of the models it scores (their config's "task")
    default_data: str | None = None       # the generated data pm.build sizes a new model by, if none is named
    data_options: tuple[str, ...] = ()    # the keyword options load_examples takes
    eval_options: tuple[str, ...] = ()    # the keyword options evaluate takes
    Options: type[TaskOptions] = TaskOptions     # the task's own training options

    def __init__(self, **options):
        self.options = self.Options.from_dict(options, f"{self.model_task} task options")

    @abstractmethod
    def load_examples(self, spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                      on_bad_rows: str = "fail", need_answers: bool = True, **data_options) -> tuple[list, object]:
        """-> (examples, the manifest they came from, or None for generated data)."""

    @abstractmethod
    def evaluate(self, model, examples: list, batch_size: int = 64, device=None, progress: bool = False,
                 **eval_options) -> dict:
        """-> metrics (numbers, and dicts of numbers per type of question, label...)."""

    def load_data(self, spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True, **data_options) -> tuple[list, object]:
        """load_examples, with the data options checked against those the task names."""
        check_keys(data_options, self.data_options, f"{self.model_task} data options")
        return self.load_examples(spec, seed, n, columns, on_bad_rows, need_answers, **data_options)

    def eval_data_options(self, eval_options: dict) -> dict:
        """The data options an evaluation's options call for (e.g. questions spoken, to be
        asked by speech); none by default."""
        return {}


class TrainableTask(Task):
    curve_metrics: tuple[str, ...] = ("accuracy",)
    unknown_words = False       # a new text tokenizer maps unknown words to <unk> instead of refusing them
    chooses_fusion = True       # its models are encoders -> fusion -> head, for a fusion strategy chosen by
                                # the user; False: a model of the task's own kind (a captioner, an aligner...)
    default_fusion = "hybrid:cross-attention"     # pm.build's, when none is named

    @abstractmethod
    def vocabulary(self, examples: list) -> tuple[list[str], list[str]]:
        """(texts a new model's tokenizer is built from, the labels or answers it can give)."""

    @abstractmethod
    def modalities(self, examples: list) -> list[str]:
        """The modalities the examples hold (a new model gets an encoder for each)."""

    @abstractmethod
    def make_batch(self, model, examples: list, rng) -> tuple[dict, object]:
        """-> (the batch model.forward takes, the targets loss compares its outputs with).
        rng: a numpy Generator in training (augmentations, sampling), None otherwise."""

    def loss(self, outputs, targets) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(outputs.float(), targets)

    @property
    def selection(self) -> tuple[str, bool]:
        """(the validation metric a best checkpoint is chosen by, whether lower is better): the
        first curve metric."""
        name = self.curve_metrics[0]
        return name, name in LOWER_IS_BETTER

    def model_spec(self, encoders: dict, fusion: str | None, fusion_config: dict, hidden: int) -> dict:
        """pm.build's arguments as this task's model spec: encoders (modality -> {name, config})
        into a fusion of the given strategy, or for a task of its own kind its own_model_spec."""
        if not self.chooses_fusion:
            if fusion or fusion_config:
                raise ConfigError(f"a {self.model_task} model is of its own kind, with no fusion strategy to "
                                  f"choose (fusion applies to vqa, classify and text-qa)")
            return self.own_model_spec(encoders, hidden)
        return {"encoders": encoders, "fusion": fusion or self.default_fusion, "fusion_config": fusion_config,
                "hidden": hidden}

    def own_model_spec(self, encoders: dict, hidden: int) -> dict:
        """A task of its own kind: pm.build's encoders and width as its model's spec (its
        model's defaults, unless the task says otherwise)."""
        return {}

    def build_model(self, spec: dict, examples: list) -> Pretrained:
        """The encoders -> fusion -> head model a spec describes, sized by the data: the encoders
        of the modalities it holds, the text tokenizer's vocabulary, the labels (or answers).
        spec["kind"] may name multimodal-reader (a speech reader writing another modality)."""
        spec = copy.deepcopy(spec)
        kind = spec.pop("kind", "multimodal")
        classes = {"multimodal": (MultimodalModel, ModelConfig), "multimodal-reader": (ReaderModel, ReaderModelConfig)}
        if kind not in classes:
            raise ConfigError(f"model kind {kind!r}: a {self.model_task} model is one of {', '.join(classes)}")
        model_class, config_class = classes[kind]
        texts, answers = self.vocabulary(examples)
        present = self.modalities(examples)
        given = spec.get("encoders")
        if not isinstance(given, dict) or not isinstance(spec.get("fusion"), str):
            raise ConfigError("a fusion model needs 'encoders' (modality -> {name, config}) and 'fusion'")
        encoders = {m: e for m, e in given.items() if m in present}
        if not encoders:
            raise ConfigError(f"the model has no encoder for the data's modalities ({', '.join(present)})")
        for m, e in encoders.items():
            if not isinstance(e, dict) or not isinstance(e.get("name"), str):
                raise ConfigError(f"the {m} encoder is {{name: ..., config: {{...}}}}, got {e!r}")
            check_keys(e, ("name", "config"), f"the {m} encoder")
            e.setdefault("config", {})
        text = encoders.get("text")
        if text and text["name"] == "transformer" and "vocab" not in text["config"]:
            text["config"]["vocab"] = WordTokenizer.build(texts, unknown=self.unknown_words).vocab
        spec["encoders"] = encoders
        spec.setdefault("labels", answers)
        spec["task"] = self.model_task
        return model_class(config_class.from_dict(spec, f"{self.model_task} model"))
