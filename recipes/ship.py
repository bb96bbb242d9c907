"""Ship a trained run as a package model: copy its weights and config into
src/polymodal/shipped/NAME/ and write the model card from measurements made here.

    python recipes/ship.py runs/vqa-sort-of-clevr vqa-sort-of-clevr --recipe recipes/vqa-sort-of-clevr.yaml

The test set uses a seed that training never used (training: seed 1; test here: seed 7).
"""
import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

from polymodal.model import MultimodalModel
from polymodal.tasks import vqa

TEST_SEED, TEST_SCENES = 7, 200          # 4,000 questions
GOLDEN_SEED, GOLDEN_SCENES = 11, 5       # 100 questions whose answers the golden test pins


def measure(model) -> tuple[dict, float]:
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:test", TEST_SEED, TEST_SCENES)
    started = time.perf_counter()
    metrics = vqa.VQATask.evaluate(model, examples, 64)
    return metrics, metrics["questions"] / (time.perf_counter() - started)


def card(name: str, recipe: str, run: Path, model, metrics: dict, qps: float, history: str) -> str:
    log = json.loads((run / "metrics.json").read_text())
    last = log["evals"][-1] if log["evals"] else {}
    per_type = "\n".join(f"| {k} | {100 * v:.1f}% |" for k, v in metrics["per_type"].items())
    cfg = model.config
    return f"""# {name}

Visual question answering on the embedded sort-of-clevr world (Relation Networks paper spec):
a 75x75 image and an English question -> one of {", ".join(cfg.labels)}.

- **Architecture**: {cfg.encoders["image"]["name"]} image encoder ({model.encoders["image"].side}x{model.encoders["image"].side} visual tokens with coordinates),
  {cfg.encoders["text"]["name"]} question encoder, `{cfg.fusion}` fusion {cfg.fusion_config}, linear answer head;
  {model.num_parameters():,} parameters.
- **Data**: `shapes:sort-of-clevr:train`, seed 1 (see the recipe for the number of scenes; 20 questions each).
- **Training**: `polymodal train --recipe {recipe} --out runs/{name}`; {last.get("step", "?")} steps,
  {last.get("epoch", "?")} epochs, {last.get("elapsed_s", 0) / 60:.0f} minutes of training on {platform.machine()} CPU
  ({torch.get_num_threads()} threads).
- **Test** (`polymodal eval vqa --data shapes:sort-of-clevr:test --seed {TEST_SEED} --n {TEST_SCENES} --json`,
  a seed never used in training, {metrics["questions"]} questions):

| metric | value |
|---|---|
| accuracy | {100 * metrics["accuracy"]:.1f}% |
| relational | {100 * metrics["relational_accuracy"]:.1f}% |
| non-relational | {100 * metrics["non_relational_accuracy"]:.1f}% |
{per_type}

Inference on this machine: {qps:.0f} questions/s (batch of 64 images).
{history}
Limits: trained only on sort-of-clevr scenes; questions must use the words of its templates
(an unknown word is refused, not guessed).
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("name")
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--history", default="", help="how the run went (interruptions, changes), for the card")
    args = parser.parse_args()
    model = MultimodalModel.from_pretrained(args.run / "model")
    metrics, qps = measure(model)
    target = Path(__file__).resolve().parents[1] / "src" / "polymodal" / "shipped" / args.name
    target.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "model.safetensors"):
        shutil.copy2(args.run / "model" / f, target / f)
    (target / "README.md").write_text(card(args.name, args.recipe, args.run, model, metrics, qps,
                                                     f"\n## How this run went\n\n{args.history}\n" if args.history else ""))
    (target / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:test", GOLDEN_SEED, GOLDEN_SCENES)
    _, answers, _ = vqa.predict(model, examples)
    golden = {"data": f"shapes:sort-of-clevr:test seed {GOLDEN_SEED} n {GOLDEN_SCENES}", "answers": answers}
    (target / "golden.json").write_text(json.dumps(golden) + "\n")
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
