"""Captioning: the decoder, beam search, fact scoring, training through the real trainer,
and the CLI verbs."""
import itertools
import json
import math

import numpy as np
import pytest
import torch

from polymodal.cli.main import main
from polymodal.core.errors import InputError
from polymodal.data import shapes
from polymodal.loading import load_model
from polymodal.models.captioner import Captioner, CaptionerConfig
from polymodal.tasks import caption
from polymodal.tasks.metrics.caption import (
    SceneTruth,
    caption_metrics,
    fact_counts,
    fact_scores,
)

TINY_CNN = {"name": "cnn", "config": {"dim": 32, "channels": [16, 32, 32], "strides": [2, 2, 2], "image_size": 64}}


def tiny_captioner(vocab=("a", "red", "circle", "blue", "square"), max_length=12):
    torch.manual_seed(0)
    return Captioner(CaptionerConfig(TINY_CNN, list(vocab), dim=32, layers=1, heads=2, max_length=max_length,
                                     dropout=0.0))


def test_wide_beam_finds_the_most_probable_caption():
    """With a beam as wide as the search space, beam search must return the best sequence,
    checked by scoring every possible caption of up to 2 words."""
    model = tiny_captioner(vocab=("x", "y"), max_length=3).eval()
    pixels = model.preprocess({"image": [np.full((64, 64, 3), 200, np.uint8)]})["image"]
    with torch.no_grad():
        memory = model.encode(pixels)
        words = [model.tokenizer.index[w] for w in ("x", "y")]
        candidates = [list(c) for n in range(0, 3) for c in itertools.product(words, repeat=n)]
        # a 2-word caption has no room left for <eos> within max_length 3: it ends there
        scores = {}
        for c in candidates:
            ids = torch.tensor([[model.tokenizer.index["<cls>"]] + c])
            logp = model.decode(memory, ids).float().log_softmax(-1)[0]
            s = sum(logp[i, t].item() for i, t in enumerate(c))
            if len(c) < 2:
                s += logp[len(c), model.eos].item()
            scores[" ".join(model.config.vocab[t] for t in c)] = s
        best = max(scores, key=scores.get)
        found = model.generate(pixels, beams=16)[0]
    assert found.text == best
    assert found.score == pytest.approx(np.exp(scores[best]), rel=1e-4)


def test_beam_of_one_is_greedy_and_wider_beams_rarely_score_lower():
    model = tiny_captioner().eval()
    images = [s.image for s in shapes("shapes", "test", 0, 6)]
    pixels = model.preprocess({"image": images})["image"]
    greedy = model.generate(pixels, beams=1)
    with torch.no_grad():                                  # greedy by hand: the best word at each step
        memory = model.encode(pixels[:1])
        ids = [model.tokenizer.index["<cls>"]]
        for _ in range(model.config.max_length - 1):
            logp = model.decode(memory, torch.tensor([ids]))[0, -1].log_softmax(-1)
            logp[:2] = float("-inf")
            ids.append(int(logp.argmax()))
            if ids[-1] == model.eos:
                break
    words = [model.config.vocab[i] for i in ids[1:] if i != model.eos]
    assert greedy[0].text == " ".join(words)
    wide = model.generate(pixels, beams=4)
    assert len(greedy) == len(wide) == 6
    assert sum(w.score >= g.score - 1e-6 for g, w in zip(greedy, wide)) >= 5


