"""Prompt accuracy (read the drawn image back and check the prompt) and KID, on rendered
scenes whose right answers are known."""
import numpy as np
import pytest

from polymodal.core.errors import InputError
from polymodal.data import scene_parser
from polymodal.data.world import shapes
from polymodal.tasks.metrics import generate as gm


def test_rendered_scenes_meet_their_own_prompts_and_not_each_others():
    scenes = shapes("shapes", "test", 5, 40)
    own = gm.prompt_accuracy([s.prompt for s in scenes], [s.image for s in scenes])
    assert own["prompt_accuracy"] == 1.0 and own["missing_objects"] == own["extra_objects"] == 0
    assert set(own["by_objects"]) <= {"1", "2", "3", "4"}
    shifted = gm.prompt_accuracy([s.prompt for s in scenes[1:] + scenes[:1]], [s.image for s in scenes])
    assert shifted["prompt_accuracy"] < 0.2


def test_a_swapped_relation_or_an_extra_object_fails_the_prompt():
    scene = next(s for s in shapes("shapes", "test", 6, 50) if len(s.objects) == 2)
    objects = scene_parser.parse(scene.image)
    assert gm.check_prompt(scene.prompt, objects).correct
    relation = next(r for r in ("left of", "right of", "above", "below") if f" {r} " in scene.prompt)
    opposite = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}[relation]
    wrong = gm.check_prompt(scene.prompt.replace(f" {relation} ", f" {opposite} "), objects)
    assert wrong.wrong_relations and not wrong.correct
    assert gm.check_prompt(f"a {objects[0].name}", objects).extra == [objects[1].name]
    with pytest.raises(InputError, match="not in the shapes grammar"):
        gm.check_prompt("a purple elephant", objects)


def test_kid_is_near_zero_for_one_distribution_and_large_for_two():
    rng = np.random.default_rng(0)
    same = gm.kid(rng.normal(size=(200, 16)), rng.normal(size=(200, 16)))
    apart = gm.kid(rng.normal(size=(200, 16)), rng.normal(1.0, size=(200, 16)))
    assert abs(same) < 0.05 and apart > 10 * max(abs(same), 0.01)
