"""The fusion table: the same encoders, data and step budget, different fusion strategies,
scored on sort-of-clevr relational and non-relational questions beside the Relation
Networks paper's figures.

Every strategy starts from one image encoder pretrained on the scenes alone
(object_pretraining): the comparison is about fusing the same unimodal features. Under a
CPU budget the table measures how fast each fusion learns to relate the question to the
image, not where each would end given unlimited steps."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..core import files
from ..core.errors import ConfigError
from ..models.multimodal import MultimodalModel
from ..tasks import vqa
from ..tasks.metrics.answers import answer_metrics
from ..training import run as training_run
from . import object_pretraining

# Santoro et al. 2017, Sort-of-CLEVR (their Figure/Table): accuracy in percent.
# Both models were above 94% on non-relational questions; CNN+MLP plateaued at 63% relational.
PAPER = {"CNN+MLP": {"relational": "63%", "non_relational": ">94%"},
         "CNN+RN": {"relational": ">94%", "non_relational": ">94%"}}
PAPER_RELATIONAL = {"CNN+MLP": 63, "CNN+RN": 94}

# One entry per row of the table: the fusion and its knobs. The shared CNN gives a 5x5 grid
# (four stride-2 convolutions on 75x75, as in the paper), which keeps relation networks
# affordable: 625 object pairs per question.
STRATEGIES = {
    "early:feature": {},                                   # the paper's CNN+MLP
    "early:token": {"dim": 64, "layers": 4},
    "late:mean": {},
    "hybrid:film": {"dim": 64, "layers": 4},
    "hybrid:cross-attention": {"dim": 64, "layers": 4},
    "hybrid:bottleneck": {"dim": 64, "layers": 4, "fusion_layer": 2, "bottlenecks": 4},
    # the paper's CNN+RN, with g narrowed from 4 x 256 to 3 x 64: 625 pairs per question make
    # it the costliest row even so
    "hybrid:relation": {"hidden": 64, "g_layers": 3},
}
QUESTIONS_PER_IMAGE = 4     # of each scene's 20 per step: 128 questions, the paper's batch was 64
PRETRAIN_STEPS = 3000
ENCODERS = {
    "image": {"name": "cnn", "config": {"dim": 64, "channels": [32, 64, 64, 64], "strides": [2, 2, 2, 2],
                                       "image_size": 75, "coords": True}},
    "text": {"name": "transformer", "config": {"dim": 64, "layers": 2, "heads": 4}},
}


def recipe_for(fusion: str, knobs: dict, n: int, steps: int, seed: int, image_init: str | None = None) -> dict:
    encoders = {m: dict(spec) for m, spec in ENCODERS.items()}
    if image_init:
        encoders["image"]["init"] = image_init
    return {"name": f"fusion-table-{fusion}", "task": "vqa",
            "data": {"spec": "shapes:sort-of-clevr:train", "seed": seed, "n": n},
            "model": {"encoders": encoders, "fusion": fusion, "fusion_config": knobs, "hidden": 128},
            "train": {"epochs": 10_000, "max_steps": steps, "batch_size": 32, "lr": 1e-3,
                      "warmup_steps": 300, "seed": seed, "checkpoint_every": 10 ** 9},
            "task_options": {"questions_per_image": QUESTIONS_PER_IMAGE}}


def pretrained_encoder(runs: Path, n: int, seed: int, steps: int = PRETRAIN_STEPS) -> tuple[Path, dict]:
    """The shared image encoder, trained once and reused by every row (and by reruns)."""
    path = runs / f"image-encoder-n{n}-seed{seed}-steps{steps}.safetensors"
    stats_path = path.with_suffix(".json")
    if not (path.exists() and stats_path.exists()):
        runs.mkdir(parents=True, exist_ok=True)
        stats = object_pretraining.pretrain(ENCODERS["image"], path, n=n, steps=steps, seed=seed)
        files.save_json(stats, stats_path)
    return path, files.load_json(stats_path)


def run_one(fusion: str, out: Path, n: int, steps: int, seed: int, test_n: int, image_init: Path) -> dict:
    result = training_run.run(recipe_for(fusion, STRATEGIES[fusion], n, steps, seed, str(image_init)), out / fusion)
    train_s = result["elapsed_s"]          # time in training steps, without data generation
    model = MultimodalModel.from_pretrained(out / fusion / "model")
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:test", seed + 1000, test_n)
    m = vqa.VQATask().evaluate(model, examples, 64)
    return {"fusion": fusion, "relational": m["relational_accuracy"], "non_relational": m["non_relational_accuracy"],
            "per_type": m["per_type"], "parameters": model.num_parameters(), "train_seconds": round(train_s),
            "steps": steps, "test_questions": m["questions"]}


def answer_priors(n: int, seed: int, test_n: int) -> dict:
    """What knowing only the question type gets: each type's most common training answer,
    scored on the test questions. A row at this level has learnt nothing about the image."""
    train, _ = vqa.load_examples("shapes:sort-of-clevr:train", seed, n)
    common = {}
    for family, answers in _by_family(train).items():
        common[family] = Counter(answers).most_common(1)[0][0]
    test, _ = vqa.load_examples("shapes:sort-of-clevr:test", seed + 1000, test_n)
    questions = [q for ex in test for q in ex.questions]
    m = answer_metrics(questions, [common[q.family] for q in questions])
    return {"relational": m["relational_accuracy"], "non_relational": m["non_relational_accuracy"],
            "per_type": m["per_type"]}


def _by_family(examples) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ex in examples:
        for q in ex.questions:
            out.setdefault(q.family, []).append(q.answer)
    return out


def markdown(rows: list[dict], settings: dict) -> str:
    lines = ["| fusion | relational | non-relational | closest | furthest | count | parameters | training time |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["per_type"]
        lines.append(f"| `{r['fusion']}` | {100 * r['relational']:.1f}% | {100 * r['non_relational']:.1f}% | "
                     f"{100 * t['closest']:.0f}% | {100 * t['furthest']:.0f}% | {100 * t['count']:.0f}% | "
                     f"{r['parameters'] / 1e3:.0f}k | {r['train_seconds'] / 60:.1f} min |")
    if "priors" in settings:
        p, t = settings["priors"], settings["priors"]["per_type"]
        lines.append(f"| answer priors (most common answer per question type) | {100 * p['relational']:.1f}% | "
                     f"{100 * p['non_relational']:.1f}% | {100 * t['closest']:.0f}% | {100 * t['furthest']:.0f}% | "
                     f"{100 * t['count']:.0f}% | | |")
    for name, p in PAPER.items():
        lines.append(f"| paper: {name} | {p['relational']} | {p['non_relational']} | | | | | |")
    lines.append("")
    pre = settings["pretraining"]
    lines.append(f"Same data ({settings['n']} scenes, {settings['n'] * 20} questions), same encoders, "
                 f"{settings['steps']} steps of 32 scenes x {QUESTIONS_PER_IMAGE} questions for each; "
                 f"test: {rows[0]['test_questions']} questions (seed {settings['seed'] + 1000}). "
                 f"Every row starts from one image encoder pretrained on the scenes alone ({pre['steps']} steps, "
                 f"{pre['seconds']} s, {100 * pre['cell_accuracy']:.1f}% of objects put in the right grid cell), "
                 f"then trains all of it. Command: `{settings['command']}`; machine: {settings['machine']}.")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [r["fusion"] for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar([i - 0.2 for i in x], [100 * r["relational"] for r in rows], 0.4, label="relational")
    ax.bar([i + 0.2 for i in x], [100 * r["non_relational"] for r in rows], 0.4, label="non-relational")
    for name, style in (("CNN+MLP", "--"), ("CNN+RN", ":")):
        ax.axhline(PAPER_RELATIONAL[name], ls=style, c="black", lw=1)
        ax.text(len(rows) - 0.5, PAPER_RELATIONAL[name] + 1, f"paper {name} relational", ha="right", fontsize=8)
    ax.set_xticks(list(x), names, rotation=20, ha="right")
    ax.set(ylabel="test accuracy (%)", ylim=(0, 105), title="sort-of-clevr: fusion strategies under one budget")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def compare_fusion(out: Path, runs: Path, fusions: list[str], n: int, steps: int, seed: int, test_n: int,
                   settings: dict) -> Path:
    """Train each fusion in `runs/` (not committed), write the table, JSON and plot to `out/`."""
    unknown = [f for f in fusions if f not in STRATEGIES]
    if unknown:
        raise ConfigError(f"no fusion-table settings for {', '.join(unknown)}; known: {', '.join(STRATEGIES)}")
    out.mkdir(parents=True, exist_ok=True)
    settings["priors"] = answer_priors(n, seed, test_n)
    image_init, settings["pretraining"] = pretrained_encoder(runs, n, seed, settings.get("pretrain_steps", PRETRAIN_STEPS))
    rows = []
    for fusion in fusions:
        rows.append(run_one(fusion, runs, n, steps, seed, test_n, image_init))
        files.save_json({"settings": settings, "rows": rows}, out / "fusion_table.json")
        print(json.dumps(rows[-1]), flush=True)
    (out / "fusion_table.md").write_text(markdown(rows, settings))
    plot(rows, out / "fusion_table.png")
    return out / "fusion_table.md"
