"""Recipes: a training run described as data (YAML/JSON), so every shipped model is
reproduced by one command: `polymodal train --recipe recipes/NAME.yaml`."""
from __future__ import annotations

from pathlib import Path

import yaml

from .errors import InputError

# ship_as: how recipes/ship.py stores the weights ("float16" halves a model that would not
# fit 10 MB as float32); training ignores it.
RECIPE_KEYS = {"name", "task", "data", "val", "model", "train", "columns", "on_bad_rows", "ship_as"}


def load_recipe(path: str | Path) -> dict:
    try:
        recipe = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such recipe") from None
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(recipe, dict):
        raise InputError(f"{path}: a recipe is a mapping of {', '.join(sorted(RECIPE_KEYS))}")
    unknown = set(recipe) - RECIPE_KEYS
    if unknown:
        raise InputError(f"{path}: unknown recipe keys {', '.join(sorted(unknown))}")
    return recipe
