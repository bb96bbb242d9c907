"""What lexicon decoding does for a recogniser trained before it existed: the model's WER on
test voices as it spells, and with the lexicon its recipe's training transcripts give (the
rule `TranscribeTask.build_model` now applies to every new recogniser).

    python benchmarks/lexicon_decoding.py runs/asr-spoken-world --recipe recipes/asr-spoken-world.yaml
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from polymodal.pretrained import load_model
from polymodal.speech.text import normalize_transcript
from polymodal.tasks import transcribe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--recipe", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    data = yaml.safe_load(args.recipe.read_text())["data"]
    train, _ = transcribe.load_examples(data["spec"], data.get("seed", 1), data.get("n", 1000))
    lexicon = sorted({w for ex in train for w in normalize_transcript(ex.transcript).split()})
    model = load_model(args.run / "model")
    out = {"lexicon_words": len(lexicon)}
    for label, snr in (("clean", None), ("10 dB SNR", 10.0)):
        test, _ = transcribe.load_examples("spoken:test", args.seed, args.n, noise_snr=snr)
        model.config.lexicon, model._lexicon = [], set()
        out[f"{label}, as spelled"] = transcribe.TranscribeTask.evaluate(model, test)
        model.config.lexicon, model._lexicon = lexicon, set(lexicon)
        out[f"{label}, with lexicon"] = transcribe.TranscribeTask.evaluate(model, test)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
