"""int8, int8-bf16 and ONNX against fp32, for each shipped model: the speed-up of its headline measurement
and the change in its headline metric(s) (VQA accuracy, caption fact F1, WER, ...), on the CPU.

    python benchmarks/precision_table.py                                  # every shipped model
    python benchmarks/precision_table.py --models align-shapes,text-qa-signs   # those only (prints only)

Each model is measured by recipes/ship.py's own measurement (`MEASURES[task](model, preset)`,
the one that wrote its card and metrics.json: the same test data, seed 7, the same sizes), on
four paths, each a freshly loaded copy of the model:

    fp32    the model as `load_model` gives it
    int8    its linear layers dynamically quantized (inference/quantize.py `int8_linears`, what
            `pm.load(..., precision="int8")` does); where it refuses the model, the reason
    int8-bf16  its linear layers as oneDNN int8 products (inference/backend.py `int8_products_in`,
            what `pm.load(..., precision="int8-bf16")` does), the measurement under bf16
            autocast; on a CPU whose oneDNN has no bf16 products, the refusal
    onnx    its encoders exported to a temporary folder (inference/onnx_export.py `export_onnx`,
            what `polymodal export --format onnx` does) and run by ONNX Runtime
            (`with_onnx_encoders`, what `pm.load(..., runtime="onnx")` does); where the export
            refuses the model (e.g. tts-spoken-world, which has no encoders), the reason

and reports, per model and path: the headline metric(s) (HEADLINE below), their change against
fp32, the wall time of the whole measurement and its speed-up over fp32, ship.py's own speed
line (its throughput over the measurement's main evaluation), and whether the few outputs the
golden test pins are the fp32 path's. The ONNX export's own time is reported beside it, not
counted in the measurement.

What the wall time covers: everything ship.py's measurement does, including parts that do not
run the model under test, which dilute the speed-up: text-qa's reading system loads the model
again from its folder (fp32 on every path; so its accuracy is no headline here), transcribe
runs the pocketsphinx baseline, speak runs the fp32 recogniser asr-spoken-world and eSpeak NG,
generate's edits run the fp32 grounder.

The measurements run at their full sizes (ship.py fixes each n inside its functions, and no
smaller n can be passed to them without editing it). Their fp32 wall times on a 2-core Xeon at
1 thread (nice 19, beside another job):

    2 s     vqa-sort-of-clevr, ground-shapes          44 s    vlm-embedded
    5 s     text-qa-sort-of-clevr                     62 s    vqa-spoken
    9 s     align-shapes, caption-sort-of-clevr       126 s   asr-spoken-world, tts-spoken-world
    22 s    caption-shapes                            147 s   generate-shapes
                                                      166 s   text-qa-signs (RapidOCR reads 100 scenes)

about 12 minutes a path, so a full run (four paths, three for tts, plus loading and the exports,
2-19 s a model) takes about 40 minutes; the smoke run, --models align-shapes, about 40 s.

Writes benchmarks/results/precision_table.{json,md} on a run over every shipped model; a run
with --models prints only (a smoke run: one small model, e.g. --models align-shapes), or with
--update measures those models again and replaces their rows in the written results (after a
fix; the command recorded is then both commands joined by &&).
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "recipes"))
import ship  # noqa: E402  (recipes/ship.py: imports and definitions only, its work is under __main__)
from results_files import add_name_option, cpu_name, name_flag  # noqa: E402

from polymodal.inference.backend import int8_products_in  # noqa: E402
from polymodal.inference.onnx_export import export_onnx  # noqa: E402
from polymodal.inference.onnx_runtime import with_onnx_encoders  # noqa: E402
from polymodal.inference.quantize import int8_linears  # noqa: E402
from polymodal.loading import SHIPPED, load_model, resolve  # noqa: E402

# RapidOCR (text-qa-signs' reading system) logs each model file it opens, on every load of the
# system, through its own handler; its lines would bury this script's progress lines
logging.getLogger("RapidOCR").disabled = True

RESULTS = HERE / "results"
PATHS = ("fp32", "int8", "int8-bf16", "onnx")
# task -> its headline metric(s): (label, where in the measurement's metrics, "a/b" = m["a"]["b"]).
# One or two numbers a model is judged by; an entry the model's metrics lack is left out (e.g.
# caption-sort-of-clevr has no fact F1, only vqa-spoken has spoken accuracy). Metrics of a part
# that does not run the model under test are never headline (text-qa's reading system).
HEADLINE = {
    "vqa": (("accuracy", "accuracy"), ("spoken accuracy", "speech/accuracy")),
    "text-qa": (("accuracy, true transcripts", "true_transcripts/accuracy"),
                ("accuracy, true captions", "true_captions/accuracy")),
    "caption": (("fact F1", "test/fact_f1"), ("BLEU-4", "test/bleu4")),
    "align": (("text->image R@1", "retrieve/text_to_image_r1"), ("text->image R@5", "retrieve/text_to_image_r5")),
    "ground": (("Acc@IoU>=0.5", "accuracy_iou50"), ("mean IoU", "mean_iou")),
    "transcribe": (("WER, clean", "clean/wer"), ("WER, noise 10 dB", "noise 10 dB/wer")),
    "speak": (("round-trip WER", "wer"), ("teacher-forced mel L1", "teacher_forced/mel_l1")),
    "generate": (("prompt accuracy", "test/prompt_accuracy"), ("KID", "test/kid")),
    "vlm": (("VQA accuracy", "accuracy"), ("caption fact F1", "caption_fact_f1")),
    "video-qa": (("accuracy", "test/accuracy"),),
    "video-caption": (("event fact F1", "test/fact_f1"),),
    "video-align": (("text->video R@1", "test/text_to_video_r1"), ("text->video R@5", "test/text_to_video_r5")),
}
LOWER_IS_BETTER = ("WER", "mel L1", "KID")        # labels containing these: a fall is an improvement


def one_line(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:200]}" if text else type(e).__name__


def preset_of(name: str) -> str:
    """The data preset ship.py measures a model on: its recipe's data spec, as `remeasure` reads it."""
    import yaml
    return yaml.safe_load((ROOT / "recipes" / f"{name}.yaml").read_text())["data"]["spec"].split(":")[1]


