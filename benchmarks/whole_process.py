"""Whole-process latency of the command line against a plain transformers script doing the
same job: the time from launching a fresh process to its first result line on stdout and to
its exit (the last result), for 1 and for 64 inputs, on the CPU.

    python benchmarks/whole_process.py                                   # all three, real shapes
    python benchmarks/whole_process.py --tiny --inputs 1,4 --runs 1      # a smoke run of the same code

The jobs: zero-shot classification (`polymodal classify --labels`, CLIP ViT-B/32), captioning
(`polymodal caption`, BLIP base) and speech recognition (`polymodal transcribe`, Whisper base).
The plain side is this file run as `python benchmarks/whole_process.py --plain TASK MODEL
INPUTS... [--labels A,B,...]`: it builds `transformers.pipeline(...)` (zero-shot-image-classification with the
same labels and prompt, image-text-to-text, automatic-speech-recognition with num_beams=1),
runs the inputs 8 at a time and prints one JSON line per result as it goes (PYTHONUNBUFFERED=1).
polymodal is launched as a user would pipe it, with --json and --batch-size 8 (it prints each
batch's results as the batch ends).

Both sides get the same model folder (random weights of the real shapes, benchmarks/real_shapes.py;
new tokens capped through the generation config, 20 for captions and 30 for transcripts, as in
vs_pipelines.py) and the same input files (shapes scenes as PNG, spoken sentences as 16-bit WAV).
Each precision (--precisions) runs on both sides: polymodal --precision P against the pipeline
loaded with dtype=P, so each comparison is at equal precision (bf16: autocast in polymodal, bf16
weights in both). Each configuration runs --runs times after one untimed launch of each side
(bytecode, page cache), interleaved (polymodal, plain, polymodal, plain, ...); the medians are
reported with the ratio plain / polymodal and the time between each side's first and last result
line (0 when all come at once: a process that prints nothing until every input is done), and each
side's outputs are checked against the other's (same top label, caption or transcript per input).
Writes benchmarks/results/whole_process.{json,md} (or --name NAME.{json,md}; a --tiny run only
prints).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BATCH = 8
PRECISIONS = ("fp32", "bf16")
PROMPT = "a photo of a {}."            # polymodal's zero-shot prompt (hf/base.py), given to the pipeline too


@dataclass
class Task:
    model: str              # real_shapes builder
    pipeline_task: str      # the plain script's transformers pipeline
    suffix: str             # input files
    result_key: str         # the field of polymodal's --json line that holds the result
    name_key: str           # ... and the one that names the input
    max_new_tokens: int = 0


TASKS = {
    "classify": Task("clip", "zero-shot-image-classification", ".png", "label", "image"),
    "caption": Task("blip", "image-text-to-text", ".png", "caption", "image", max_new_tokens=20),
    "transcribe": Task("whisper", "automatic-speech-recognition", ".wav", "text", "audio", max_new_tokens=30),
}


# -- the plain side: a transformers script, run in a process of its own ---------------------------------------------

def plain_results(task: str, pipe, files: list[str], labels: list[str]) -> list[str]:
    """One batch of files through the pipeline -> the top label, caption or transcript of each."""
    if task == "classify":
        out = pipe(files, candidate_labels=labels, hypothesis_template=PROMPT, batch_size=BATCH)
        return [rows[0]["label"] for rows in out]
    if task == "caption":
        from PIL import Image
        # (this pipeline runs a list of images as one generate call whatever its batch_size)
        out = pipe(images=[Image.open(f) for f in files], text=[""] * len(files), batch_size=BATCH)
        return [(rows[0] if isinstance(rows, list) else rows)["generated_text"].strip() for rows in out]
    import soundfile as sf
    # read here: the pipeline reads a file name through ffmpeg, which a machine may lack
    audio = [dict(zip(("raw", "sampling_rate"), sf.read(f, dtype="float32"))) for f in files]
    return [row["text"].strip() for row in pipe(audio, batch_size=BATCH, num_beams=1)]   # its default: 5 beams


def plain_main(argv: list[str]) -> int:
    """--plain TASK MODEL INPUTS... [--labels A,B]: print {"input", "result"} per input as each batch ends."""
    parser = argparse.ArgumentParser(prog="whole_process.py --plain")
    parser.add_argument("task", choices=list(TASKS))
    parser.add_argument("model")
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--labels", default="")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32")
    args = parser.parse_args(argv)
    import torch
    from transformers import pipeline
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.precision]
    pipe = pipeline(TASKS[args.task].pipeline_task, model=args.model, device="cpu", dtype=dtype)
    labels = args.labels.split(",")
    for start in range(0, len(args.inputs), BATCH):
        chunk = args.inputs[start:start + BATCH]
        for name, result in zip(chunk, plain_results(args.task, pipe, chunk, labels)):
            print(json.dumps({"input": name, "result": result}))
    return 0


# -- the benchmark --------------------------------------------------------------------------------------------------

def polymodal_command(task: str, model: Path, folder: Path, labels: list[str], precision: str) -> list[str]:
    """The CLI next to this interpreter (a venv's console script), on a folder of inputs."""
    exe = Path(sys.executable).parent / "polymodal"
    cmd = [str(exe), task, str(folder), "--model", str(model), "--json", "--precision", precision]
    return cmd + (["--labels", ",".join(labels)] if task == "classify" else []) + ["--batch-size", str(BATCH)]


def plain_command(task: str, model: Path, folder: Path, labels: list[str], precision: str) -> list[str]:
    files = [str(p) for p in sorted(folder.iterdir())]
    return [sys.executable, str(Path(__file__).resolve()), "--plain", task, str(model), *files,
            "--labels", ",".join(labels), "--precision", precision]


def launch(cmd: list[str], unbuffered: bool) -> dict:
    """Run cmd as a fresh process; seconds from launch to its first stdout line and to its exit, and its lines."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")           # local folders only: no network look-ups on either side
    env.pop("PYTHONUNBUFFERED", None)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=env, bufsize=0)
        lines, stamps = [], []
        for line in iter(proc.stdout.readline, b""):     # each line as soon as the process writes it
            stamps.append(time.perf_counter() - start)
            lines.append(line.decode())
        proc.wait()
        end = time.perf_counter() - start
        if proc.returncode:
            stderr.seek(0)
            raise RuntimeError(f"{cmd[:3]} exited {proc.returncode}: {stderr.read().decode()[-3000:]}")
    return {"first": stamps[0] if stamps else end, "last_line": stamps[-1] if stamps else end, "exit": end,
            "lines": lines}


def results_of(side: str, task: Task, lines: list[str]) -> dict[str, str]:
    """{input file name: result} from polymodal's --json lines or the plain script's lines."""
    rows = [json.loads(line) for line in lines if line.strip()]
    if side == "polymodal":
        return {Path(r[task.name_key]).name: r[task.result_key] for r in rows}
    return {Path(r["input"]).name: r["result"] for r in rows}


def agreement(a: dict[str, str], b: dict[str, str]) -> int:
    return sum(a.get(name) == b.get(name) for name in set(a) | set(b))


def write_inputs(name: str, task: Task, folder: Path, n: int) -> None:
    """n scenes as PNG or n spoken sentences as 16-bit WAV (the inputs of vs_pipelines.py), in folder."""
    from PIL import Image
    from vs_pipelines import inputs

    folder.mkdir(parents=True)
    for i, item in enumerate(inputs("zero-shot" if name == "classify" else name, n)):
        path = folder / f"{i:04d}{task.suffix}"
        if task.suffix == ".wav":
            import soundfile as sf
            sf.write(path, item[0], item[1], subtype="PCM_16")
        else:
            Image.fromarray(item).save(path)


def median(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def measure(name: str, task: Task, model: Path, folder: Path, n: int, runs: int, labels: list[str],
            precision: str) -> dict:
    """runs launches of each side, interleaved; medians, ratios and how many outputs agree."""
    sides = {"polymodal": (polymodal_command(name, model, folder, labels, precision), False),
             "plain": (plain_command(name, model, folder, labels, precision), True)}
    timed: dict[str, list[dict]] = {side: [] for side in sides}
    for _ in range(runs):
        for side, (cmd, unbuffered) in sides.items():
            timed[side].append(launch(cmd, unbuffered))
    ours, theirs = (results_of(side, task, timed[side][-1]["lines"]) for side in sides)
    row = {"task": name, "inputs": n, "batch": BATCH, "precision": precision,
           "runs": runs, "agree": agreement(ours, theirs), "polymodal_results": len(ours), "plain_results": len(theirs)}
    for side in sides:
        # spread: first to last result line (0 when every line comes at once, e.g. when the process buffers them)
        row[side] = {"first": median(timed[side], "first"), "last": median(timed[side], "exit"),
                     "spread": median([{"gap": r["last_line"] - r["first"]} for r in timed[side]], "gap"),
                     "seconds": [{k: round(r[k], 3) for k in ("first", "last_line", "exit")} for r in timed[side]]}
    row["ratio_first"] = round(row["plain"]["first"] / row["polymodal"]["first"], 2)
    row["ratio_last"] = round(row["plain"]["last"] / row["polymodal"]["last"], 2)
    return row


def run_task(name: str, root: Path, sizes: list[int], runs: int, tiny: bool, precisions: list[str]) -> list[dict]:
    from real_shapes import build, limit_new_tokens
    from vs_pipelines import LABELS

    task = TASKS[name]
    model = build(task.model, root / name / "model", tiny=tiny)
    limit_new_tokens(model, task.max_new_tokens)
    rows = []
    for n in sizes:
        folder = root / name / f"inputs-{n}"
        write_inputs(name, task, folder, n)
        if n == sizes[0]:       # one untimed launch of each side: bytecode compiled, model files in the page cache
            launch(polymodal_command(name, model, folder, LABELS, precisions[0]), False)
            launch(plain_command(name, model, folder, LABELS, precisions[0]), True)
        for precision in precisions:
            row = measure(name, task, model, folder, n, runs, LABELS, precision)
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    return rows


def machine() -> str:
    import platform

    import torch
    import transformers
    from results_files import cpu_name
    return (f"{platform.machine()} {os.cpu_count()} CPUs ({cpu_name()}), torch {torch.__version__}, "
            f"transformers {transformers.__version__}, {torch.get_num_threads()} threads")


def table(rows: list[dict]) -> str:
    lines = ["| task | precision | inputs | batch | first: polymodal | first: plain | plain / polymodal | last: polymodal | "
             "last: plain | plain / polymodal | first to last line: polymodal / plain | same outputs |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p, q = r["polymodal"], r["plain"]
        lines.append(f"| {r['task']} | {r['precision']} | {r['inputs']} | {r['batch']} | {p['first']:.2f} s | {q['first']:.2f} s | "
                     f"**{r['ratio_first']}x** | {p['last']:.2f} s | {q['last']:.2f} s | **{r['ratio_last']}x** | "
                     f"{p['spread']:.2f} / {q['spread']:.2f} s | {r['agree']}/{r['inputs']} |")
    return "\n".join(lines) + "\n"


def write(rows: list[dict], command: str, where: str, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"command": command, "machine": where, "rows": rows},
                                                     indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(
        f"# Whole-process latency: polymodal CLI vs a plain transformers script, CPU\n\n`{command}` on {where}.\n\n"
        "Seconds from launching a fresh process to its first result line on stdout and to its exit (the last "
        "result), median of the runs (interleaved, after one untimed launch of each side). Same model folder "
        "(random weights of the real shapes), same input files, greedy decoding; the plain script prints each "
        "result as its batch ends. \"First to last line\": the time between the first and the last result line "
        "(0 when all come at once). Same outputs: inputs whose top label, caption or transcript agree (bf16 "
        "against bf16: random weights score labels alike, so rounding can swap a near tie). Precision: "
        "polymodal --precision and the pipeline's dtype, the same on both sides.\n\n" + table(rows))


def main() -> int:
    if sys.argv[1:2] == ["--plain"]:
        return plain_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated: " + ", ".join(TASKS))
    parser.add_argument("--inputs", default="1,64", help="comma-separated numbers of inputs per launch")
    parser.add_argument("--runs", type=int, default=3, help="timed launches of each side per configuration")
    parser.add_argument("--precisions", default="fp32,bf16",
                        help="comma-separated, each side in each: polymodal --precision, the pipeline's dtype")
    parser.add_argument("--tiny", action="store_true", help="small models: a smoke run of this script")
    # here, not at the top: results_files imports torch
    from results_files import add_name_option, name_flag

    add_name_option(parser, "whole_process")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.path.insert(0, str(HERE))
    sizes = [int(n) for n in args.inputs.split(",")]
    precisions = args.precisions.split(",")
    if not set(precisions) <= set(PRECISIONS):
        parser.error(f"--precisions: each one of {', '.join(PRECISIONS)}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.tasks.split(","):
            rows += run_task(name, Path(tmp), sizes, args.runs, args.tiny, precisions)
    where = machine()
    print(f"\n{where}\n\n{table(rows)}")
    command = f"python benchmarks/whole_process.py --inputs {args.inputs} --runs {args.runs} " \
              f"--precisions {args.precisions}" + \
        ("" if args.tasks == ",".join(TASKS) else f" --tasks {args.tasks}") + \
        name_flag(args.name, "whole_process")
    if not args.tiny:
        write(rows, command, where, args.name)
    # bf16 rows may differ where two labels score alike: reported, not a failure
    return 0 if all(r["agree"] == r["inputs"] for r in rows if r["precision"] == "fp32") else 1


if __name__ == "__main__":
    sys.exit(main())