def test_guidance_lets_the_image_outvote_the_word_prior(monkeypatch):
    """After "red" the captions' prior all but rules out "circle" (no red circle in training),
    the image favours it over that prior: plain decoding says "square", guided says "circle"."""
    from polymodal.core.errors import ConfigError
    model = Captioner(CaptionerConfig(TINY_CNN, ["red", "circle", "square"], dim=32, layers=1, heads=2,
                                      image_dropout=0.1)).eval()
    index = model.tokenizer.index

    def probabilities(circle, square):
        p = torch.full((len(model.config.vocab),), 1e-3)
        p[index["circle"]], p[index["square"]] = circle, square
        return p.log()

    with_image, prior = probabilities(0.2, 0.7), probabilities(1e-4, 0.9)
    prior[index["red"]] = math.log(1e-12)         # ruled out by the prior, and all but by the image:
                                                  # the plausibility cut keeps guidance off it

    def decode(memory, ids):                      # the null memory is the "no image" pass
        no_image = bool((memory == model.null_memory).all())
        return (prior if no_image else with_image).expand(len(ids), ids.shape[1], -1)

    monkeypatch.setattr(model, "decode", decode)
    memory, seqs = torch.randn(1, 4, 32), torch.tensor([[index["<cls>"], index["red"]]])
    plain, guided = model.next_word_logp(memory, seqs, 0.0), model.next_word_logp(memory, seqs, 1.0)
    assert plain.argmax() == index["square"] and guided.argmax() == index["circle"]
    assert guided.exp().sum().item() == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ConfigError, match="image_dropout"):
        tiny_captioner().generate(torch.zeros(1, 3, 64, 64), guidance=1.0)


def test_image_dropout_trains_a_no_image_decoder():
    model = Captioner(CaptionerConfig(TINY_CNN, ["a", "red", "circle"], dim=32, layers=1, heads=2,
                                      image_dropout=1.0, dropout=0.0)).train()
    batch = model.preprocess({"image": [np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8)],
                              "caption": ["a red circle", "a red circle"]})
    logits = model(batch)
    assert torch.allclose(logits[0], logits[1], atol=1e-5)       # every image dropped: same words
    logits.sum().backward()
    assert model.null_memory.grad.abs().sum() > 0
    assert model.image_encoder.convs[0].weight.grad.abs().sum() == 0           # no image was read


def test_word_dropout_hides_earlier_words_in_training_only():
    model = Captioner(CaptionerConfig(TINY_CNN, ["a", "red", "circle"], dim=32, layers=1, heads=2,
                                      word_dropout=0.5, dropout=0.0))
    batch = model.preprocess({"image": [np.zeros((64, 64, 3), np.uint8)] * 8, "caption": ["a red circle"] * 8})
    torch.manual_seed(0)
    trained = model.train()(batch)
    assert not all(torch.allclose(trained[0], trained[i], atol=1e-5) for i in range(1, 8))  # rows hid different words
    assert torch.allclose(trained[:, 0], trained[0, 0].expand_as(trained[:, 0]), atol=1e-5)  # <cls> always stays
    evaluated = model.eval()(batch)
    assert all(torch.allclose(evaluated[0], evaluated[i], atol=1e-5) for i in range(1, 8))


def test_preprocess_shifts_captions_and_rejects_unknown_words():
    model = tiny_captioner()
    batch = model.preprocess({"image": [np.zeros((64, 64, 3), np.uint8)] * 2,
                              "caption": ["a red circle", "a blue square"]})
    idx = model.tokenizer.index
    assert batch["input_ids"][0].tolist() == [idx["<cls>"], idx["a"], idx["red"], idx["circle"]]
    assert batch["targets"][0].tolist() == [idx["a"], idx["red"], idx["circle"], model.eos]
    with pytest.raises(InputError, match="unknown word 'green'"):
        model.preprocess({"image": [np.zeros((64, 64, 3), np.uint8)], "caption": ["a green circle"]})


# -- fact scoring -----------------------------------------------------------------------
OBJECTS = [{"colour": "red", "shape": "circle", "box": [0, 0, 10, 10]},
           {"colour": "blue", "shape": "square", "box": [30, 0, 40, 10]}]
REFERENCE = "a red circle left of a blue square"


def test_fact_scores_reward_true_facts_only():
    truth = SceneTruth.build(REFERENCE, OBJECTS)
    assert fact_counts(REFERENCE, truth) == (3, 3, 3, 3)
    assert fact_counts("a blue square right of a red circle", truth) == (3, 3, 3, 3)   # same facts, other way
    assert fact_counts("a red circle above a blue square", truth) == (2, 3, 2, 3)     # false relation
    assert fact_counts("a red circle", truth) == (1, 1, 1, 3)                          # says too little
    assert fact_counts("a green circle left of a blue square", truth) == (1, 3, 1, 3)  # wrong colour
    assert fact_counts("a red circle left of a blob", truth) == (0, 1, 0, 3)           # outside the grammar
    scores = fact_scores([REFERENCE, "a red circle"], [truth, truth])
    assert scores["fact_precision"] == 1.0 and scores["fact_recall"] == pytest.approx(4 / 6)


