"""The temporal fusion table: the same frames encoder, question encoder, fusion, data and step
budget, the frames fused with each other early (tubelets), late (per-frame features pooled)
or hybrid (attention across time), with and without the clip's sound; scored on the `motion`
questions per family (docs/video.md).

Late fusion sees each cell's features averaged over the frames: what was where, not in which
order, so it can only guess which way something moved. The sound track has a click at each
collision; the rows with audio show what hearing adds to the collision questions."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..core import files
from ..core.errors import ConfigError
from ..models.multimodal import MultimodalModel
from ..tasks import video_qa
from ..training import run as training_run

FRAMES = {"frames": 16, "dim": 64, "channels": [32, 64, 64, 64], "strides": [2, 2, 2, 2], "image_size": 64,
          "tubelet": 4, "layers": 2, "heads": 4}
ENCODERS = {"text": {"name": "transformer", "config": {"dim": 64, "layers": 2, "heads": 4}},
            "audio": {"name": "logmel", "config": {"dim": 64, "layers": 2, "heads": 4}}}
FUSION = ("hybrid:cross-attention", {"query": "text", "dim": 64, "layers": 2})
ROWS = ("early", "late", "hybrid", "late+audio", "hybrid+audio")      # temporal fusion, and whether it hears
FAMILIES = ("direction", "moves", "count moving", "collide", "count collisions", "stops first", "shape", "colour")


def recipe_for(row: str, n: int, steps: int, seed: int) -> dict:
    temporal, _, audio = row.partition("+")
    encoders = {"video": {"name": "frames", "config": {**FRAMES, "temporal": temporal}}, "text": ENCODERS["text"]}
    if audio:
        encoders["audio"] = ENCODERS["audio"]
    return {"name": f"temporal-table-{row}", "task": "video-qa",
            "data": {"spec": "shapes:motion:train", "seed": seed, "n": n},
            "model": {"encoders": encoders, "fusion": FUSION[0], "fusion_config": dict(FUSION[1]), "hidden": 128},
            "train": {"epochs": 10_000, "max_steps": steps, "batch_size": 32, "lr": 1e-3, "warmup_steps": 200,
                      "seed": seed, "checkpoint_every": 10 ** 9, "mixed_precision": "bf16"},
            "task_options": {"audio": bool(audio)}}


def train_row(row: str, runs: Path, n: int, steps: int, seed: int) -> float:
    """Train one row, or find it trained: a row folder whose `row.json` holds this very recipe
    is reused, so rows can be trained by separate processes (`--fusions hybrid`, `--fusions late`)
    and one last call writes the table from all of them. Returns the training seconds."""
    recipe, done = recipe_for(row, n, steps, seed), runs / row / "row.json"
    if done.exists() and (runs / row / "model").is_dir():
        saved = files.load_json(done)
        if saved["recipe"] == recipe:
            print(f"{row}: trained before in {runs / row}, evaluated again", flush=True)
            return saved["train_seconds"]
    seconds = training_run.run(recipe, runs / row)["elapsed_s"]
    files.save_json({"recipe": recipe, "train_seconds": seconds}, done)
    return seconds


def run_one(row: str, runs: Path, n: int, steps: int, seed: int, test: list) -> dict:
    seconds = train_row(row, runs, n, steps, seed)
    model = MultimodalModel.from_pretrained(runs / row / "model")
    m = video_qa.VideoQATask().evaluate(model, test, 32)
    return {"row": row, "accuracy": m["accuracy"], "temporal": m["temporal_accuracy"],
            "controls": m["non_temporal_accuracy"], "per_type": m["per_type"], "parameters": model.num_parameters(),
            "train_seconds": round(seconds), "steps": steps, "test_questions": m["questions"]}


def answer_priors(n: int, seed: int, test: list) -> dict:
    """Each family's most common training answer, scored on the test questions: a row at this
    level has learnt nothing from the clips."""
    train, _ = video_qa.load_examples("shapes:motion:train", seed, n)
    by_family: dict[str, Counter] = {}
    for ex in train:
        for q in ex.questions:
            by_family.setdefault(q.family, Counter())[q.answer] += 1
    questions = [q for ex in test for q in ex.questions]
    m = video_qa.video_answer_metrics(questions, [by_family[q.family].most_common(1)[0][0] for q in questions])
    return {"row": "answer priors", "accuracy": m["accuracy"], "temporal": m["temporal_accuracy"],
            "controls": m["non_temporal_accuracy"], "per_type": m["per_type"]}


def pct(v) -> str:
    return "" if v is None else f"{100 * v:.1f}%"


def markdown(rows: list[dict], settings: dict) -> str:
    head = ["strategy", "all", "temporal", "controls", *FAMILIES, "parameters", "training time"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"`{r['row']}`" if "steps" in r else r["row"], pct(r["accuracy"]), pct(r["temporal"]),
                 pct(r["controls"]), *(pct(r["per_type"].get(f)) for f in FAMILIES),
                 f"{r['parameters'] / 1e3:.0f}k" if "parameters" in r else "",
                 f"{r['train_seconds'] / 60:.1f} min" if "train_seconds" in r else ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Same data ({settings['n']} clips of `motion`, seed {settings['seed']}), the same frames encoder "
                 f"(16 frames of 64x64, a 4x4 grid of cells a frame), question encoder and fusion "
                 f"(`{FUSION[0]}`, the question attending to the clip's tokens), {settings['steps']} steps of 32 "
                 f"clips for each row (bf16 autocast); `+audio` rows also hear the clip's sound (a click at each collision) through "
                 f"a log-mel encoder. Test: {rows[0]['test_questions']} questions of {settings['test_n']} clips "
                 f"(seed {settings['seed'] + 1000}). Command: `{settings['command']}`; machine: {settings['machine']}.")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(rows)
    for k, r in enumerate(rows):
        xs = [i + (k - (len(rows) - 1) / 2) * width for i in range(len(FAMILIES))]
        ax.bar(xs, [100 * r["per_type"].get(f, 0) for f in FAMILIES], width, label=r["row"])
    ax.set_xticks(range(len(FAMILIES)), FAMILIES, rotation=15)
    ax.set(ylabel="test accuracy (%)", ylim=(0, 105), title="motion: the frames fused early, late or hybrid")
    ax.legend(fontsize=8, ncol=3, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def compare_temporal(out: Path, runs: Path, rows: list[str], n: int, steps: int, seed: int, test_n: int,
                     settings: dict) -> Path:
    """Train each row in `runs/` (not committed); write the table, JSON and plot to `out/`."""
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise ConfigError(f"no temporal-table row {', '.join(unknown)}; known: {', '.join(ROWS)}")
    out.mkdir(parents=True, exist_ok=True)
    test, _ = video_qa.load_examples("shapes:motion:test", seed + 1000, test_n)
    done = []
    for row in rows:
        done.append(run_one(row, runs, n, steps, seed, test))
        files.save_json({"settings": settings, "rows": done}, out / "temporal_fusion.json")
        print(json.dumps(done[-1]), flush=True)
    table = done + [answer_priors(n, seed, test)]
    files.save_json({"settings": settings, "rows": table}, out / "temporal_fusion.json")
    (out / "temporal_fusion.md").write_text(markdown(table, settings))
    plot(done, out / "temporal_fusion.png")
    return out / "temporal_fusion.md"
