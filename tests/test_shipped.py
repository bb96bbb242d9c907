"""Golden tests: the shipped models load from the package and answer as they did when shipped."""
import json

import pytest

from polymodal.hub import SHIPPED, resolve
from polymodal.model import MultimodalModel
from polymodal.tasks import vqa


@pytest.mark.parametrize("name", SHIPPED.names())
def test_shipped_model_is_small_and_complete(name):
    folder = resolve("vqa", name)
    assert (folder / "model.safetensors").stat().st_size < 10 * 2 ** 20
    for f in ("config.json", "README.md", "golden.json", "metrics.json"):
        assert (folder / f).exists(), f"{name} lacks {f}"


def test_shipped_vqa_answers_as_when_shipped():
    folder = resolve("vqa", None)
    golden = json.loads((folder / "golden.json").read_text())
    model = MultimodalModel.from_pretrained(folder)
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:test", 11, 5)
    questions, answers, _ = vqa.predict(model, examples)
    assert answers == golden["answers"]
    # and those answers are mostly right: the card's accuracy, minus slack for 100 questions
    card = json.loads((folder / "metrics.json").read_text())
    right = sum(q.answer == a for q, a in zip(questions, answers)) / len(questions)
    assert right >= card["accuracy"] - 0.1
