"""Grounding: IoU, targets, training through the trainer, boxes in pixels of any image size,
and the `ground` verb."""
import json

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from polymodal.cli.main import main
from polymodal.data import shapes
from polymodal.loading import load_model
from polymodal.models.grounder import Grounder
from polymodal.tasks import ground
from polymodal.tasks.metrics.boxes import box_metrics, iou

TINY_CNN = {"name": "cnn", "config": {"dim": 32, "channels": [16, 32, 32], "strides": [2, 2, 2], "image_size": 64}}
TINY_TEXT = {"name": "transformer", "config": {"dim": 32, "layers": 1, "heads": 2}}


def test_iou():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0


def test_pixel_boxes_are_ordered_and_inside_the_image():
    from polymodal.core.results import pixel_box
    assert pixel_box([0.5, 0.25, 0.25, 0.75], 64, 32) == [16.0, 8.0, 32.0, 24.0]      # swapped x edges
    assert pixel_box([-0.2, 0.1, 1.3, 0.2], 100, 100) == [0.0, 10.0, 100.0, 20.0]     # clamped


def test_metrics_per_kind():
    examples = [ground.GroundExample(None, "p", [0, 0, 10, 10], "attribute"),
                ground.GroundExample(None, "q", [0, 0, 10, 10], "relational")]
    found = [ground_result([0, 0, 10, 10]), ground_result([20, 20, 30, 30])]
    m = box_metrics([ex.box for ex in examples], [g.box for g in found], [ex.kind for ex in examples])
    assert m["accuracy_iou50"] == 0.5 and m["attribute_accuracy_iou50"] == 1.0
    assert m["relational_accuracy_iou50"] == 0.0 and m["mean_iou"] == 0.5


def ground_result(box):
    from polymodal.core.results import Grounding
    return Grounding(box, 1.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from polymodal.training import run as training_run
    out = tmp_path_factory.mktemp("ground-run")
    recipe = {"task": "ground", "data": {"spec": "shapes:shapes:train", "seed": 5, "n": 48},
              "model": {"image_encoder": TINY_CNN, "text_encoder": TINY_TEXT, "dim": 32, "layers": 2},
              "train": {"epochs": 40, "batch_size": 64, "lr": 3e-3, "warmup_steps": 5, "seed": 0,
                        "checkpoint_every": 10 ** 6}}
    training_run.run(recipe, out)
    return out / "model"


def test_targets_name_the_cell_of_the_box_centre(trained):
    model = load_model(trained)
    ex = [ground.GroundExample(np.full((64, 64, 3), 255, np.uint8), "the red circle", [40, 8, 50, 18])]
    _, targets = ground.GroundTask().make_batch(model, ex, None)
    side = model.image_encoder.side                        # 8x8 cells of 8 px
    assert targets["cell"].item() == (13 // 8) * side + 45 // 8
    assert torch.allclose(targets["box"], torch.tensor([[40, 8, 50, 18]]) / 64)


def test_training_finds_the_phrases_it_saw(trained):
    model = load_model(trained)
    assert isinstance(model, Grounder)
    examples, _ = ground.load_examples("shapes:shapes:train", 5, 48)
    m = ground.GroundTask().evaluate(model, examples)
    assert m["accuracy_iou50"] > 0.4, m       # a random cell's box: about 2%


def test_boxes_come_back_in_the_pixels_of_the_input(trained):
    model = load_model(trained)
    scene = shapes("shapes", "train", 5, 1)[0]
    big = np.asarray(PILImage.fromarray(scene.image).resize((256, 128), PILImage.NEAREST))
    small_box = ground.locate(model, [ground.GroundExample(scene.image, scene.phrases[0].text)])[0].box
    big_box = ground.locate(model, [ground.GroundExample(big, scene.phrases[0].text)])[0].box
    expected = [small_box[0] * 4, small_box[1] * 2, small_box[2] * 4, small_box[3] * 2]
    assert np.allclose(big_box, expected, atol=6), (big_box, expected)


def test_ground_cli(trained, tmp_path, capsys):
    data = tmp_path / "d"
    assert main(["data", "shapes", "--preset", "shapes", "--split", "test", "--seed", "1", "--n", "3",
                 "--out", str(data)]) == 0
    image = sorted((data / "images").iterdir())[0]
    capsys.readouterr()
    assert main(["ground", str(image), "the red circle", "--out", str(tmp_path / "boxed.png"), "--json",
                 "--model", str(trained)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert len(row["box"]) == 4 and 0 <= row["score"] <= 1
    assert PILImage.open(tmp_path / "boxed.png").size == (256, 256)          # enlarged to show the box
    assert main(["eval", "ground", "--data", str(data / "manifest.jsonl"), "--model", str(trained), "--json"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert {"accuracy_iou50", "mean_iou", "attribute_accuracy_iou50"} <= set(m)
    assert main(["ground", "--data", "shapes:shapes:test", "--n", "2", "--out", str(tmp_path / "many"),
                 "--model", str(trained)]) == 0
    assert len(list((tmp_path / "many").iterdir())) == sum(len(s.phrases) for s in shapes("shapes", "test", 0, 2))


def test_ground_cli_bad_input(trained, tmp_path, capsys):
    bad = tmp_path / "manifest.jsonl"
    bad.write_text(json.dumps({"image": "nope.png", "phrase": "the red circle", "box": [0, 0, 5, 5]}) + "\n")
    capsys.readouterr()
    assert main(["eval", "ground", "--data", str(bad), "--model", str(trained)]) == 2
    err = capsys.readouterr().err
    assert "row 1" in err and "nope.png" in err
    assert main(["ground", str(tmp_path), "the red circle", "--model", str(trained)]) == 2
    assert "no images" in capsys.readouterr().err
