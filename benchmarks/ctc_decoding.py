"""How a recogniser's decoding changes its word error rate: greedy as spelled, greedy with
misspelt words snapped to the lexicon, and the lexicon beam search with the word bigram
model (speech/ctc_beam.py), all from the same per-frame probabilities.

    python benchmarks/ctc_decoding.py MODEL_DIR --recipe recipes/asr-spoken-world.yaml --tune
    python benchmarks/ctc_decoding.py MODEL_DIR --recipe recipes/asr-spoken-world.yaml --write

The lexicon and bigrams come from the recipe's training transcripts (what a new run's
model gets from `TranscribeTask.build_model`). --tune picks the LM weight and word bonus on
the validation voices (never the test ones); --write stores the language model and the
chosen settings in MODEL_DIR/config.json, for a model trained before the beam search existed.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch
import yaml

from polymodal.core.files import atomic_write
from polymodal.loading import load_model
from polymodal.models.recognizer import Recognizer
from polymodal.tasks import transcribe


def frame_probabilities(model: Recognizer, examples, batch_size: int = 32) -> list[dict]:
    """The model run once: per utterance window, its log probabilities and length."""
    outs = []
    with torch.no_grad():
        audios = [transcribe.audio_of(ex) for ex in examples]
        for start in range(0, len(audios), batch_size):
            out = model(model.preprocess({"audio": audios[start:start + batch_size]}))
            outs += [{"log_probs": out["log_probs"][i:i + 1], "lengths": out["lengths"][i:i + 1]}
                     for i in range(len(out["lengths"]))]
    return outs


def score(model: Recognizer, outs: list[dict], examples) -> dict:
    model._beam_searches = {}                     # rebuilt from the config as it is now
    hyps = [model.decode(out)[0].text for out in outs]
    return transcribe.error_rates([ex.transcript for ex in examples], hyps)


def variants(model: Recognizer, lm: dict) -> dict:
    """name -> config changes."""
    return {"greedy, as spelled": {"lexicon": [], "word_ngrams": {}},
            "greedy, lexicon snap": {"lexicon": lm["lexicon"], "word_ngrams": {}},
            "lexicon beam + word trigrams": {**lm}}


def apply(model: Recognizer, changes: dict) -> None:
    for k, v in changes.items():
        setattr(model.config, k, v)
    model._lexicon = set(model.config.lexicon)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a recogniser's folder (a run's model/ or a checkpoint)")
    parser.add_argument("--recipe", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=7, help="test seed")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--order", type=int, default=3, help="the word n-grams' order")
    parser.add_argument("--tune", action="store_true", help="grid-search lm_weight and word_bonus on val voices")
    parser.add_argument("--write", action="store_true", help="store the language model in the model's config.json")
    args = parser.parse_args()
    recipe = yaml.safe_load(args.recipe.read_text())
    train, _ = transcribe.load_examples(recipe["data"]["spec"], recipe["data"].get("seed", 1), recipe["data"].get("n", 1000))
    lm = transcribe.language_model(train, args.order)
    model = load_model(args.model).eval()
    report = {"model": str(args.model), "lexicon_words": len(lm["lexicon"])}
    if args.tune:
        val, _ = transcribe.load_examples("spoken:val", 1, 200)
        outs = frame_probabilities(model, val)
        apply(model, lm)
        grid = {}
        for w, b in itertools.product((0.3, 0.6, 1.0, 1.5), (0.0, 1.0, 2.0)):
            apply(model, {"lm_weight": w, "word_bonus": b})
            grid[f"lm_weight {w}, word_bonus {b}"] = score(model, outs, val)["wer"]
        best = min(grid, key=grid.get)
        w, b = (float(x.split()[-1]) for x in best.split(", "))
        lm.update({"lm_weight": w, "word_bonus": b})
        report["val_grid_wer"], report["chosen"] = grid, best
        print(json.dumps({"chosen": best, "val_wer": grid[best]}), file=sys.stderr)
    else:
        lm.update({"lm_weight": model.config.lm_weight, "word_bonus": model.config.word_bonus})
    for label, snr in (("clean", None), ("10 dB SNR", 10.0)):
        test, _ = transcribe.load_examples("spoken:test", args.seed, args.n, noise_snr=snr)
        outs = frame_probabilities(model, test)
        for name, changes in variants(model, lm).items():
            apply(model, changes)
            report[f"{label}: {name}"] = score(model, outs, test)
            print(json.dumps({f"{label}: {name}": report[f"{label}: {name}"]["wer"]}), file=sys.stderr)
    if args.write:
        config = json.loads((args.model / "config.json").read_text())
        config.update(lm)
        atomic_write(args.model / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2)))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
