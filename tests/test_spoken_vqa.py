"""Spoken VQA: one fusion model over the image, a typed question and a spoken one; it
answers with either question modality missing, and generated scenes speak their questions
in the split's voices."""
import json

import pytest
import torch

from polymodal.cli.main import main
from polymodal.core.errors import InputError
from polymodal.data.spoken.questions import question_audio
from polymodal.data.spoken.voices import all_voices
from polymodal.fusion.registry import FUSIONS
from polymodal.loading import load_model
from polymodal.tasks import vqa

ENCODERS = {"image": {"name": "cnn", "config": {"dim": 32, "channels": [16, 32, 32, 32]}},
            "text": {"name": "transformer", "config": {"dim": 32, "layers": 1, "heads": 2}},
            "audio": {"name": "logmel", "config": {"dim": 32, "layers": 1, "heads": 2, "n_mels": 40}}}


def test_cross_attention_with_two_query_modalities_answers_from_either():
    from polymodal.encoders.base import Embedding
    fusion = FUSIONS.build("hybrid:cross-attention", {"image": 8, "text": 8, "audio": 8}, 16,
                           query=["text", "audio"], dim=16, layers=1)

    def emb(n, t):
        return Embedding(torch.randn(n, t, 8), torch.ones(n, t, dtype=torch.bool), torch.randn(n, 8))
    image, text, audio = emb(3, 5), emb(3, 4), emb(3, 9)
    for given in ({"text": text}, {"audio": audio}, {"text": text, "audio": audio}):
        assert fusion({"image": image, **given}).shape == (3, 16)
    with pytest.raises(InputError, match="one of text, audio"):
        fusion({"image": image})
    with pytest.raises(InputError, match="image"):
        fusion({"text": text})


def test_generated_questions_are_spoken_by_the_split_voices():
    ex, _ = vqa.load_examples("shapes:sort-of-clevr:test", 4, 2, spoken=True)
    q = ex[0].questions[0]
    assert q.key == ("test", 4, 0, 0)
    assert vqa.load_examples("shapes:sort-of-clevr:test", 4, 2)[0][0].questions[0].key is None
    audio = question_audio(q.text, "test", 4, 3)
    voice = audio.source.split("@")[0].strip("<")
    assert voice in all_voices("test") and audio.rate == 16000 and audio.duration > 0.5


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from polymodal.training import run as training_run
    out = tmp_path_factory.mktemp("svqa")
    recipe = {"task": "vqa", "data": {"spec": "shapes:sort-of-clevr:train", "seed": 1, "n": 32, "spoken": True},
              "model": {"encoders": ENCODERS, "fusion": "hybrid:cross-attention",
                        "fusion_config": {"query": ["text", "audio"], "dim": 32, "layers": 1}},
              "train": {"epochs": 2, "batch_size": 16, "lr": 1e-3, "warmup_steps": 5, "checkpoint_every": 10 ** 6},
              "task_options": {"questions_per_image": 4}}
    training_run.run(recipe, out)
    return out / "model"


def test_one_model_takes_typed_spoken_or_both(trained):
    model = load_model(trained)
    assert set(model.encoders) == {"image", "text", "audio"}
    ex, _ = vqa.load_examples("shapes:sort-of-clevr:test", 3, 2, spoken=True)
    for ask_by, given in (("text", {"text"}), ("speech", {"audio"}), ("both", {"text", "audio"})):
        batch, _ = vqa.make_batch(model, ex, ask_by=ask_by)
        assert {"text", "audio"} & set(batch) == given
        assert model(batch).shape == (40, len(model.config.labels))
        assert vqa.VQATask().evaluate(model, ex, ask_by=ask_by)["questions"] == 40


def test_ask_with_audio_and_eval_by_speech(trained, tmp_path, capsys):
    data = tmp_path / "d"
    assert main(["data", "shapes", "--split", "test", "--seed", "5", "--n", "1", "--out", str(data), "--spoken"]) == 0
    row = json.loads((data / "manifest.jsonl").read_text().splitlines()[0])
    capsys.readouterr()
    assert main(["ask", str(data / row["image"]), "--audio", str(data / row["audio"]), "--json",
                 "--model", str(trained)]) == 0
    answer = json.loads(capsys.readouterr().out)["answer"]
    assert answer in load_model(trained).config.labels
    assert main(["eval", "vqa", "--data", str(data / "manifest.jsonl"), "--ask-by", "speech", "--json",
                 "--model", str(trained)]) == 0
    assert json.loads(capsys.readouterr().out)["questions"] == 20
    # the shipped text model cannot take speech: a one-line error
    assert main(["eval", "vqa", "--data", str(data / "manifest.jsonl"), "--ask-by", "speech"]) == 2
    assert "not speech" in capsys.readouterr().err
    # asked by speech without --model, `ask` uses the shipped model that hears
    assert main(["ask", str(data / row["image"]), "--audio", str(data / row["audio"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["answer"] in load_model("vqa-spoken").config.labels


def test_training_batches_may_hear_spoken_questions_as_another_voice(trained):
    """feature_augment: with rng (training) the cached features are warped, retimed and masked;
    evaluation (no rng) always gets the question as it was spoken."""
    import numpy as np
    model = load_model(trained)
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:train", 1, 2, spoken=True)
    plain, _ = vqa.make_batch(model, examples, ask_by="speech")
    again, _ = vqa.make_batch(model, examples, ask_by="speech", feature_augment=1.0)
    varied, _ = vqa.make_batch(model, examples, np.random.default_rng(0), ask_by="speech", feature_augment=1.0)
    assert torch.equal(plain["audio"]["features"], again["audio"]["features"])
    assert plain["audio"]["features"].shape[0] == varied["audio"]["features"].shape[0]
    assert plain["audio"]["features"].shape != varied["audio"]["features"].shape or \
        not torch.equal(plain["audio"]["features"], varied["audio"]["features"])
