"""The image encoder's object pretraining (the fusion table's shared starting point) and
the recipe option `init` that starts an encoder from its weights."""
import pytest
import torch

from polymodal.core import files
from polymodal.core.errors import ConfigError
from polymodal.data.world import shapes
from polymodal.encoders.registry import ENCODERS
from polymodal.experiments import object_pretraining
from polymodal.tasks import vqa
from polymodal.training import run as training_run
from polymodal.training import warm_start

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
    model = training_run.build_model(training_run.trainable_task("vqa"), spec, examples)
    saved = files.load_tensors(path)
    for name, value in model.encoders["image"].state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert "init" not in model.config.encoders["image"]     # a training-time choice, not saved


def test_weights_for_another_encoder_or_a_missing_file_are_refused(tmp_path):
    path = tmp_path / "enc.safetensors"
    object_pretraining.pretrain(ENCODER, path, n=8, steps=1, batch_size=4)
    other = ENCODERS.build("cnn", dim=16, channels=[8, 8, 8, 16], image_size=75)
    with pytest.raises(ConfigError, match="do not fit this encoder"):
        warm_start.load_into(other, path)
    with pytest.raises(ConfigError, match="no such encoder weights file"):
        warm_start.load_into(other, str(tmp_path / "missing.safetensors"))


def test_an_encoder_starts_from_a_part_of_a_shipped_model():
    from polymodal.core.files import load_tensors
    from polymodal.encoders.registry import ENCODERS
    from polymodal.loading import resolve
    from polymodal.models.base import read_config
    asr = resolve("asr-spoken-world")
    audio = read_config(asr)["audio_encoder"]
    encoder = ENCODERS.build(audio["name"], **audio["config"])
    warm_start.load_into(encoder, "asr-spoken-world:audio_encoder")
    saved = load_tensors(asr / "model.safetensors")
    for name, value in encoder.state_dict().items():
        assert torch.equal(value, saved["audio_encoder." + name]), name
    with pytest.raises(ConfigError, match="no part 'speller'"):
        warm_start.load_into(encoder, "asr-spoken-world:speller")
    with pytest.raises(ConfigError, match="needs a .safetensors file or a model"):
        warm_start.load_into(encoder, "no-such-model:audio_encoder")


def test_a_model_init_takes_every_tensor_that_fits_and_a_new_modality_starts_fresh(tmp_path):
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:train", 0, 4, spoken=True)
    text = {"name": "transformer", "config": {"dim": 16, "layers": 1, "heads": 2}}
    audio = {"name": "logmel", "config": {"dim": 16, "layers": 1, "heads": 2, "n_mels": 32}}
    typed = training_run.build_model(training_run.trainable_task("vqa"), {"encoders": {"image": ENCODER, "text": text},
                                             "fusion": "early:feature"}, vqa.load_examples(
                                                 "shapes:sort-of-clevr:train", 0, 4)[0])
    typed.save_pretrained(tmp_path / "typed")
    spec = {"init": str(tmp_path / "typed"), "encoders": {"image": ENCODER, "text": text, "audio": audio},
            "fusion": "early:feature"}
    both = training_run.build_model(training_run.trainable_task("vqa"), spec, examples)
    before = typed.state_dict()
    for name, value in both.state_dict().items():
        if name.startswith(("encoders.image.", "encoders.text.")):
            assert torch.equal(value, before[name]), name
    assert "init" not in vars(both.config)
    assert any(n.startswith("encoders.audio.") for n in both.state_dict())


def test_a_vlms_image_encoder_starts_from_another_models_and_the_init_stays_out_of_its_config():
    """The shipped VQA model's convolutions fit a vlm's encoder of other strides (strides hold
    no weights); its pooled-vector layers, which the vlm's encoder lacks, are left unused."""
    from polymodal.loading import resolve
    from polymodal.models.vlm import VisionLanguageModel
    task = training_run.trainable_task("vlm")
    examples, _ = task.load_data("shapes:sort-of-clevr:train", 0, 2)
    cnn = {"name": "cnn", "config": {"dim": 64, "channels": [32, 64, 64, 64], "strides": [2, 2, 1, 2],
                                     "image_size": 75, "coords": True, "flat_pooled": False}}
    spec = {"image_encoder": {**cnn, "init": "vqa-sort-of-clevr:encoders.image"}, "dim": 32, "layers": 1,
            "heads": 2, "max_positions": 160}
    model = training_run.build_model(task, spec, examples)
    assert isinstance(model, VisionLanguageModel) and "init" not in model.config.image_encoder
    saved = files.load_tensors(resolve("vqa-sort-of-clevr") / files.WEIGHTS)
    for name, value in model.image_encoder.state_dict().items():
        assert torch.equal(value, saved["encoders.image." + name]), name
    with pytest.raises(ConfigError, match="unknown key image_encoder"):     # a model without one
        training_run.build_model(training_run.trainable_task("vqa"), {
            "encoders": {"image": ENCODER, "text": {"name": "transformer", "config": {"dim": 16, "layers": 1,
                                                                                      "heads": 2}}},
            "fusion": "early:feature", "image_encoder": {"init": "vqa-sort-of-clevr:encoders.image"}},
            vqa.load_examples("shapes:sort-of-clevr:train", 0, 4)[0])


def test_a_captioners_image_encoder_starts_from_another_models():
    """Any model with an image encoder of its own takes `image_encoder.init` (a video
    captioner's starts from the video QA model's frames encoder this way)."""
    from polymodal.loading import resolve
    from polymodal.models.captioner import Captioner
    task = training_run.trainable_task("caption")
    examples, _ = task.load_data("shapes:shapes:train", 0, 2)
    cnn = {"name": "cnn", "config": {"dim": 64, "channels": [32, 64, 64], "strides": [2, 2, 2], "image_size": 64,
                                     "coords": True}}
    model = training_run.build_model(task, {"image_encoder": {**cnn, "init": "caption-shapes:image_encoder"},
                                            "dim": 32, "layers": 1, "heads": 2}, examples)
    assert isinstance(model, Captioner) and "init" not in model.config.image_encoder
    saved = files.load_tensors(resolve("caption-shapes") / files.WEIGHTS)
    for name, value in model.image_encoder.state_dict().items():
        assert torch.equal(value, saved["image_encoder." + name]), name
