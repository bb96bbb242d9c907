"""Multimodal classification from a user's manifest (image + text -> label)."""
import json

import numpy as np
import pytest
from PIL import Image

from polymodal.cli.main import main
from polymodal.tasks.metrics.answers import label_metrics


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """Each row: a scene, a colour word, and the shape of the object of that colour."""
    from polymodal.data.world import shapes
    folder = tmp_path_factory.mktemp("classify")
    rows = []
    for i, scene in enumerate(shapes(n=12, seed=5)):
        Image.fromarray(scene.image).save(folder / f"{i}.png")
        obj = scene.objects[i % 6]
        rows.append({"image": f"{i}.png", "text": obj.colour, "label": obj.shape})
    (folder / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "m.csv").write_text("image,text,label\n" + "".join(f"{r['image']},{r['text']},{r['label']}\n" for r in rows))
    return folder


def test_train_and_evaluate_a_classifier_from_a_manifest(manifest, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--task", "classify", "--data", str(manifest / "m.jsonl"), "--fusion", "late:gate",
                 "--epochs", "1", "--batch-size", "4", "--out", str(out)]) == 0
    config = json.loads((out / "model" / "config.json").read_text())
    assert config["task"] == "classify" and sorted(config["encoders"]) == ["image", "text"]
    assert sorted(config["labels"]) == ["circle", "square"]
    capsys.readouterr()
    assert main(["eval", "classify", "--data", str(manifest / "m.csv"), "--model", str(out / "model"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["items"] == 12 and 0 <= result["accuracy"] <= 1 and set(result["per_label"]) <= {"circle", "square"}


def test_classify_refuses_generated_scenes_and_vqa_models(manifest, tmp_path, capsys):
    assert main(["train", "--task", "classify", "--data", "shapes:sort-of-clevr:train", "--fusion", "late:mean",
                 "--out", str(tmp_path / "x")]) == 2
    assert "vqa" in capsys.readouterr().err


def test_classification_metrics():
    m = label_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert m["accuracy"] == 0.75
    # F1(a) = 2*1/(1+2) = 0.667, F1(b) = 2*2/(3+2) = 0.8
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert m["per_label"] == {"a": 0.5, "b": 1.0}
    assert np.isclose(label_metrics(["x"], ["x"])["macro_f1"], 1.0)
