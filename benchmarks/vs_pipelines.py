"""polymodal against transformers pipelines on the same models and weights, side by side in
one process, on the CPU: zero-shot image classification (CLIP ViT-B/32), captioning (BLIP base) and speech recognition (Whisper base), at batch 1 and batched.

    python benchmarks/vs_pipelines.py                      # all three, real shapes
    python benchmarks/vs_pipelines.py --tiny --items 4     # a smoke run of the same code

For each task and batch size it reports items/s and the peak memory growth of each tool
(resident set size sampled every 2 ms) for the pipeline and for polymodal in fp32 and in bf16
mixed precision (`pm.load(..., precision="bf16")`), and checks that polymodal gives the
pipeline's outputs: the same best label (the largest probability difference is reported
too), the same caption, the same transcript. Decoding is greedy in both (the speech pipeline's default is 5 beams;
it is asked for 1). The models
have random weights of the real shapes, which costs what the real ones cost; the captioner
and recogniser are capped at 20 and 30 new tokens through their generation config, which
both tools read. Inputs come from the embedded world: its scenes, and its sentences spoken.

Writes benchmarks/results/vs_pipelines.{json,md} (a --tiny run only prints).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))
from real_shapes import build  # noqa: E402

import polymodal as pm  # noqa: E402

RESULTS = HERE / "results"
LABELS = [f"{c} {s}" for c in ("red", "green", "blue", "yellow") for s in ("circle", "square", "triangle")]
PROMPT = "a photo of a {}."
PRECISIONS = ("fp32", "bf16")          # polymodal's: pm.load(..., precision=...)


@dataclass
class Task:
    model: str              # real_shapes builder
    pipeline_task: str      # transformers pipeline task
    polymodal_task: str     # pm.load task
    unit: str
    max_new_tokens: int = 0


TASKS = {
    "zero-shot": Task("clip", "zero-shot-image-classification", "align", "images/s"),
    "caption": Task("blip", "image-text-to-text", "caption", "images/s", max_new_tokens=20),
    "transcribe": Task("whisper", "automatic-speech-recognition", "transcribe", "utterances/s", max_new_tokens=30),
}


class PeakMemory:
    """Peak resident set size growth (MB) while the block runs, sampled every 2 ms."""

    def __enter__(self):
        gc.collect()
        self.proc = psutil.Process(os.getpid())
        self.base = self.peak = self.proc.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.002)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.mb = (self.peak - self.base) / 2 ** 20


def inputs(task: str, n: int) -> list:
    """n scenes (uint8 arrays) or n spoken sentences ((waveform, rate) pairs) of the world."""
    if task == "transcribe":
        from polymodal.data.spoken.sentences import utterances
        from polymodal.data.spoken.synthesis import RATE, speak
        return [(speak(u.text, u.voice), RATE) for u in utterances("test", 7, n)]
    return [s.image for s in pm.data.shapes("shapes", "test", seed=7, n=n)]


def pipeline_outputs(task: str, pipe, items: list, batch: int) -> list:
    from PIL import Image
    if task == "zero-shot":
        out = pipe([Image.fromarray(x) for x in items], candidate_labels=LABELS, hypothesis_template=PROMPT,
                   batch_size=batch)
        return [{r["label"]: r["score"] for r in rows} for rows in out]
    if task == "caption":
        # this pipeline runs a list of images as one generate call whatever its batch_size:
        # it is given `batch` images per call
        out = []
        for start in range(0, len(items), batch):
            chunk = [Image.fromarray(x) for x in items[start:start + batch]]
            out += pipe(images=chunk, text=[""] * len(chunk), batch_size=batch)
        return [(rows[0] if isinstance(rows, list) else rows)["generated_text"].strip() for rows in out]
    out = pipe([{"raw": w, "sampling_rate": r} for w, r in items], batch_size=batch, num_beams=1)   # its default: 5
    return [row["text"].strip() for row in out]


def polymodal_outputs(task: str, pipe, items: list, batch: int) -> list:
    pipe.batch_size = batch
    if task == "zero-shot":
        return [dict(rows) for rows in pipe.classify(items, LABELS)]
    if task == "caption":
        return [c.text for c in pipe.batch(items, batch_size=batch)]
    return [t.text for t in pipe.batch([pm.Audio(w.astype("float32"), r) for w, r in items], batch_size=batch)]


def same(task: str, a: list, b: list) -> dict:
    if task == "zero-shot":
        top = [max(x, key=x.get) == max(y, key=y.get) for x, y in zip(a, b)]
        gap = max(abs(x[k] - y[k]) for x, y in zip(a, b) for k in x)
        return {"identical": all(top), "agree": sum(top), "max_probability_gap": round(gap, 6)}
    agree = [x == y for x, y in zip(a, b)]
    return {"identical": all(agree), "agree": sum(agree)}


def measure(run, items: list, batch: int) -> tuple[list, float, float]:
    run(items[:batch], batch)                      # warm-up: first-call allocations and caches
    with PeakMemory() as memory:
        start = time.perf_counter()
        out = run(items, batch)
        seconds = time.perf_counter() - start
    return out, len(items) / seconds, memory.mb


def load_pipeline(task: Task, folder: Path):
    from transformers import pipeline

    from polymodal.hf.loading import quiet
    with quiet():
        return pipeline(task.pipeline_task, model=str(folder), device="cpu")


def compare(name: str, task: Task, folder: Path, items: list, batches: list[int]) -> list[dict]:
    """Each batch size: the pipeline, then polymodal in fp32 and in bf16 mixed precision,
    each checked against the pipeline's outputs."""
    from polymodal.hf.loading import quiet
    theirs = load_pipeline(task, folder)
    ours = {p: pm.load(task.polymodal_task, str(folder), precision=p) for p in PRECISIONS}
    rows = []
    for batch in batches:
        with torch.inference_mode(), quiet():
            reference, speed, mb = measure(lambda xs, b: pipeline_outputs(name, theirs, xs, b), items, batch)
            row = {"task": name, "batch": batch, "items": len(items), "unit": task.unit,
                   "pipeline": round(speed, 2), "pipeline_peak_mb": round(mb)}
            for precision, pipe in ours.items():
                out, ours_speed, ours_mb = measure(lambda xs, b, p=pipe: polymodal_outputs(name, p, xs, b), items, batch)
                row[precision] = {"speed": round(ours_speed, 2), "speedup": round(ours_speed / speed, 2),
                                  "peak_mb": round(ours_mb), **same(name, reference, out)}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def limit_tokens(folder: Path, n: int) -> None:
    """Both tools read the model's generation config: cap the new tokens there."""
    if n:
        from transformers import GenerationConfig
        config = GenerationConfig.from_pretrained(str(folder))
        config.max_new_tokens = n
        config.save_pretrained(str(folder))


