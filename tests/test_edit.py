"""Edits: instructions, the judge (change made, others kept) on rendered before/after pairs,
and the inpainting edit end to end with a tiny model and the shipped grounder."""
import numpy as np
import pytest

from polymodal.core.errors import InputError
from polymodal.tasks import edit
from polymodal.tasks.metrics.edit import edit_metrics
from polymodal.training import run as training_run


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory):
    out = tmp_path_factory.mktemp("edit")
    recipe = {"task": "generate", "data": {"spec": "shapes:shapes:train", "seed": 1, "n": 8},
              "model": {"channels": [8, 16, 16], "attention_levels": [False, False, False], "text_dim": 16,
                        "text_layers": 1}, "train": {"epochs": 1, "batch_size": 8, "seed": 1}}
    training_run.run(recipe, out)
    return out / "model"


def test_instructions_parse_and_unknown_ones_are_refused():
    assert edit.parse_instruction("Make the red circle green.").result == "green circle"
    assert edit.parse_instruction("make the red circle a square").result == "red square"
    assert edit.parse_instruction("remove the blue triangle").result is None
    with pytest.raises(InputError, match="not one polymodal can edit"):
        edit.parse_instruction("paint everything purple")


def test_the_judge_passes_rendered_edits_and_fails_untouched_images():
    examples = edit.edit_examples("test", 3, 30)
    assert {edit.parse_instruction(ex.instruction).kind for ex in examples} == {"recolour", "reshape", "remove"}
    instructions = [edit.parse_instruction(ex.instruction) for ex in examples]
    befores = [ex.image for ex in examples]
    right = edit_metrics(befores, [ex.after for ex in examples], instructions)
    assert right["change_achieved"] == 1.0 and right["others_preserved"] == 1.0
    unchanged = edit_metrics(befores, befores, instructions)
    assert unchanged["change_achieved"] == 0.0 and unchanged["others_preserved"] == 1.0
    blank = edit_metrics(befores, [np.full((64, 64, 3), 255, np.uint8)] * len(examples), instructions)
    assert blank["others_preserved"] < 1.0


def test_an_edit_redraws_only_inside_the_grounded_box(tiny_generator):
    from polymodal.loading import load_model
    model, grounder = load_model(tiny_generator), load_model(task="ground")
    ex = next(e for e in edit.edit_examples("test", 5, 20) if len(edit.parse(e.image)) >= 2)
    out = edit.edit(model, grounder, ex.image, ex.instruction, steps=2)
    target = edit.parse_instruction(ex.instruction).target
    box = next(o.box for o in edit.parse(ex.image) if o.name == target)
    outside = np.ones((64, 64), bool)
    outside[max(0, box[1] - 6):box[3] + 6, max(0, box[0] - 6):box[2] + 6] = False
    assert out.shape == (64, 64, 3) and np.abs(out[outside].astype(int) - ex.image[outside].astype(int)).max() <= 1


def test_edit_cli_and_its_errors(tiny_generator, tmp_path, capsys):
    from PIL import Image as PILImage

    from polymodal.cli.main import main
    ex = edit.edit_examples("test", 5, 1)[0]
    PILImage.fromarray(ex.image).save(tmp_path / "scene.png")
    model = str(tiny_generator)
    assert main(["edit", str(tmp_path / "scene.png"), ex.instruction, "--model", model, "--out",
                 str(tmp_path / "e.png"), "--steps", "2"]) == 0
    assert (tmp_path / "e.png").exists()
    assert main(["edit", str(tmp_path / "scene.png"), "paint it purple", "--model", model, "--out",
                 str(tmp_path / "f.png")]) == 2
    assert "not one polymodal can edit" in capsys.readouterr().err and not (tmp_path / "f.png").exists()
    assert main(["eval", "edit", "--data", "shapes:shapes:test", "--n", "2", "--model", model, "--steps", "2",
                 "--json"]) == 0
    assert '"others_preserved"' in capsys.readouterr().out


def test_edit_examples_fall_back_to_removal_when_no_change_is_free():
    """Seed 7's test scenes include one whose target has every other shape in its colour
    already (it raised ValueError before)."""
    examples = edit.edit_examples("test", 7, 100)
    assert len(examples) == 100 and all(ex.instruction for ex in examples)
