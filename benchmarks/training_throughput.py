"""Training throughput on a CPU: items a second (questions, captions, utterances) through
polymodal's trainer on the embedded world's shipped recipes, against a plain PyTorch loop over
the same model, the same batches and the same optimiser, and the share of the trainer's step
time spent building batches (the data a step waits on).

    python benchmarks/training_throughput.py                    # 40 steps of each recipe
    python benchmarks/training_throughput.py --steps 20 --recipes vqa-sort-of-clevr,caption-shapes

Each recipe's model is built twice from one seed on the recipe's own data (a few batches'
worth); the trainer runs `--steps` steps (no validation), then the plain loop runs as many:
make the batch with the task's own make_batch, forward, the task's loss, backward, clip the
gradients, AdamW. Both count the same steps, the first included. Writes
benchmarks/results/training_throughput.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from polymodal.core.machine import describe_machine
from polymodal.training import run as training_run
from polymodal.training.recipes import load_recipe
from polymodal.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
RECIPES = ("vqa-sort-of-clevr", "caption-shapes", "asr-spoken-world", "video-qa-motion")
QUESTION_TASKS = ("vqa", "video-qa")          # items are questions; otherwise each example is one


def items_in(task_name: str, examples) -> int:
    return sum(len(ex.questions) for ex in examples) if task_name in QUESTION_TASKS else len(examples)


def setup(name: str, steps: int):
    recipe = load_recipe(ROOT / "recipes" / f"{name}.yaml")
    task = training_run.trainable_task(recipe["task"], recipe.get("task_options"))
    cfg = training_run.train_config({**recipe.get("train", {}), "max_steps": steps, "time_budget_s": None,
                                     "epochs": 10 ** 6, "checkpoint_every": 10 ** 9}, task)     # max_steps ends it
    n = cfg.batch_size * min(steps, 8)          # a few batches' worth, reused over epochs
    examples, _ = training_run.load_data(task, {**recipe["data"], "n": n}, recipe, n)
    spec = {k: v for k, v in recipe["model"].items() if k != "init"}
    return recipe, task, cfg, examples, spec


def fresh_model(task, spec, examples, seed: int = 0):
    torch.manual_seed(seed)
    return training_run.build_model(task, spec, examples)


def with_trainer(task, cfg, examples, spec) -> dict:
    model = fresh_model(task, spec, examples)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, task, examples, [], out, cfg)
        trainer.fit()
        return {"seconds": trainer.elapsed, "data_seconds": trainer.data_elapsed, "steps": trainer.step}


def plain_loop(task, cfg, examples, spec, steps: int) -> dict:
    model = fresh_model(task, spec, examples).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    order = np.random.default_rng(0).permutation(len(examples))
    batches = [[examples[i] for i in order[s:s + cfg.batch_size]]
               for s in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size)]
    seconds = data = 0.0
    for step in range(steps):
        started = time.perf_counter()
        batch, targets = task.make_batch(model, batches[step % len(batches)], np.random.default_rng(step))
        made = time.perf_counter()
        loss = task.loss(model(batch), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        seconds += time.perf_counter() - started
        data += made - started
    return {"seconds": seconds, "data_seconds": data, "steps": steps}


def measure(name: str, steps: int) -> dict:
    recipe, task, cfg, examples, spec = setup(name, steps)
    per_step = items_in(recipe["task"], examples) / (len(examples) / cfg.batch_size)
    ours = with_trainer(task, cfg, examples, spec)
    plain = plain_loop(task, cfg, examples, spec, ours["steps"])
    rate = lambda r: per_step * r["steps"] / r["seconds"]
    return {"recipe": name, "task": recipe["task"], "batch": cfg.batch_size, "items_per_step": round(per_step, 1),
            "steps": ours["steps"], "trainer_items_s": round(rate(ours), 1), "plain_items_s": round(rate(plain), 1),
            "trainer_over_plain": round(rate(ours) / rate(plain), 3),
            "trainer_data_share": round(ours["data_seconds"] / ours["seconds"], 3),
            "plain_data_share": round(plain["data_seconds"] / plain["seconds"], 3),
            "mixed_precision": cfg.mixed_precision}


def markdown(rows: list[dict], command: str) -> str:
    head = ["recipe", "items", "batch (items a step)", "trainer items/s", "plain loop items/s", "trainer / plain",
            "data share (trainer)", "data share (plain)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        unit = "questions" if r["task"] in QUESTION_TASKS else {"transcribe": "utterances"}.get(r["task"], "images")
        lines.append(f"| {r['recipe']} | {unit} | {r['batch']} ({r['items_per_step']}) | {r['trainer_items_s']} | "
                     f"{r['plain_items_s']} | {r['trainer_over_plain']:.2f}x | {100 * r['trainer_data_share']:.1f}% | "
                     f"{100 * r['plain_data_share']:.1f}% |")
    return "\n".join(lines) + f"\n\n{rows[0]['steps']} steps each. Command: `{command}`; machine: {describe_machine()}.\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    args = parser.parse_args()
    rows = []
    for name in args.recipes.split(","):
        rows.append(measure(name, args.steps))
        print(json.dumps(rows[-1]), flush=True)
    command = f"python benchmarks/training_throughput.py --steps {args.steps} --recipes {args.recipes}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "training_throughput.json").write_text(json.dumps({"command": command, "rows": rows}, indent=2) + "\n")
    (RESULTS / "training_throughput.md").write_text(markdown(rows, command))
    print(markdown(rows, command))


if __name__ == "__main__":
    main()