def headline(task: str, metrics: dict) -> dict:
    """{label: value} of the task's headline metrics that the measurement gave."""
    out = {}
    for label, where in HEADLINE[task]:
        value = metrics
        for key in where.split("/"):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            out[label] = float(value)
    return out


def path_model(name: str, path: str, scratch: Path):
    """A fresh copy of the model on the path, and the seconds its ONNX export took (onnx only)."""
    model = load_model(name)
    if path == "int8":
        return int8_linears(model, name), None
    if path == "int8-bf16":
        return int8_products_in(model, name), None
    if path == "onnx":
        started = time.perf_counter()
        folder = scratch / f"{name}-onnx"
        export_onnx(name, folder)
        return with_onnx_encoders(model, folder, name), time.perf_counter() - started
    return model, None


def autocast_on(path: str):
    """int8-bf16 runs under bf16 autocast, as pm.load's pipeline runs each call; the rest as they are."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if path == "int8-bf16" else contextlib.nullcontext()


def measure(name: str, task: str, preset: str, path: str, scratch: Path) -> dict:
    """One path's entry: headline metrics, wall time of the measurement, ship.py's speed line and
    golden outputs; where loading, quantizing, exporting or measuring fails, the reason."""
    try:
        model, export_seconds = path_model(name, path, scratch)
    except Exception as e:       # a refusal (no linear layers to quantize, no encoders to export) or a failure
        return {"error": one_line(e)}
    ship.SHIPPING_FROM = resolve(name)       # text-qa's reading system loads the model from here (fp32)
    try:
        started = time.perf_counter()
        with autocast_on(path):
            metrics, _, _, golden, speed = ship.MEASURES[task](model, preset)
        seconds = time.perf_counter() - started
    except Exception as e:      # a path whose model fails inside the measurement: its result, not the run's end
        return {"error": one_line(e)}
    finally:
        del model
        gc.collect()
    entry = {"headline": headline(task, metrics), "seconds": round(seconds, 2), "speed": speed, "golden": golden}
    if export_seconds is not None:
        entry["export_seconds"] = round(export_seconds, 1)
    return entry


def compare(entries: dict) -> None:
    """Adds to each path that ran, beside fp32: the change in each headline metric, the
    speed-up, and whether its golden outputs are fp32's."""
    base = entries["fp32"]
    for path, entry in entries.items():
        if path == "fp32" or "error" in entry or "error" in base:
            continue
        entry["change"] = {k: v - base["headline"][k] for k, v in entry["headline"].items() if k in base["headline"]}
        entry["speedup"] = round(base["seconds"] / entry["seconds"], 2)
        entry["golden_same"] = entry["golden"] == base["golden"]


def measure_model(name: str, scratch: Path) -> dict:
    model = load_model(name)
    task = model.config.task
    del model
    preset = preset_of(name)
    entries = {}
    for path in PATHS:
        started = time.perf_counter()
        entries[path] = measure(name, task, preset, path, scratch)
        print(f"  {name} {path}: {time.perf_counter() - started:.0f} s, "
              f"{entries[path].get('error') or entries[path]['headline']}", flush=True)
    compare(entries)
    for entry in entries.values():
        entry.pop("golden", None)        # compared; the outputs themselves are the shipped golden.json's kind
    return {"task": task, "preset": preset, "paths": entries}


def cell(value: float, change: float | None) -> str:
    """A metric, and its change against fp32 (None: this is fp32) to one more decimal, so that
    one item of thousands still shows; a metric under 0.01 (KID) to 2 significant figures."""
    small = abs(value) < 0.01 and value != 0
    text = f"{value:.2g}" if small else f"{value:.3f}"
    if change is None:
        return text
    if change == 0:
        return f"{text} (=)"
    return f"{text} ({change:+.2g})" if small else f"{text} ({change:+.4f})"


