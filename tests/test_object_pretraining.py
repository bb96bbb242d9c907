"""The image encoder's object pretraining (the fusion table's shared starting point) and
the recipe option `init` that starts an encoder from its weights."""
import pytest
import torch

from polymodal import object_pretraining, training_run
from polymodal.data.world import shapes
from polymodal.errors import ConfigError
from polymodal.tasks import vqa

ENCODER = {"name": "cnn", "config": {"dim": 16, "channels": [8, 8, 8, 8], "image_size": 75}}


def test_targets_put_each_colour_in_the_cell_holding_its_centre():
    scenes = shapes("sort-of-clevr", "train", 3, 4)
    t = object_pretraining.targets(scenes, side=5, image_size=75)
    for s, scene in enumerate(scenes):
        for o in scene.objects:
            c = object_pretraining.COLOURS.index(o.colour)
            row, col = divmod(int(t["where"][s, c]), 5)
            assert col * 15 <= o.x < (col + 1) * 15 and row * 15 <= o.y < (row + 1) * 15
            assert t["circle"][s, c] == (o.shape == "circle")
            dx, dy = t["offset"][s, c].tolist()
            assert abs((col + 0.5 + dx) * 15 - o.x) < 1e-4 and abs((row + 0.5 + dy) * 15 - o.y) < 1e-4


def test_a_recipe_starts_its_encoder_from_the_pretrained_weights(tmp_path):
    path = tmp_path / "enc.safetensors"
    stats = object_pretraining.pretrain(ENCODER, path, n=16, steps=3, batch_size=4)
    assert 0 <= stats["cell_accuracy"] <= 1 and stats["steps"] == 3
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:train", 0, 4)
    spec = {"encoders": {"image": dict(ENCODER, init=str(path)),
                         "text": {"name": "transformer", "config": {"dim": 16, "layers": 1, "heads": 2}}},
            "fusion": "early:feature"}
    model = training_run.build_model("vqa", spec, examples)
    saved = object_pretraining.checkpoint.load_tensors(path)
    for name, value in model.encoders["image"].state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert "init" not in model.config.encoders["image"]     # a training-time choice, not saved


def test_weights_for_another_encoder_or_a_missing_file_are_refused(tmp_path):
    path = tmp_path / "enc.safetensors"
    object_pretraining.pretrain(ENCODER, path, n=8, steps=1, batch_size=4)
    other = object_pretraining.ENCODERS.build("cnn", dim=16, channels=[8, 8, 8, 16], image_size=75)
    with pytest.raises(ConfigError, match="do not fit this encoder"):
        object_pretraining.load_into(other, path)
    with pytest.raises(ConfigError, match="no such encoder weights file"):
        object_pretraining.load_into(other, tmp_path / "missing.safetensors")