def test_fact_scores_without_positions_use_the_reference_relations():
    truth = SceneTruth.build(REFERENCE)
    assert fact_counts("a blue square right of a red circle", truth) == (3, 3, 3, 3)
    assert fact_counts("a blue square left of a red circle", truth) == (2, 3, 2, 3)


def test_metrics_on_the_references_themselves_are_perfect():
    examples, _ = caption.CaptionTask().load_examples("shapes:shapes:test", 4, 20)
    m = caption_metrics(examples, [ex.captions[0] for ex in examples])
    assert m["fact_f1"] == 1.0 and m["exact_match"] == 1.0 and m["bleu4"] > 0.99 and m["cider"] > 5


# -- training through the trainer, saving, loading ---------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny captioner trained on 16 scenes until it can repeat their captions."""
    from polymodal.training import run as training_run
    out = tmp_path_factory.mktemp("caption-run")
    recipe = {"task": "caption", "data": {"spec": "shapes:shapes:train", "seed": 5, "n": 16},
              "model": {"image_encoder": TINY_CNN, "dim": 64, "layers": 2, "heads": 4, "dropout": 0.0},
              "train": {"epochs": 150, "batch_size": 16, "lr": 3e-3, "warmup_steps": 10, "seed": 0,
                        "checkpoint_every": 10 ** 6}}
    training_run.run(recipe, out)
    return out / "model"


def test_training_learns_the_captions_it_saw(trained):
    model = load_model(trained)
    examples, _ = caption.CaptionTask().load_examples("shapes:shapes:train", 5, 16)
    m = caption.CaptionTask().evaluate(model, examples)
    assert m["fact_f1"] > 0.9, m


def test_saved_captioner_round_trips(trained, tmp_path):
    model = load_model(trained)
    assert isinstance(model, Captioner)
    again = load_model(model.save_pretrained(tmp_path / "copy"))
    pixels = model.preprocess({"image": [s.image for s in shapes("shapes", "test", 1, 3)]})["image"]
    assert [c.text for c in model.generate(pixels)] == [c.text for c in again.generate(pixels)]
    config = json.loads((trained / "config.json").read_text())
    assert config["kind"] == "captioner" and config["vocab"][:3] == ["<pad>", "<cls>", "<eos>"]


def test_caption_cli(trained, tmp_path, capsys):
    assert main(["data", "shapes", "--preset", "shapes", "--split", "test", "--seed", "2", "--n", "3",
                 "--out", str(tmp_path / "d")]) == 0
    image = tmp_path / "d" / "images" / "test-2-000000.png"
    capsys.readouterr()
    assert main(["caption", str(image), "--model", str(trained), "--beams", "2"]) == 0
    assert capsys.readouterr().out.strip()
    assert main(["caption", "--data", str(tmp_path / "d" / "manifest.jsonl"), "--model", str(trained), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3 and {"image", "caption", "score"} <= set(lines[0])
    assert main(["eval", "caption", "--data", "shapes:shapes:test", "--n", "5", "--model", str(trained), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"bleu4", "cider", "fact_f1", "fact_precision", "fact_recall", "images"} <= set(metrics)


def test_caption_cli_bad_input(trained, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert main(["caption", str(bad), "--model", str(trained)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.png" in err
    assert main(["eval", "vqa", "--data", "shapes:sort-of-clevr:test", "--n", "2", "--model", str(trained)]) == 2
    assert "a model for caption, not for vqa" in capsys.readouterr().err
    assert main(["eval", "caption", "--data", "shapes:nope:test", "--n", "2", "--model", str(trained)]) == 2
    assert "nope" in capsys.readouterr().err
    from PIL import Image
    Image.fromarray(shapes("shapes", "test", 0, 1)[0].image).save(tmp_path / "good.png")
    # this decoder never learnt captions without images, so it has no prior to guide past
    assert main(["caption", str(tmp_path / "good.png"), "--model", str(trained), "--guidance", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "image_dropout" in err
    assert main(["caption", str(tmp_path / "good.png"), "--model", str(trained), "--guidance", "0"]) == 0
