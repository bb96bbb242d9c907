"""How fast the text-to-image model samples on this machine: one 64x64 image at a time, and
batched, for each scheduler and a few step counts. Speed does not depend on the weights,
so a model built from the recipe (random weights) is timed when none is given.

    python benchmarks/generate_speed.py [--model DIR] [--recipe recipes/generate-shapes.yaml]
        -> benchmarks/results/generate_speed.{md,json}
"""
import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from polymodal.core.files import save_json, save_text
from polymodal.loading import load_model
from polymodal.tasks.generate import GenerateExample, GenerateTask
from polymodal.training.recipes import load_recipe

PROMPT = "a red circle left of a blue square and the blue square above a green triangle"


def build(recipe_path: str):
    recipe = load_recipe(recipe_path)
    return GenerateTask().build_model(recipe["model"], [GenerateExample(PROMPT)]).eval()


def seconds(model, batch: int, steps: int, scheduler: str, repeats: int = 3) -> float:
    model.sample([PROMPT] * batch, 0, steps, 3.0, scheduler)           # warm-up
    times = []
    for r in range(repeats):
        started = time.perf_counter()
        model.sample([PROMPT] * batch, r, steps, 3.0, scheduler)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model")
    parser.add_argument("--recipe", default="recipes/generate-shapes.yaml")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    model = load_model(args.model) if args.model else build(args.recipe)
    rows = []
    for scheduler, steps in (("ddim", 10), ("ddim", 25), ("dpm", 10), ("dpm", 25), ("ddpm", 50)):
        one = seconds(model, 1, steps, scheduler)
        batched = seconds(model, 16, steps, scheduler, repeats=1)
        rows.append({"scheduler": scheduler, "steps": steps, "seconds_per_image": round(one, 3),
                     "images_per_s_batch16": round(16 / batched, 2)})
        print(json.dumps(rows[-1]), flush=True)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, CPU"
    command = "python " + " ".join(sys.argv)
    lines = ["| scheduler | steps | one image | batch of 16 |", "|---|---|---|---|"]
    lines += [f"| {r['scheduler']} | {r['steps']} | {r['seconds_per_image']:.2f} s | {r['images_per_s_batch16']:.1f} images/s |"
              for r in rows]
    lines += ["", f"64x64, classifier-free guidance (two UNet passes a step), {model.num_parameters() / 1e6:.1f} M "
                  f"parameters. Command: `{command}`; machine: {machine}."]
    out = Path(args.out)
    save_json({"rows": rows, "machine": machine, "command": command, "parameters": model.num_parameters()},
              out / "generate_speed.json")
    save_text("\n".join(lines) + "\n", out / "generate_speed.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