def write(rows: list[dict], command: str) -> None:
    import transformers
    machine = f"{platform.machine()} {psutil.cpu_count(logical=True)} CPUs ({cpu_name()}), torch {torch.__version__}, " \
              f"transformers {transformers.__version__}, {torch.get_num_threads()} threads"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vs_pipelines.json").write_text(json.dumps({"command": command, "machine": machine, "rows": rows},
                                                          indent=2) + "\n")

    def cell(r, p):
        o = r[p]
        return f"{o['speed']} (**{o['speedup']}x**) | {'yes' if o['identical'] else 'no'} ({o['agree']}/{r['items']})"
    lines = [f"| {r['task']} | {r['batch']} | {r['pipeline']} | {cell(r, 'fp32')} | {cell(r, 'bf16')} | "
             f"{r['pipeline_peak_mb']} / {r['fp32']['peak_mb']} / {r['bf16']['peak_mb']} |" for r in rows]
    (RESULTS / "vs_pipelines.md").write_text(
        f"# polymodal vs transformers pipelines, CPU\n\n`{command}` on {machine}.\n\n"
        "Items/s (images or utterances) for the pipeline and for polymodal (speed-up over the pipeline), "
        "whether polymodal's outputs equal the pipeline's (items that agree), and the peak growth of resident "
        "memory in MB. Same models, same weights, same inputs, greedy decoding in both, in one process.\n\n"
        "| task | batch | pipeline | polymodal fp32 | same | polymodal bf16 | same | peak MB (pipeline / fp32 / bf16) |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated: " + ", ".join(TASKS))
    parser.add_argument("--items", type=int, default=32, help="inputs per measurement")
    parser.add_argument("--batch", type=int, default=8, help="the batched measurement's batch size")
    parser.add_argument("--tiny", action="store_true", help="small models: a smoke run of this script")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.tasks.split(","):
            task = TASKS[name]
            folder = build(task.model, Path(tmp) / name, tiny=args.tiny)
            limit_tokens(folder, task.max_new_tokens)
            rows += compare(name, task, folder, inputs(name, args.items), [1, args.batch])
    command = f"python benchmarks/vs_pipelines.py --items {args.items} --batch {args.batch}" + \
        ("" if args.tasks == ",".join(TASKS) else f" --tasks {args.tasks}")
    if not args.tiny:
        write(rows, command)
    return 0 if all(r[p]["identical"] for r in rows for p in PRECISIONS) else 1


if __name__ == "__main__":
    sys.exit(main())
