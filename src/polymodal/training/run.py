"""From a recipe (or CLI flags) to a trained model folder."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch

from ..core import files, values
from ..core.errors import ConfigError, InputError
from ..data.manifest import report_bad_rows
from ..models.base import Pretrained
from ..models.multimodal import MultimodalModel
from ..tasks.base import TrainableTask
from ..tasks.registry import TASKS
from . import warm_start
from .config import TrainConfig
from .recipes import DATA_KEYS, check_recipe
from .trainer import Trainer


def trainable_task(name: str, options: dict | None = None) -> TrainableTask:
    """The task by name, built with its options, checked to be one that trains."""
    task_class = TASKS.get(name)
    if not issubclass(task_class, TrainableTask):
        raise ConfigError(f"{name} is an evaluation of {task_class.model_task} models, not a task to train")
    return task_class(**(options or {}))


def train_config(train: dict, task: TrainableTask) -> TrainConfig:
    """The loop's options; one of the task's own given here is named as such."""
    misplaced = sorted(set(train) & set(task.Options.keys()))
    if misplaced:
        raise ConfigError(f"train: {', '.join(misplaced)} {'is a' if len(misplaced) == 1 else 'are'} "
                          f"{task.model_task} task option{'s' * (len(misplaced) > 1)}: give "
                          f"{'it' if len(misplaced) == 1 else 'them'} under task_options")
    return TrainConfig.from_dict(train, "train options")


def build_model(task: TrainableTask, model_spec: dict, examples) -> Pretrained:
    """The task's model for a spec, sized by the data; `init` (the whole model, or a fusion
    model's encoder) starts it from weights trained before (training/warm_start.py), a
    training-time choice that stays out of the saved config."""
    spec = copy.deepcopy(model_spec)
    model_init = spec.pop("init", None)
    encoders = spec.get("encoders") if isinstance(spec.get("encoders"), dict) else {}
    inits = {m: e.pop("init") for m, e in encoders.items() if isinstance(e, dict) and "init" in e}
    image_encoder = spec.get("image_encoder") if isinstance(spec.get("image_encoder"), dict) else {}
    image_init = image_encoder.pop("init", None)
    try:
        model = task.build_model(spec, examples)
    except (TypeError, ValueError, AssertionError) as e:   # torch asserts e.g. dim % heads == 0
        raise ConfigError(f"bad model option: {str(e) or type(e).__name__}") from None
    if model_init:
        counts = warm_start.load_matching(model, model_init)
        print(f"init from {model_init}: {counts['taken']} tensors taken, {counts['fresh']} start fresh",
              file=sys.stderr)         # stdout is for the run's JSON result
    for m, source in inits.items():
        if not isinstance(model, MultimodalModel) or m not in model.encoders:
            raise ConfigError(f"init of the {m} encoder: this model has no {m} encoder")
        warm_start.load_into(model.encoders[m].pretrained_part, source)
    if image_init:
        part = None if isinstance(model, MultimodalModel) else model.parts().get("image_encoder")
        if part is None:
            raise ConfigError("init of image_encoder: this model has no image_encoder of its own (a vlm, captioner, "
                              "aligner or grounder has)")
        counts = warm_start.load_matching(part, image_init)
        print(f"image encoder from {image_init}: {counts['taken']} tensors taken, {counts['fresh']} start fresh",
              file=sys.stderr)
    return model


def load_data(task, entry: dict, recipe: dict, default_n: int):
    """A recipe's data (or val) entry: spec, seed, n, and the task's data options (e.g. `spoken`)."""
    options = {k: v for k, v in entry.items() if k not in DATA_KEYS}
    seed = values.seed(entry.get("seed", 0), "data: seed")
    n = values.number(entry.get("n", default_n), "data: n", 1, integer=True)
    return task.load_data(entry["spec"], seed, n, recipe.get("columns"), recipe.get("on_bad_rows", "fail"), **options)


def run(recipe: dict, out: str | Path, resume: bool = False) -> dict:
    check_recipe(recipe)
    if Path(out).exists() and not Path(out).is_dir():          # found now, not after the first epoch
        raise InputError(f"{out}: exists and is not a folder; --out names the run's folder")
    task = trainable_task(recipe.get("task", "vqa"), recipe.get("task_options"))
    cfg = train_config(recipe.get("train", {}), task)
    train_examples, manifest = load_data(task, recipe["data"], recipe, 1000)
    report_bad_rows(manifest, out)
    val_examples = []
    if recipe.get("val"):
        val_examples, val_manifest = load_data(task, recipe["val"], recipe, 200)
        report_bad_rows(val_manifest, out, "skipped_val_rows.jsonl")
    torch.manual_seed(cfg.seed)          # same recipe, same initial weights
    model = build_model(task, recipe["model"], train_examples)
    trainer = Trainer(model, task, train_examples, val_examples, out, cfg, recipe)
    if resume and not trainer.resume():
        raise InputError(f"{out}: nothing to resume (no checkpoints/latest.json)")
    return trainer.fit()


def saved_recipe(out: str | Path) -> dict:
    """The recipe an interrupted run was started with (so `--resume` needs only `--out`)."""
    pointer = Path(out) / "checkpoints" / "latest.json"
    if not pointer.exists():
        raise InputError(f"{out}: nothing to resume (no checkpoints/latest.json)")
    folder = pointer.parent / files.load_json(pointer)["latest"]
    return files.load_json(folder / "state.json")["recipe"]
