"""Text -> image: a tiny diffusion model trained a few steps through the real recipe path,
sampled with each scheduler; seeds, batching, inpainting masks, the CLI and bad prompts."""
import numpy as np
import pytest
import torch

from polymodal.cli.main import main
from polymodal.loading import load_model
from polymodal.training import run as training_run

# the prompt is attended to in the middle block only (16 px): attention at 32 px costs seconds a step
TINY = {"channels": [8, 16, 16], "attention_levels": [False, False, False], "text_dim": 16, "text_layers": 1}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("generate")
    recipe = {"task": "generate", "data": {"spec": "shapes:shapes:train", "seed": 1, "n": 16},
              "val": {"spec": "shapes:shapes:val", "seed": 1, "n": 2},
              "model": TINY, "train": {"epochs": 1, "batch_size": 8, "seed": 1}}
    result = training_run.run(recipe, out)
    assert "prompt_accuracy" in result                       # validation drew and judged images
    return out / "model"


def test_same_seed_same_image_and_batching_changes_at_most_rounding(model_dir):
    model = load_model(model_dir)
    one = model.sample(["a blue square"], [6], steps=3)
    assert (one == model.sample(["a blue square"], [6], steps=3)).all()
    batched = model.sample(["a red circle", "a blue square"], 5, steps=3)      # row 1 has seed 6
    assert np.abs(batched[1].astype(int) - one[0].astype(int)).max() <= 1
    assert not (model.sample(["a blue square"], [7], steps=3) == one).all()


@pytest.mark.parametrize("scheduler", ["ddim", "dpm", "ddpm"])
def test_every_scheduler_draws_64px_images(model_dir, scheduler):
    images = load_model(model_dir).sample(["a red circle left of a green square"], 0, steps=2,
                                          scheduler_name=scheduler)
    assert images.shape == (1, 64, 64, 3) and images.dtype == np.uint8


