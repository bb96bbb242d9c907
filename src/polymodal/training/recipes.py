"""Recipes: a training run described as data (YAML/JSON), so every shipped model is
reproduced by one command: `polymodal train --recipe recipes/NAME.yaml`.

    name: vqa-sort-of-clevr
    task: vqa
    data: {spec: "shapes:sort-of-clevr:train", seed: 1, n: 10000}     # + the task's data options
    val: {spec: "shapes:sort-of-clevr:val", seed: 1, n: 250}
    model: {encoders: {...}, fusion: hybrid:cross-attention, ...}     # the task's model spec (+ init)
    train: {epochs: 12, batch_size: 32, lr: 0.001}                    # training.config.TrainConfig
    task_options: {questions_per_image: 6, jpeg_augment: 0.5}         # the task's Options

Every section is checked when it is read: an unknown key is a one-line error naming the known ones.
"""
from __future__ import annotations

from pathlib import Path

from ..core.config import check_keys, check_mapping
from ..core.errors import ConfigError, InputError
from ..core.files import parse_yaml, read_text

# ship_as: how recipes/ship.py stores the weights ("float16" halves a model that would not
# fit 10 MB as float32); training ignores it.
RECIPE_KEYS = ("name", "task", "data", "val", "model", "train", "task_options", "columns", "on_bad_rows", "ship_as")
DATA_KEYS = ("spec", "seed", "n")          # besides the task's data options
ON_BAD_ROWS = ("fail", "skip")


def load_recipe(path: str | Path) -> dict:
    recipe = parse_yaml(read_text(path, "recipe"), str(path))
    if not isinstance(recipe, dict):
        raise InputError(f"{path}: a recipe is a mapping of {', '.join(RECIPE_KEYS)}")
    check_recipe(recipe, str(path))
    return recipe


def check_recipe(recipe: dict, where: str = "recipe") -> None:
    """The recipe's shape: its sections and their types (each section's own keys are checked
    by what reads it: the task, TrainConfig, the model config)."""
    check_keys(recipe, RECIPE_KEYS, where)
    if not isinstance(recipe.get("task", "vqa"), str):
        raise ConfigError(f"{where}: 'task' is a task's name, e.g. vqa")
    for key in ("data", "model"):
        if key not in recipe:
            raise ConfigError(f"{where}: needs a '{key}' mapping" + (" with spec, seed, n" if key == "data" else ""))
    for key in ("data", "val"):
        if key in recipe:
            entry = check_mapping(recipe[key], f"{where}: {key}")
            if not isinstance(entry.get("spec"), str):
                raise ConfigError(f"{where}: '{key}' needs a 'spec' (shapes:<preset>:<split> or a manifest path)")
    for key in ("model", "train", "task_options", "columns"):
        if key in recipe:
            check_mapping(recipe[key], f"{where}: {key}")
    if recipe.get("on_bad_rows", "fail") not in ON_BAD_ROWS:
        raise ConfigError(f"{where}: on_bad_rows is fail or skip, got {recipe['on_bad_rows']!r}")
