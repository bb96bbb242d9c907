"""Every committed recipe loads, passes the recipe checks, and builds its model (on a few
scenes of its own data), so a typo is caught here rather than an hour into a run."""
from pathlib import Path

import pytest

from polymodal.training import run as training_run
from polymodal.training.recipes import load_recipe

RECIPES = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))


def test_there_are_recipes():
    assert len(RECIPES) >= 4


def untrained(name: str, folder: Path) -> Path:
    """The model another recipe would train (one this recipe builds on), saved with its initial weights."""
    recipe = load_recipe(Path(__file__).parents[1] / "recipes" / f"{name}.yaml")
    task = training_run.trainable_task(recipe["task"], recipe.get("task_options"))
    examples, _ = training_run.load_data(task, {**recipe["data"], "n": 8}, recipe, 8)
    return training_run.build_model(task, recipe["model"], examples).save_pretrained(folder / name)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_builds_its_model(path, tmp_path):
    recipe = load_recipe(path)
    task = training_run.trainable_task(recipe.get("task", "vqa"), recipe.get("task_options"))
    training_run.train_config(recipe.get("train", {}), task)
    examples, _ = training_run.load_data(task, {**recipe["data"], "n": 8}, recipe, 8)
    spec = recipe["model"]
    for key in ("autoencoder", "init"):   # runs/NAME/model: what recipes/NAME.yaml trains, here untrained
        if str(spec.get(key, "")).startswith("runs/"):
            spec = {**spec, key: str(untrained(Path(spec[key]).parent.name, tmp_path))}
    model = training_run.build_model(task, spec, examples)
    assert set(getattr(model, "encoders", {})) >= set(recipe["model"].get("encoders", {}))   # none dropped
    stored = {"float16": 2}.get(recipe.get("ship_as"), 4)       # bytes per weight as shipped
    assert model.num_parameters() < 10 * 2 ** 20 / stored     # weights under 10 MB
    assert recipe["name"] == path.stem
