"""One model against many: the shipped generative vlm beside each shipped task model, on the
same test scenes (seed 7), scored by the same code (`polymodal eval`'s), with each model's
parameters and its time per item on this machine.

    python benchmarks/vlm_vs_task_models.py                      # the shipped vlm-embedded
    python benchmarks/vlm_vs_task_models.py --vlm runs/vlm/model --scenes 50

| row | the task model | the vlm is asked |
|---|---|---|
| VQA | vqa-sort-of-clevr (closed answers) | the question; its free-form answer must match exactly |
| captions | caption-shapes | "caption" |
| grounding | ground-shapes | "locate: <phrase>"; its location words are read back as a box |
| reading signs | the OCR engine (RapidOCR) of the read-and-answer system | "read" |

Writes benchmarks/results/vlm_vs_task_models.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SEED = 7
# row -> (task, data, shipped task model, scenes per --scenes, metrics shown)
ROWS = {
    "VQA (sort-of-clevr)": ("vqa", "shapes:sort-of-clevr:test", "vqa-sort-of-clevr", 1,
                            ("non_relational_accuracy", "relational_accuracy", "accuracy")),
    "captions (shapes)": ("caption", "shapes:shapes:test", "caption-shapes", 2, ("fact_f1", "bleu4", "exact_match")),
    "grounding (shapes)": ("ground", "shapes:shapes:test", "ground-shapes", 2,
                           ("attribute_accuracy_iou50", "relational_accuracy_iou50", "accuracy_iou50")),
    "reading signs": ("read", "shapes:signs:test", "rapidocr", 1, ("words_right", "exact", "wer")),
}


def parameters(model) -> int | None:
    import torch
    return sum(p.numel() for p in model.parameters()) if isinstance(model, torch.nn.Module) else None


def read_signs(reader, scenes) -> tuple[dict, int]:
    """Words read on each sign, scored as transcripts; reader: the vlm or the OCR engine."""
    from polymodal.core.chat import ChatModel
    from polymodal.tasks import prompted
    from polymodal.tasks.metrics.speech import error_rates
    truth = [s.transcript for s in scenes]
    if isinstance(reader, ChatModel):             # asked by its prompt for reading
        texts = [r.text for r in prompted.replies(reader, "read", [(s.image, None) for s in scenes])]
    else:
        texts = [reader.read(s.image) for s in scenes]
    return error_rates(truth, texts), len(scenes)


def evaluate(model, task: str, spec: str, n: int) -> tuple[dict, int, float]:
    """(metrics, items, seconds) of one model on one row's data."""
    from polymodal.data.world import parse_spec, shapes
    from polymodal.tasks.registry import TASKS
    start = time.perf_counter()
    if task == "read":
        preset, split = parse_spec(spec)
        metrics, items = read_signs(model, shapes(preset, split, SEED, n))
        return metrics, items, time.perf_counter() - start
    runner = TASKS.build(task)
    examples, _ = runner.load_data(spec, SEED, n)
    start = time.perf_counter()                    # the data's generation is not the model's time
    metrics = runner.evaluate(model, examples)
    items = {"vqa": "questions", "caption": "images", "ground": "phrases"}[task]
    return metrics, int(metrics[items]), time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vlm", default="vlm-embedded")
    parser.add_argument("--scenes", type=int, default=250, help="test scenes per row (captions and grounding: 2x)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)

    from polymodal.engines.ocr import RapidOCRReader
    from polymodal.loading import load_model
    vlm = load_model(args.vlm).eval()
    rows = []
    for name, (task, spec, shipped, scale, shown) in ROWS.items():
        n = args.scenes * scale
        task_model = RapidOCRReader() if shipped == "rapidocr" else load_model(shipped).eval()
        out = {"row": name, "data": f"{spec} seed {SEED}, {n} scenes", "metrics": shown}
        for who, model in (("task_model", task_model), ("vlm", vlm)):
            with torch.no_grad():
                metrics, items, seconds = evaluate(model, task, spec, n)
            out[who] = {"name": shipped if who == "task_model" else args.vlm, "parameters": parameters(model),
                        "items": items, "ms_per_item": round(1000 * seconds / max(items, 1), 2),
                        **{k: round(float(metrics[k]), 4) for k in shown}}
            print(name, who, out[who], file=sys.stderr)
        rows.append(out)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} threads, torch {torch.__version__}"
    command = "python benchmarks/vlm_vs_task_models.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vlm_vs_task_models.json").write_text(json.dumps({"command": command, "machine": machine,
                                                                  "rows": rows}, indent=2) + "\n")
    lines = ["# One model against many: the vlm beside the task models", "",
             f"`{command}` on {machine}. Same test scenes (seed {SEED}) and the same scoring code for both; "
             f"time per item is the evaluation's wall time over its items (batches of 64), on this CPU.", "",
             "| task | metric | task model | vlm |", "|---|---|---|---|"]
    for r in rows:
        for k in r["metrics"]:
            lines.append(f"| {r['row']} | {k} | {r['task_model'][k]} | {r['vlm'][k]} |")
        for k in ("parameters", "ms_per_item"):
            lines.append(f"| {r['row']} | {k.replace('_', ' ')} | {r['task_model'][k]} | {r['vlm'][k]} |")
    lines += ["", f"Models: {', '.join(r['task_model']['name'] for r in rows)}; vlm: {args.vlm}. "
              "The OCR engine's parameters are in its ONNX files, not counted here."]
    (RESULTS / "vlm_vs_task_models.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
