"""Every committed recipe loads, passes the recipe checks, and builds its model (on a few
scenes of its own data), so a typo is caught here rather than an hour into a run."""
from pathlib import Path

import pytest

from polymodal import training_run
from polymodal.recipes import load_recipe
from polymodal.tasks import TASKS
from polymodal.trainer import TrainConfig

RECIPES = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))


def test_there_are_recipes():
    assert len(RECIPES) >= 4


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_builds_its_model(path):
    recipe = load_recipe(path)
    training_run.check_recipe(recipe)
    TrainConfig.from_dict(recipe.get("train", {}))
    task = recipe.get("task", "vqa")
    examples, _ = training_run.load_data(TASKS.get(task), {**recipe["data"], "n": 8}, recipe, 8)
    model = training_run.build_model(task, recipe["model"], examples)
    assert set(getattr(model, "encoders", {})) >= set(recipe["model"].get("encoders", {}))   # none dropped
    assert model.num_parameters() < 10 * 2 ** 20 / 4          # float32 weights under 10 MB
    assert recipe["name"] == path.stem
