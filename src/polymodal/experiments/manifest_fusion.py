"""The fusion table on a user's manifest (`polymodal compare-fusion --data my.jsonl`): the same
encoders, data and step budget for each fusion strategy, scored on a validation manifest with
the task's own metrics.

A pretrained encoder is frozen (its embeddings cached, encoders/embedding_cache.py), so the
whole table costs one encoding pass over the data: the first strategy computes each distinct
input's embedding and every later one reads it back. The table reports both counts.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..core import files
from ..core.errors import ConfigError, InputError
from ..encoders import embedding_cache
from ..encoders.registry import encoder_spec
from ..loading import load_model
from ..training import run as training_run
from .fusion_table import STRATEGIES

# hybrid:relation pairs every image token with every other: affordable on a CNN's 5x5 grid,
# not on a pretrained tower's hundreds of patches; it stays in the sort-of-clevr table.
MANIFEST_STRATEGIES = {name: knobs for name, knobs in STRATEGIES.items() if name != "hybrid:relation"}


def recipe(task: str, data: str, val: str, encoders: dict, fusion: str, steps: int, batch_size: int,
           seed: int) -> dict:
    built = training_run.trainable_task(task)
    return {"name": f"fusion-table-{fusion}", "task": task,
            "data": {"spec": data, "seed": seed, "n": 10 ** 9}, "val": {"spec": val, "seed": seed, "n": 10 ** 9},
            "model": built.model_spec(encoders, fusion, dict(MANIFEST_STRATEGIES[fusion]), 128),
            "train": {"epochs": 10_000, "max_steps": steps, "batch_size": batch_size, "lr": 1e-3,
                      "warmup_steps": max(1, min(300, steps // 10)), "seed": seed, "checkpoint_every": 10 ** 9}}


def compare_on_manifest(task: str, data: str, val: str, given: dict, fusions: list[str], steps: int,
                        batch_size: int, seed: int, out: Path, runs: Path, command: str) -> Path:
    """Train each fusion into `runs/`, score it on `val`; table, JSON and plot into `out/`."""
    built = training_run.trainable_task(task)
    if not built.chooses_fusion:
        raise InputError(f"a {task} model is of its own kind, with no fusion strategy to compare "
                         f"(compare-fusion takes vqa, classify or text-qa)")
    unknown = [f for f in fusions if f not in MANIFEST_STRATEGIES]
    if unknown:
        raise ConfigError(f"no fusion-table settings for {', '.join(unknown)} on a manifest; known: "
                          f"{', '.join(MANIFEST_STRATEGIES)}")
    val_examples, _ = built.load_data(val, seed, 10 ** 9)
    given = {m: name for m, name in given.items() if m in built.modalities(val_examples)}
    encoders = {m: encoder_spec(name, m) for m, name in given.items()}
    before = embedding_cache.usage()
    rows = []
    for fusion in fusions:
        started = time.perf_counter()
        result = training_run.run(recipe(task, data, val, encoders, fusion, steps, batch_size, seed), runs / fusion)
        model = load_model(str(runs / fusion / "model"))
        metrics = built.evaluate(model, val_examples, 64)
        used = embedding_cache.usage()
        rows.append({"fusion": fusion, **{k: metrics[k] for k in built.curve_metrics if k in metrics},
                     "parameters": model.num_parameters(), "train_seconds": round(result["elapsed_s"], 1),
                     "seconds": round(time.perf_counter() - started, 1),
                     "embeddings_computed": used["computed"] - before["computed"],
                     "embeddings_reused": used["reused"] - before["reused"]})
        before = used
        print(json.dumps(rows[-1]), flush=True)
    settings = {"task": task, "data": data, "val": val, "encoders": {m: e["name"] for m, e in encoders.items()},
                "given": given, "steps": steps, "batch_size": batch_size, "seed": seed, "command": command}
    out.mkdir(parents=True, exist_ok=True)
    files.save_json({"settings": settings, "rows": rows}, out / "fusion_table.json")
    files.save_text(markdown(rows, built.curve_metrics, settings), out / "fusion_table.md")
    plot(rows, built.curve_metrics[0], out / "fusion_table.png")
    return out / "fusion_table.md"


def markdown(rows: list[dict], metrics: tuple, settings: dict) -> str:
    shown = [m for m in metrics if m in rows[0]]
    lines = ["| fusion | " + " | ".join(f"validation {m}" for m in shown)
             + " | parameters | training time | embeddings computed | embeddings reused |",
             "|---|" + "---|" * (len(shown) + 4)]
    for r in rows:
        lines.append(f"| `{r['fusion']}` | " + " | ".join(f"{r[m]:.4f}" for m in shown)
                     + f" | {r['parameters'] / 1e3:.0f}k | {r['train_seconds']:.0f} s | {r['embeddings_computed']} | "
                       f"{r['embeddings_reused']} |")
    given = ", ".join(f"{m}: {name}" for m, name in settings["given"].items())
    lines += ["", f"Task {settings['task']}; training data {settings['data']}, scored on {settings['val']}; encoders "
                  f"{given}; {settings['steps']} steps of {settings['batch_size']} for each strategy (seed "
                  f"{settings['seed']}). Command: `{settings['command']}`."]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], metric: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar([r["fusion"] for r in rows], [r.get(metric, 0.0) for r in rows])
    ax.set(ylabel=f"validation {metric}", title="fusion strategies on one manifest, one budget")
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    files.atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