def test_inpainting_leaves_pixels_outside_the_mask_as_they_were(model_dir):
    init = torch.rand(1, 3, 64, 64) * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :32, :] = 1
    out = load_model(model_dir).sample(["a red circle"], 1, steps=4, init=init, strength=0.6, mask=mask)
    kept = ((init[0, :, 32:].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    assert np.abs(out[0, 32:].astype(int) - kept.astype(int)).max() <= 1


def test_generate_cli_one_prompt_a_prompt_file_and_bad_prompts(model_dir, tmp_path, capsys):
    assert main(["generate", "a red circle", "--model", str(model_dir), "--out", str(tmp_path / "a.png"),
                 "--steps", "2"]) == 0
    assert (tmp_path / "a.png").stat().st_size > 100
    (tmp_path / "p.txt").write_text("a red circle\n\na blue square above a green triangle\n")
    assert main(["generate", "--prompts", str(tmp_path / "p.txt"), "--model", str(model_dir),
                 "--out", str(tmp_path / "many"), "--steps", "2", "--batch-size", "1"]) == 0
    assert sorted(p.name for p in (tmp_path / "many").iterdir()) == ["0001.png", "0002.png"]
    capsys.readouterr()
    assert main(["generate", "a purple elephant", "--model", str(model_dir), "--out", str(tmp_path / "b.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown word 'purple'" in err and not (tmp_path / "b.png").exists()
    assert main(["eval", "generate", "--data", "shapes:shapes:test", "--n", "2", "--model", str(model_dir),
                 "--steps", "2", "--json"]) == 0
    assert '"prompt_accuracy"' in capsys.readouterr().out


def test_a_diffusers_pipeline_folder_draws_and_edits_through_the_same_commands(tmp_path, capsys):
    from hf_tiny import build_stable_diffusion
    from PIL import Image as PILImage

    from polymodal.tasks import edit
    folder = build_stable_diffusion(tmp_path / "sd")
    model = load_model(folder)
    assert model.config.task == "generate" and model.config.image_size == 64
    one = model.sample(["a red circle"], [3], steps=2)
    assert one.shape == (1, 64, 64, 3) and (one == model.sample(["a red circle"], [3], steps=2)).all()
    assert main(["generate", "a red circle", "--model", str(folder), "--out", str(tmp_path / "a.png"),
                 "--steps", "2"]) == 0
    scene = edit.edit_examples("test", 5, 1)[0]
    PILImage.fromarray(scene.image).save(tmp_path / "scene.png")
    assert main(["edit", str(tmp_path / "scene.png"), scene.instruction, "--model", str(folder),
                 "--out", str(tmp_path / "e.png"), "--steps", "2"]) == 0
    assert PILImage.open(tmp_path / "e.png").size == (64, 64)
    init = torch.zeros(1, 3, 64, 64)
    assert model.sample(["a red circle"], 0, steps=2, init=init, strength=0.5).shape == (1, 64, 64, 3)  # img2img


# -- latent diffusion: an autoencoder trained first, then a UNet on its frozen latents --------------------

@pytest.fixture(scope="module")
def latent_model_dirs(tmp_path_factory):
    out = tmp_path_factory.mktemp("latent")
    data = {"data": {"spec": "shapes:shapes:train", "seed": 1, "n": 16},
            "train": {"epochs": 1, "batch_size": 8, "seed": 1}}
    training_run.run({"task": "autoencode", **data, "val": {"spec": "shapes:shapes:val", "seed": 1, "n": 2},
                      "model": {"channels": [8, 8], "latent_channels": 4}}, out / "ae")
    training_run.run({"task": "generate", **data, "model": {**TINY, "autoencoder": str(out / "ae" / "model"), "prediction": "v_prediction"}},
                     out / "gen")
    return out / "ae" / "model", out / "gen" / "model"


def test_the_autoencoder_is_evaluated_by_reading_scenes_back(latent_model_dirs, capsys):
    assert main(["eval", "autoencode", "--data", "shapes:shapes:val", "--n", "3", "--model",
                 str(latent_model_dirs[0]), "--json"]) == 0
    import json
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["images"] == 3 and 0 <= metrics["scene_kept"] <= 1 and metrics["psnr"] > 0


def test_a_latent_model_keeps_its_autoencoder_frozen_and_draws_64px_images(latent_model_dirs):
    from polymodal.core import files as checkpoint
    ae_dir, gen_dir = latent_model_dirs
    model = load_model(gen_dir)
    assert model.space_shape == (4, 32, 32) and model.config.latent_std is not None and model.config.prediction == "v_prediction"
    trained = checkpoint.load_tensors(ae_dir / "model.safetensors")
    inside = model.autoencoder.state_dict()
    assert all(torch.equal(trained[k], inside[k]) for k in trained)        # training left it as it was
    one = model.sample(["a blue square"], [3], steps=2)
    assert one.shape == (1, 64, 64, 3) and (one == model.sample(["a blue square"], [3], steps=2)).all()


def test_latent_inpainting_leaves_pixels_outside_the_mask_exactly(latent_model_dirs):
    init = torch.rand(1, 3, 64, 64) * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 10:30, 20:40] = 1
    out = load_model(latent_model_dirs[1]).sample(["a red circle"], 1, steps=3, init=init, mask=mask)
    kept = ((init[0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    outside = mask[0, 0].numpy() == 0
    assert (out[0][outside] == kept[outside]).all()


def test_a_generator_recipe_naming_a_missing_autoencoder_says_so(tmp_path):
    from polymodal.core.errors import PolymodalError
    recipe = {"task": "generate", "data": {"spec": "shapes:shapes:train", "seed": 1, "n": 8},
              "model": {**TINY, "autoencoder": str(tmp_path / "nowhere")}, "train": {"epochs": 1, "batch_size": 8}}
    with pytest.raises(PolymodalError, match="nowhere"):
        training_run.run(recipe, tmp_path / "run")


def test_weights_stored_in_float16_load_into_the_float32_model(latent_model_dirs, tmp_path):
    """recipes/ship.py --half stores a model this way to fit 10 MB."""
    import shutil

    from polymodal.core import files as checkpoint
    source = latent_model_dirs[1]
    shutil.copy2(source / "config.json", tmp_path / "config.json")
    tensors = checkpoint.load_tensors(source / "model.safetensors")
    checkpoint.save_tensors({k: v.half() for k, v in tensors.items()}, tmp_path / "model.safetensors")
    model = load_model(tmp_path)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    first = next(iter(tensors))
    assert torch.equal(model.state_dict()[first], tensors[first].half().float())
    assert model.sample(["a red circle"], [2], steps=2).shape == (1, 64, 64, 3)


# -- text -> layout -> image: the UNet also reads where each named object stands ----------------------------

def test_planned_layouts_meet_every_stated_relation_and_impossible_prompts_are_refused():
    from polymodal.core.errors import InputError
    from polymodal.data.shapes_preset import (
        dominant_relation,
        parse_caption,
        plan_layout,
    )
    prompt = "a red circle left of a blue square and the blue square above a green triangle and the green triangle below a gray star"
    for seed in range(20):
        layout = plan_layout(prompt, np.random.default_rng(seed))
        at = {o.name: o for o in layout}
        assert [o.name for o in layout] == ["red circle", "blue square", "green triangle", "gray star"]
        assert all(dominant_relation(at[" ".join(a)], at[" ".join(b)]) == r for a, r, b in parse_caption(prompt).relations)
    assert plan_layout("a red circle", np.random.default_rng(3)) == plan_layout("a red circle", np.random.default_rng(3))
    assert plan_layout("", np.random.default_rng(0)) == []
    for bad, why in [("a red circle left of a blue square and the blue square left of the red circle", "no layout"),
                     (" and ".join(f"a {c} circle" for c in ["red", "blue", "green", "gray", "yellow"]), "at most 4"),
                     ("a red circle next to a blue square", "not in the shapes grammar")]:
        with pytest.raises(InputError, match=why):
            plan_layout(bad, np.random.default_rng(0), tries=200)


@pytest.fixture(scope="module")
def layout_model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("layout")
    recipe = {"task": "generate", "data": {"spec": "shapes:shapes:train", "seed": 1, "n": 16},
              "model": {**TINY, "layout_dim": 4}, "train": {"epochs": 1, "batch_size": 8, "seed": 1}}
    training_run.run(recipe, out)
    return out / "model"


def test_the_layout_map_holds_each_objects_words_inside_its_box_only(layout_model_dir):
    from polymodal.data.shapes_preset import ShapeObject
    model = load_model(layout_model_dir)
    assert model.unet.config.in_channels == 3 + 4
    red, blue = ShapeObject("red", "circle", 12, 20, 6), ShapeObject("blue", "square", 40, 44, 8)
    both, alone = model.layout_map([[red, blue]]), model.layout_map([[red]])
    assert both.shape == (1, 4, 64, 64)
    inside = torch.zeros(64, 64, dtype=torch.bool)
    inside[14:26, 6:18] = True                       # rows y0..y1, columns x0..x1 of red's box
    assert (alone[0][:, ~inside] == 0).all() and (alone[0][:, inside] != 0).all()
    assert torch.equal(both[0][:, inside], alone[0][:, inside])          # blue's box is elsewhere
    assert not torch.equal(model.layout_map([[ShapeObject("red", "square", 12, 20, 6)]]), alone)
    with pytest.raises(Exception, match="purple"):
        model.layout_map([[ShapeObject("purple", "circle", 12, 20, 6)]])


def test_a_layout_model_plans_from_the_seed_and_draws_a_given_layout(layout_model_dir, tmp_path, capsys):
    from PIL import Image as PILImage

    from polymodal.core.errors import InputError
    from polymodal.data.shapes_preset import ShapeObject
    from polymodal.tasks import edit
    from polymodal.tasks.generate import draw
    model = load_model(layout_model_dir)
    one = draw(model, ["a red circle left of a blue square"], [4], steps=2)[0]
    assert (one == draw(model, ["a red circle left of a blue square"], [4], steps=2)[0]).all()
    with pytest.raises(InputError, match="a layout per prompt"):         # the model itself plans nothing
        model.sample(["a red circle left of a blue square"], [4], steps=2)
    given = [[ShapeObject("red", "circle", 10, 10, 6), ShapeObject("blue", "square", 50, 12, 6)]]
    other = [[ShapeObject("red", "circle", 40, 40, 6), ShapeObject("blue", "square", 50, 12, 6)]]
    drawn = model.sample(["a red circle left of a blue square"], [4], steps=2, layouts=given)
    assert not (drawn == model.sample(["a red circle left of a blue square"], [4], steps=2, layouts=other)).all()
    impossible = "a red circle left of a blue square and the blue square left of the red circle"
    assert main(["generate", impossible, "--model", str(layout_model_dir), "--out", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists() and "no layout found" in capsys.readouterr().err
    scene = edit.edit_examples("test", 5, 1)[0]          # an edit draws the edited scene's own layout
    PILImage.fromarray(scene.image).save(tmp_path / "scene.png")
    assert main(["edit", str(tmp_path / "scene.png"), scene.instruction, "--model", str(layout_model_dir),
                 "--out", str(tmp_path / "e.png"), "--steps", "2"]) == 0


def test_a_layout_model_learns_manifest_scenes_objects_and_refuses_scenes_without_them(tmp_path):
    import json

    from PIL import Image as PILImage

    from polymodal.core.errors import PolymodalError
    PILImage.new("RGB", (64, 64)).save(tmp_path / "a.png")
    row = {"image": "a.png", "prompt": "a red circle"}
    (tmp_path / "m.jsonl").write_text((json.dumps(row) + "\n") * 2)
    recipe = {"task": "generate", "data": {"spec": str(tmp_path / "m.jsonl")},
              "model": {**TINY, "layout_dim": 4}, "train": {"epochs": 1, "batch_size": 2}}
    with pytest.raises(PolymodalError, match="objects column"):
        training_run.run(recipe, tmp_path / "run")
    row["objects"] = [{"colour": "red", "shape": "circle", "box": [10, 12, 22, 24]}]
    (tmp_path / "m.jsonl").write_text((json.dumps(row) + "\n") * 2)
    training_run.run(recipe, tmp_path / "run2")
    assert (tmp_path / "run2" / "model" / "model.safetensors").is_file()
