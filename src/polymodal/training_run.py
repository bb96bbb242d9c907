"""From a recipe (or CLI flags) to a trained model folder."""
from __future__ import annotations

import copy
from pathlib import Path

import torch

from .errors import ConfigError, InputError
from .model import ModelConfig, MultimodalModel
from .processors.text import WordTokenizer
from .tasks import vqa
from .train import TrainConfig, Trainer

TASKS = {"vqa": vqa.VQATask}


def build_model(task: str, model_spec: dict, examples) -> MultimodalModel:
    """Fill what the data decides (tokenizer vocabulary, answer labels) into the spec."""
    spec = copy.deepcopy(model_spec)
    texts, answers = vqa.vocabulary(examples)
    encoders = spec.get("encoders") or {}
    text_enc = encoders.get("text")
    if text_enc and text_enc.get("name") == "transformer" and "vocab" not in text_enc.setdefault("config", {}):
        text_enc["config"]["vocab"] = WordTokenizer.build(texts).vocab
    spec.setdefault("labels", answers)
    spec["task"] = task
    try:
        return MultimodalModel(ModelConfig.from_dict(spec))
    except TypeError as e:
        raise ConfigError(f"bad model option: {e}") from None


def run(recipe: dict, out: str | Path, resume: bool = False) -> dict:
    task_name = recipe.get("task", "vqa")
    if task_name not in TASKS:
        raise InputError(f"unknown task {task_name!r} for training; known: {', '.join(TASKS)}")
    task = TASKS[task_name]
    cfg = TrainConfig.from_dict(recipe.get("train", {}))
    data, val = recipe["data"], recipe.get("val")
    train_examples, manifest = vqa.load_examples(data["spec"], data.get("seed", 0), data.get("n", 1000),
                                                 recipe.get("columns"), recipe.get("on_bad_rows", "fail"))
    if manifest is not None and manifest.bad_rows:
        from .data.manifest import write_bad_rows
        write_bad_rows(manifest, out)
    val_examples = []
    if val:
        val_examples, _ = vqa.load_examples(val["spec"], val.get("seed", 0), val.get("n", 200),
                                            recipe.get("columns"), recipe.get("on_bad_rows", "fail"))
    torch.manual_seed(cfg.seed)          # same recipe, same initial weights
    model = build_model(task_name, recipe["model"], train_examples)
    trainer = Trainer(model, task, train_examples, val_examples, out, cfg, recipe)
    if resume and not trainer.resume():
        raise InputError(f"{out}: nothing to resume (no checkpoints/latest.json)")
    return trainer.fit()