def table(rows: dict) -> str:
    lines = ["| model | metric | fp32 | " + " | ".join(f"{p} (change)" for p in PATHS[1:]) + " |",
             "|---" * (len(PATHS) + 2) + "|"]
    for name, row in rows.items():
        paths = row["paths"]
        labels = paths["fp32"].get("headline") or {"—": 0.0}
        for label in labels:
            cells = []
            for path in PATHS:
                entry = paths.get(path, {"error": "not measured (results written before this path existed)"})
                if "error" in entry or label not in entry["headline"]:
                    cells.append("—")
                else:
                    change = None if path == "fp32" else entry.get("change", {}).get(label)
                    cells.append(cell(entry["headline"][label], change))
            marked = f"{label} (lower is better)" if any(w in label for w in LOWER_IS_BETTER) else label
            lines.append(f"| {name} | {marked} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def speed_table(rows: dict) -> str:
    lines = ["| model | path | measurement | speed-up | ship.py's speed line | golden outputs = fp32's | "
             "ONNX export |", "|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        for path, e in row["paths"].items():
            if "error" in e:
                lines.append(f"| {name} | {path} | — | — | — | — | — |")
                continue
            same = "" if "golden_same" not in e else ("yes" if e["golden_same"] else "**no**")
            export = f"{e['export_seconds']:.0f} s" if "export_seconds" in e else ""
            speedup = f"{e['speedup']:.2f}x" if "speedup" in e else ""
            lines.append(f"| {name} | {path} | {e['seconds']:.1f} s | {speedup} | {e['speed']} | {same} | {export} |")
    return "\n".join(lines) + "\n"


def errors(rows: dict) -> str:
    lines = [f"- {name} {path}: {e['error']}" for name, row in rows.items() for path, e in row["paths"].items()
             if "error" in e]
    return "\n".join(lines) + "\n" if lines else "None.\n"


def machine() -> dict:
    import onnxruntime
    return {"cpu": cpu_name(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__}


def report(rows: dict, command: str, host: dict) -> str:
    return (f"# int8, int8-bf16 and ONNX against fp32, shipped models\n\n`{command}` on {host['cpu']} ({host['cpus']} CPUs, "
            f"{host['threads']} threads), torch {host['torch']}, onnxruntime {host['onnxruntime']}.\n\n"
            "Each model measured by recipes/ship.py's measurement (its card's test data and sizes) on four paths: "
            "fp32 as loaded; int8, its linear layers dynamically quantized (`precision=\"int8\"`); int8-bf16, its "
            "linear layers as oneDNN int8 products under bf16 autocast (`precision=\"int8-bf16\"`); onnx, its "
            "encoders exported and run by ONNX Runtime (`runtime=\"onnx\"`). — : the path did not run (below).\n\n"
            "## Headline metrics\n\nValue (change against fp32; =: the same).\n\n" + table(rows) +
            "\n## Speed\n\nWall time of the whole measurement (including parts that do not run the model under "
            "test: text-qa's reading system, transcribe's pocketsphinx baseline, speak's recogniser and teacher "
            "voice, generate's grounder), its speed-up over fp32, ship.py's speed line for the measurement's main "
            "evaluation, whether the few outputs the golden test pins are fp32's, and the ONNX export's time "
            "(not counted in the measurement).\n\n" + speed_table(rows) +
            "\n## Paths that did not run\n\n" + errors(rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated shipped models (default: all; then the results are "
                                         "written): " + ", ".join(SHIPPED))
    parser.add_argument("--update", action="store_true",
                        help="with --models: measure those again and replace their rows in the written results "
                             "(after a fix), keeping the other models' rows and saying which were rerun")
    add_name_option(parser, "precision_table")
    args = parser.parse_args()
    if args.update and not args.models:
        parser.error("--update replaces the rows of the models --models names")
    names = args.models.split(",") if args.models else list(SHIPPED)
    unknown = [n for n in names if n not in SHIPPED]
    if unknown:
        parser.error(f"not shipped: {', '.join(unknown)}")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rows[name] = measure_model(name, Path(tmp))
    command = "python benchmarks/precision_table.py" + (f" --models {args.models}" if args.models else "") + \
        name_flag(args.name, "precision_table")
    host = machine()
    if args.update:
        saved = json.loads((RESULTS / f"{args.name}.json").read_text())
        rows = {name: rows.get(name, saved["models"].get(name)) for name in SHIPPED
                if name in rows or name in saved["models"]}
        command = f"{saved['command']} && {command} --update"        # the rows those models had, measured again
    text = report(rows, command, host)
    print(text)
    if not args.models or args.update:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{args.name}.md").write_text(text)
        (RESULTS / f"{args.name}.json").write_text(json.dumps(
            {"command": command, "machine": host, "headline": {t: dict(h) for t, h in HEADLINE.items()},
             "models": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
