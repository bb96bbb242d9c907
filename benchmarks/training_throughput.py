"""Training throughput on a CPU: items a second (questions, captions, utterances) through
polymodal's trainer on the embedded world's shipped recipes, against a plain PyTorch loop over
the same model, the same batches and the same optimiser, and the share of the trainer's step
time spent building batches (the data a step waits on).

    python benchmarks/training_throughput.py                    # 40 steps of each recipe
    python benchmarks/training_throughput.py --steps 20 --recipes vqa-sort-of-clevr,caption-shapes

Each recipe's model is built from one seed on the recipe's own data (a few batches' worth)
for each run; the trainer runs `--steps` steps (no validation), and the plain loop runs the
same batches in the trainer's order with its augmentation seeds: make the batch with the
task's own make_batch, forward, the task's loss, backward, clip the gradients, AdamW. One
untimed run of each comes first: the batches' shapes vary (questions per scene, utterance
lengths), and the first run meeting each shape pays for building its kernels (oneDNN's bf16
ones most: the first of five 10-step runs of video-qa-motion took 18.0 s, the last 11.7 s).
Then each runs twice, in the order trainer, plain, plain, trainer, so a machine that speeds up
or slows down during the measurement (a neighbour's job) weighs on both alike; the rates are
over both timed runs' steps. Both run in the recipe's precision: fp32 where it
says "auto" (the trainer's choice on a CPU), bf16 autocast where it says bf16. Writes
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


def precision_of(cfg) -> str:
    """The precision the trainer runs a recipe in on a CPU (Trainer: "auto" is fp32 there)."""
    return "fp32" if cfg.mixed_precision in ("auto", "no") else cfg.mixed_precision


def fresh_model(task, spec, examples, seed: int = 0):
    torch.manual_seed(seed)
    return training_run.build_model(task, spec, examples)


def with_trainer(task, cfg, examples, spec) -> dict:
    model = fresh_model(task, spec, examples)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, task, examples, [], out, cfg)
        trainer.fit()
        # the batches the trainer took, in its order (a new shuffle each epoch), for the plain loop
        per_epoch = len(trainer.batches(0))
        taken = [(b, [cfg.seed, i // per_epoch, i % per_epoch])
                 for i, b in enumerate(b for e in range(trainer.epoch + 1) for b in trainer.batches(e))][:trainer.step]
        return {"seconds": trainer.elapsed, "data_seconds": trainer.data_elapsed, "steps": trainer.step,
                "batches": taken}


def plain_loop(task, cfg, spec, examples, batches: list) -> dict:
    """The same steps as a plain loop: the trainer's batches with its augmentation seeds."""
    model = fresh_model(task, spec, examples).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    # the trainer's mixed precision on a CPU: "auto" is fp32, "bf16" autocast
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision_of(cfg) == "bf16")
    seconds = data = 0.0
    for examples_in_step, seed in batches:
        started = time.perf_counter()
        batch, targets = task.make_batch(model, examples_in_step, np.random.default_rng(seed))
        made = time.perf_counter()
        with autocast:
            loss = task.loss(model(batch), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        seconds += time.perf_counter() - started
        data += made - started
    return {"seconds": seconds, "data_seconds": data, "steps": len(batches)}


def measure(name: str, steps: int) -> dict:
    recipe, task, cfg, examples, spec = setup(name, steps)
    per_step = items_in(recipe["task"], examples) / (len(examples) / cfg.batch_size)
    batches = with_trainer(task, cfg, examples, spec)["batches"]
    plain_loop(task, cfg, spec, examples, batches)          # warm-up, untimed: see the module's notes
    trainers = [with_trainer(task, cfg, examples, spec)]
    plains = [plain_loop(task, cfg, spec, examples, batches) for _ in range(2)]
    trainers.append(with_trainer(task, cfg, examples, spec))
    ours, plain = ({k: sum(r[k] for r in runs) for k in ("seconds", "data_seconds", "steps")}
                   for runs in (trainers, plains))
    rate = lambda r: per_step * r["steps"] / r["seconds"]
    return {"recipe": name, "task": recipe["task"], "batch": cfg.batch_size, "items_per_step": round(per_step, 1),
            "steps": len(batches), "trainer_items_s": round(rate(ours), 1), "plain_items_s": round(rate(plain), 1),
            "trainer_over_plain": round(rate(ours) / rate(plain), 3),
            "trainer_data_share": round(ours["data_seconds"] / ours["seconds"], 3),
            "plain_data_share": round(plain["data_seconds"] / plain["seconds"], 3),
            "precision": precision_of(cfg)}


def markdown(rows: list[dict], command: str) -> str:
    head = ["recipe", "items", "precision", "batch (items a step)", "trainer items/s", "plain loop items/s", "trainer / plain",
            "data share (trainer)", "data share (plain)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        unit = "questions" if r["task"] in QUESTION_TASKS else {"transcribe": "utterances"}.get(r["task"], "images")
        lines.append(f"| {r['recipe']} | {unit} | {r['precision']} | {r['batch']} ({r['items_per_step']}) | {r['trainer_items_s']} | "
                     f"{r['plain_items_s']} | {r['trainer_over_plain']:.2f}x | {100 * r['trainer_data_share']:.1f}% | "
                     f"{100 * r['plain_data_share']:.1f}% |")
    return "\n".join(lines) + f"\n\n{rows[0]['steps']} steps a run; after one untimed run of each, each tool ran twice (trainer, plain, plain, trainer) and its rate is over both runs. Command: `{command}`; machine: {describe_machine()}.\n"


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
