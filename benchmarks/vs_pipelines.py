"""polymodal against transformers pipelines on the same models and weights, side by side in
one process, on the CPU: zero-shot image classification (CLIP ViT-B/32), captioning (BLIP base)
and speech recognition (Whisper base), at batch 1 and batched.

    python benchmarks/vs_pipelines.py                      # all three, real shapes
    python benchmarks/vs_pipelines.py --tasks caption --items 32 --batch 8,16,32   # batch sizes
    python benchmarks/vs_pipelines.py --tiny --items 4     # a smoke run of the same code
    python benchmarks/vs_pipelines.py --precisions fp32,int8,onnx   # leave bf16 out (a CPU with AVX2 only)

For each task and batch size it runs six paths on the same inputs:

    pipeline fp32     the transformers pipeline, loaded with dtype=torch.float32
    pipeline bf16     the same loaded with dtype=torch.bfloat16 (weights and activations in bf16);
                      where it fails, its error is the path's entry
    polymodal fp32    pm.load(task, folder)
    polymodal bf16    pm.load(..., precision="bf16"): bf16 weights, matmuls under autocast
    polymodal int8    pm.load(..., precision="int8"): linear layers dynamically quantized
    polymodal int8-bf16  pm.load(..., precision="int8-bf16"): the large products in int8 through
                      oneDNN, bf16 between them (a CPU whose oneDNN multiplies bf16; elsewhere
                      pm.load's refusal is the entry)
    polymodal onnx    the folder `polymodal export --format onnx` writes, pm.load(..., runtime="onnx");
                      where the export or pm.load refuses the model, the reason is the entry

and reports, for each path:

    items/s           images or utterances per second over --items inputs: the median of
                      --repeats timed runs, the paths of a row taking turns (pipeline fp32,
                      pipeline bf16, polymodal fp32, ..., then again), after one untimed run
                      of each that gives its outputs, so a drift in the machine's speed
                      reaches every path alike
    peak MB           the peak growth of resident memory while it runs (sampled every 2 ms)
    agreement         against the fp32 pipeline's outputs: the same best label (and the largest
                      probability difference), the same caption, the same transcript
    GFLOP/item        torch's FlopCounterMode over one batched call, per item (int8, int8-bf16 and onnx:
                      polymodal fp32's count, as neither quantized nor ONNX Runtime kernels
                      are counted, and they do the same work)
    GFLOP/s, share    GFLOP/item x items/s, and its share of the machine's matmul peak measured
                      at the start of the run in the same precision (int8, int8-bf16: see PEAK_OF)

and for each row: pipeline best (the faster of pipeline fp32 and bf16), polymodal best (the
fastest polymodal path, whatever its agreement; the table marks one whose outputs differ), the speed-up
best / best, and the speed-ups at equal precision (polymodal fp32 / pipeline fp32, polymodal
bf16 / pipeline bf16). Per task, each tool at its best setting: its fastest path and batch size
over all rows, as a user tuning both would pick (the pipeline's throughput stops growing with
the batch where polymodal's keeps growing, so the two bests may sit at different sizes).

With the zero-shot task it also measures CLIP image embedding (the align pipeline's
embed_images) of --embed-batch images in one batch, in fp32 and bf16: images/s, the image
tower's GFLOP/s and its share of the same-precision matmul peak.

Decoding is greedy in both tools (the speech pipeline's default is 5 beams; it is asked for
1). The models have random weights of the real shapes, which costs what the real ones cost;
the captioner and recogniser are capped at 20 and 30 new tokens through their generation
config, which both tools read. Inputs come from the embedded world: its scenes, and its
sentences spoken.

Both tools run in one process, so under one malloc setting (--malloc): `system`, glibc's
defaults for both (polymodal is told to leave them, POLYMODAL_SYSTEM_MALLOC=1), as a pipeline
runs unless its user tunes malloc, or `kept`, for both from the start, the setting pm.load
makes (core/memory.py: freed memory kept for the next tensor), which any process can make
through glibc's environment variables. Each tool in its own process, as shipped:
whole_process.py.

Writes benchmarks/results/vs_pipelines.{json,md} (--malloc kept: vs_pipelines_kept_memory.{json,md};
a --tiny run only prints). Exit status 0
when polymodal fp32 and bf16 give the fp32 pipeline's outputs in every row, else 1 (int8,
int8-bf16 and onnx disagreements are reported, not failures).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psutil
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))
from real_shapes import build, limit_new_tokens  # noqa: E402
from results_files import cpu_name  # noqa: E402
from utilisation import count_flops, matmul_peaks  # noqa: E402

import polymodal as pm  # noqa: E402
from polymodal.core.errors import ConfigError, InputError  # noqa: E402
from polymodal.core.memory import reuse_freed_memory  # noqa: E402
from polymodal.hf.loading import quiet  # noqa: E402

RESULTS = HERE / "results"
LABELS = [f"{c} {s}" for c in ("red", "green", "blue", "yellow") for s in ("circle", "square", "triangle")]
PROMPT = "a photo of a {}."
FLOATS = {"fp32": torch.float32, "bf16": torch.bfloat16}     # the pipelines' dtype=, the peaks measured
POLYMODAL = {"fp32": {"precision": "fp32"}, "bf16": {"precision": "bf16"}, "int8": {"precision": "int8"},
             "int8-bf16": {"precision": "int8-bf16"}, "onnx": {"runtime": "onnx"}}      # pm.load(..., **options)
PATHS = [f"pipeline {p}" for p in FLOATS] + [f"polymodal {p}" for p in POLYMODAL]
PRECISIONS = tuple(POLYMODAL)           # --precisions: which of the paths run (fp32, the reference, always)
LEFT_OUT = "not measured in this run (--precisions)"
MUST_AGREE = ("polymodal fp32", "polymodal bf16")                        # the exit status's paths
# Which measured matmul peak a path's GFLOP/s is a share of. int8, int8-bf16: no int8 matmul peak is
# measured (torch.matmul has no fast int8 CPU kernel to measure one with), so its share is of
# the higher of the fp32 and bf16 peaks, the most a matmul reaches here without quantizing: a
# share above 1 is int8 beating every float path's ceiling. onnx runs fp32.
PEAK_OF = {"pipeline fp32": "fp32", "pipeline bf16": "bf16", "polymodal fp32": "fp32", "polymodal bf16": "bf16",
           "polymodal int8": "best", "polymodal int8-bf16": "best", "polymodal onnx": "fp32"}
# FlopCounterMode sees neither quantized kernels nor ONNX Runtime's: these paths do polymodal
# fp32's work, and its count stands for theirs
FLOPS_OF = {"polymodal int8": "polymodal fp32", "polymodal int8-bf16": "polymodal fp32",
            "polymodal onnx": "polymodal fp32"}
MALLOC = {"system": "glibc's defaults for both tools",
          "kept": "freed memory kept for the next tensor (core/memory.py) for both tools, from the start"}
PEAK_SIZE = 2048            # the peak's matmuls: PEAK_SIZE x PEAK_SIZE


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
    """-> outputs, items/s of one timed run, peak MB (after a warm-up on one batch)."""
    run(items[:batch], batch)                      # warm-up: first-call allocations and caches
    with PeakMemory() as memory:
        start = time.perf_counter()
        out = run(items, batch)
        seconds = time.perf_counter() - start
    return out, len(items) / seconds, memory.mb


def seconds_of(run, items: list, batch: int) -> float:
    start = time.perf_counter()
    run(items, batch)
    return time.perf_counter() - start


@dataclass
class Contender:
    """One of a task's PATHS: how to run it, or why it could not be loaded."""
    name: str
    run: Callable[[list, int], list] | None = None      # (items, batch) -> outputs
    error: str = ""
    fails: tuple[type[Exception], ...] = ()            # what a run records as the path's error instead of raising


def one_line(e: Exception) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:200]}" if text else type(e).__name__


def load_pipeline(task: Task, folder: Path, dtype: torch.dtype):
    from transformers import pipeline
    with quiet():
        return pipeline(task.pipeline_task, model=str(folder), device="cpu", dtype=dtype)


def pipeline_contenders(name: str, task: Task, folder: Path, precisions: tuple[str, ...]) -> list[Contender]:
    """The pipeline in fp32, the reference (a failure raises), and in bf16 (a failure, loading
    or running, is that path's result)."""
    out = []
    for precision, dtype in FLOATS.items():
        if precision not in precisions:
            out.append(Contender(f"pipeline {precision}", error=LEFT_OUT))
            continue
        fails = () if precision == "fp32" else (Exception,)
        try:
            pipe = load_pipeline(task, folder, dtype)
        except fails as e:
            out.append(Contender(f"pipeline {precision}", error=one_line(e)))
            continue
        out.append(Contender(f"pipeline {precision}", lambda xs, b, p=pipe: pipeline_outputs(name, p, xs, b),
                             fails=fails))
    return out


def polymodal_source(path: str, folder: Path, scratch: Path) -> Path:
    """The folder pm.load reads for a path: for onnx, the folder's ONNX export (the export may
    refuse the model)."""
    if path != "onnx":
        return folder
    from polymodal.inference.onnx_export import export_onnx
    export_onnx(str(folder), scratch / f"{folder.name}-onnx")
    return scratch / f"{folder.name}-onnx"


def polymodal_contenders(name: str, task: Task, folder: Path, scratch: Path,
                         precisions: tuple[str, ...]) -> list[Contender]:
    """polymodal on each path; where pm.load or the ONNX export refuses one, the reason."""
    out = []
    for path, options in POLYMODAL.items():
        if path not in precisions:
            out.append(Contender(f"polymodal {path}", error=LEFT_OUT))
            continue
        try:
            with quiet():
                pipe = pm.load(task.polymodal_task, str(polymodal_source(path, folder, scratch)), **options)
        except (InputError, ConfigError) as e:
            out.append(Contender(f"polymodal {path}", error=one_line(e)))
            continue
        out.append(Contender(f"polymodal {path}", lambda xs, b, p=pipe: polymodal_outputs(name, p, xs, b)))
    return out


def utilisation(flops_per_item: float, speed: float, peak: float) -> dict:
    """GFLOP per item, GFLOP/s achieved at `speed` items/s, and its share of `peak` GFLOP/s."""
    gflop_s = flops_per_item * speed / 1e9
    return {"gflop_per_item": round(flops_per_item / 1e9, 4), "gflop_s": round(gflop_s, 2),
            "peak_share": round(gflop_s / peak, 4)}


def first_run(name: str, c: Contender, items: list, batch: int, reference: list | None,
              flops: dict) -> tuple[dict, list | None]:
    """A path's untimed run: its entry in a row without the speed (its error where it did not
    run) and its outputs (None then). reference: the fp32 pipeline's outputs (None: this is
    that pipeline). flops: FLOPs per item of the row's paths so far, to which this one's
    count is added."""
    if c.run is None:
        return {"error": c.error}, None
    try:
        out, _, mb = measure(c.run, items, batch)
        if c.name not in FLOPS_OF:
            chunk = items[:batch]
            flops[c.name] = count_flops(lambda: c.run(chunk, batch)) / len(chunk)
    except c.fails as e:
        return {"error": one_line(e)}, None
    return {"peak_mb": round(mb), **same(name, out if reference is None else reference, out)}, out


def ratio(paths: dict, ours: str, theirs: str) -> float | None:
    """The speed-up of path `ours` over path `theirs`; None where either did not run."""
    if "speed" not in paths[ours] or "speed" not in paths[theirs]:
        return None
    return round(paths[ours]["speed"] / paths[theirs]["speed"], 2)


def bests(paths: dict) -> dict:
    """The fastest pipeline path and the fastest polymodal path, and speed-ups: best over best
    and at equal precision."""
    def fastest(tool: str) -> str:
        ran = [n for n in paths if n.startswith(tool) and "speed" in paths[n]]
        return max(ran, key=lambda n: paths[n]["speed"])
    theirs, ours = fastest("pipeline"), fastest("polymodal")
    return {"pipeline_best": theirs, "polymodal_best": ours, "speedup_best": ratio(paths, ours, theirs),
            "speedup_fp32": ratio(paths, "polymodal fp32", "pipeline fp32"),
            "speedup_bf16": ratio(paths, "polymodal bf16", "pipeline bf16")}


def compare(name: str, task: Task, folder: Path, items: list, batches: list[int], peaks: dict,
            scratch: Path, repeats: int, precisions: tuple[str, ...]) -> list[dict]:
    """Each batch size: every path (PATHS) of `precisions` on the same items, each checked
    against the fp32 pipeline's outputs, then timed `repeats` times, the paths taking turns."""
    contenders = (pipeline_contenders(name, task, folder, precisions)
                  + polymodal_contenders(name, task, folder, scratch, precisions))
    rows = []
    for batch in batches:
        paths, flops, reference = {}, {}, None
        with torch.inference_mode(), quiet():
            for c in contenders:
                paths[c.name], out = first_run(name, c, items, batch, reference, flops)
                reference = out if reference is None else reference       # the first path: pipeline fp32
            ran = [c for c in contenders if "error" not in paths[c.name]]
            seconds = {c.name: [] for c in ran}
            for _ in range(repeats):
                for c in ran:
                    seconds[c.name].append(seconds_of(c.run, items, batch))
        for c in ran:
            speed = len(items) / statistics.median(seconds[c.name])
            use = utilisation(flops[FLOPS_OF.get(c.name, c.name)], speed, peaks[PEAK_OF[c.name]])
            paths[c.name] = {"speed": round(speed, 2), **paths[c.name], **use}
        row = {"task": name, "batch": batch, "items": len(items), "unit": task.unit, "paths": paths, **bests(paths)}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def clip_embedding(folder: Path, n: int, peaks: dict, repeats: int, precisions: tuple[str, ...]) -> list[dict]:
    """CLIP image embedding of n images in one batch (the align pipeline's embed_images), in
    fp32 and bf16 (where measured): images/s, and the image tower's GFLOP/s and share of the
    same-precision peak."""
    images = inputs("zero-shot", n)
    rows = []
    for precision in (p for p in FLOATS if p in precisions):
        with quiet():
            pipe = pm.load("align", str(folder), precision=precision)
        pipe.batch_size = n

        def embed(xs, b, p=pipe):
            return p.embed_images(xs)
        with torch.inference_mode(), quiet():
            _, _, mb = measure(embed, images, n)
            speed = n / statistics.median(seconds_of(embed, images, n) for _ in range(repeats))
            flops = count_flops(lambda: embed(images, n))
        row = {"precision": precision, "images": n, "speed": round(speed, 2), "peak_mb": round(mb),
               **utilisation(flops / n, speed, peaks[precision])}
        rows.append(row)
        print(json.dumps({"clip_embedding": row}), file=sys.stderr, flush=True)
    return rows


def measure_peaks(seconds: float) -> dict:
    """GFLOP/s of PEAK_SIZE square products in fp32 and bf16 (each the faster of torch.matmul
    and the packed oneDNN product, both kept under "kernels"), and the higher of the two."""
    kernels = {p: {k: round(v, 1) for k, v in matmul_peaks(dtype, seconds, PEAK_SIZE).items()}
               for p, dtype in FLOATS.items()}
    peaks = {p: max(by_kernel.values()) for p, by_kernel in kernels.items()}
    peaks["best"] = max(peaks.values())
    peaks["kernels"] = kernels
    print(json.dumps({"matmul_peak_gflop_s": peaks, "threads": torch.get_num_threads()}), file=sys.stderr, flush=True)
    return peaks


def table(header: list[str], lines: list[list]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
                     ["| " + " | ".join(map(str, cells)) + " |" for cells in lines]) + "\n"


def per_path(rows: list[dict], cell: Callable[[dict, dict], str], paths: list[str] = PATHS) -> str:
    """A table of one cell per path (— where the path did not run) for each task and batch."""
    lines = [[r["task"], r["batch"], *(cell(r, r["paths"][p]) if "error" not in r["paths"][p] else "—" for p in paths)]
             for r in rows]
    return table(["task", "batch", *paths], lines)


def speed_table(rows: list[dict]) -> str:
    def times(v: float | None) -> str:
        return "—" if v is None else f"{v}x"
    def best(r: dict) -> str:
        differ = "" if r["paths"][r["polymodal_best"]]["identical"] else ", outputs differ"
        return f"**{times(r['speedup_best'])}** ({r['polymodal_best']}{differ} / {r['pipeline_best']})"
    lines = [[r["task"], r["batch"], *(r["paths"][p].get("speed", "—") for p in PATHS), best(r),
              times(r["speedup_fp32"]), times(r["speedup_bf16"])] for r in rows]
    return table(["task", "batch", *PATHS, "best / best", "fp32 / fp32", "bf16 / bf16"], lines)


def best_settings(rows: list[dict]) -> list[dict]:
    """Per task, each tool at its fastest over every path and batch size measured: the
    setting a user who tunes both tools picks. The speed-up of polymodal's over the pipeline's."""
    def fastest(task: str, tool: str) -> dict:
        ran = [(r, n) for r in rows if r["task"] == task for n in r["paths"]
               if n.startswith(tool) and "speed" in r["paths"][n]]
        r, n = max(ran, key=lambda rn: rn[0]["paths"][rn[1]]["speed"])
        return {"path": n, "batch": r["batch"], "speed": r["paths"][n]["speed"], "identical": r["paths"][n]["identical"]}
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        theirs, ours = fastest(task, "pipeline"), fastest(task, "polymodal")
        out.append({"task": task, "pipeline": theirs, "polymodal": ours,
                    "speedup": round(ours["speed"] / theirs["speed"], 2)})
    return out


def best_settings_table(best: list[dict]) -> str:
    def cell(b: dict) -> str:
        differ = "" if b["identical"] else ", outputs differ"
        return f"{b['speed']} ({b['path']}, batch {b['batch']}{differ})"
    return table(["task", "pipeline at its best", "polymodal at its best", "speed-up"],
                 [[b["task"], cell(b["pipeline"]), cell(b["polymodal"]), f"**{b['speedup']}x**"] for b in best])


def agreement(row: dict, path: dict) -> str:
    gap = f", gap {path['max_probability_gap']}" if "max_probability_gap" in path else ""
    return f"{'yes' if path['identical'] else 'no'} ({path['agree']}/{row['items']}{gap})"


def errors(rows: list[dict]) -> str:
    """Each path that did not run, once per task and reason."""
    seen = dict.fromkeys((r["task"], p, e["error"]) for r in rows for p, e in r["paths"].items() if "error" in e)
    return "".join(f"- {task}, {path}: {error}\n" for task, path, error in seen) or "None: every path ran.\n"


def embedding_table(embedding: list[dict]) -> str:
    return table(["precision", "images (one batch)", "images/s", "GFLOP/image", "GFLOP/s", "share of peak", "peak MB"],
                 [[e["precision"], e["images"], e["speed"], e["gflop_per_item"], e["gflop_s"],
                   f"{100 * e['peak_share']:.1f}%", e["peak_mb"]] for e in embedding])


def kernel_rates(peaks: dict) -> str:
    return "; ".join(f"{p}: " + ", ".join(f"{k} {v}" for k, v in by_kernel.items())
                     for p, by_kernel in peaks["kernels"].items())


def write(rows: list[dict], embedding: list[dict], peaks: dict, command: str, malloc: str, name: str) -> None:
    import transformers
    machine = f"{platform.machine()} {psutil.cpu_count(logical=True)} CPUs ({cpu_name()}), " \
              f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} threads"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(
        {"command": command, "machine": machine, "matmul_peak_gflop_s": peaks, "rows": rows,
         "best_settings": best_settings(rows), "clip_embedding": embedding}, indent=2) + "\n")
    embedding_part = "" if not embedding else (
        "\n## CLIP image embedding\n\nThe align pipeline's `embed_images` on one batch, in fp32 and bf16: the image "
        "tower's FLOPs (FlopCounterMode), GFLOP/s and share of the same-precision matmul peak.\n\n"
        + embedding_table(embedding))
    (RESULTS / f"{name}.md").write_text(
        f"# polymodal vs transformers pipelines, CPU\n\n`{command}` on {machine}.\n\n"
        "Same models, same weights, same inputs, greedy decoding in both tools, in one process. The paths: the "
        "transformers pipeline loaded with `dtype=torch.float32` and `dtype=torch.bfloat16`; polymodal's "
        "`pm.load` with `precision=\"fp32\"`, `\"bf16\"` (bf16 weights, autocast), `\"int8\"` (linear layers "
        "dynamically quantized), `\"int8-bf16\"` (int8 products through oneDNN, bf16 between them), and "
        "`runtime=\"onnx\"` on the folder's ONNX export. — : the path did not run "
        f"(below). malloc: {MALLOC[malloc]}. Measured matmul peak ({PEAK_SIZE}x{PEAK_SIZE} products, same "
        "process and threads; the faster of `torch.matmul` and oneDNN's packed product, "
        "benchmarks/utilisation.py): "
        f"fp32 {peaks['fp32']} GFLOP/s, bf16 {peaks['bf16']} GFLOP/s ({kernel_rates(peaks)}).\n\n"
        "## Speed\n\nItems/s (images or utterances), the median of the timed runs (the paths of a row take turns, "
        "after one untimed run of each). best / best: polymodal's fastest path over the pipeline's "
        "fastest (named: polymodal / pipeline; \"outputs differ\" where polymodal's fastest path does not give the "
        "fp32 pipeline's outputs); fp32 / fp32 and bf16 / bf16: speed-ups at equal precision.\n\n"
        + speed_table(rows) +
        "\n## Each tool at its best setting\n\nItems/s of each tool's fastest path and batch size among those "
        "measured above, as a user who tunes both tools would run them.\n\n" + best_settings_table(best_settings(rows)) +
        "\n## Agreement with the fp32 pipeline\n\nWhether every output equals the fp32 pipeline's (items that do; "
        "zero-shot: the same best label, and the largest probability difference).\n\n"
        + per_path(rows, agreement, PATHS[1:]) +
        "\n## Utilisation\n\nGFLOP/s achieved (FLOPs per item, counted by torch's FlopCounterMode over one batched "
        "call, x items/s) and its share of the measured matmul peak in the path's precision. int8, int8-bf16 and "
        "onnx: polymodal fp32's FLOPs (the counter sees neither quantized nor ONNX Runtime kernels); int8's and "
        "int8-bf16's shares are of "
        "the higher of the fp32 and bf16 peaks, as no int8 peak is measured.\n\n"
        + per_path(rows, lambda r, p: f"{p['gflop_s']} ({100 * p['peak_share']:.1f}%)") +
        "\n## Peak memory\n\nThe peak growth of resident memory in MB while the path runs (sampled every 2 ms).\n\n"
        + per_path(rows, lambda r, p: str(p["peak_mb"])) +
        "\n## Paths that did not run\n\n" + errors(rows) + embedding_part)


def batch_sizes(text: str) -> list[int]:
    """--batch: "8" or "8,16,32" -> the sizes, each at least 2 (batch 1 is always measured)."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch sizes are whole numbers, comma-separated, got {text!r}") from None
    if any(size < 2 for size in sizes) or len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"batch sizes are distinct and at least 2, got {text!r}")
    return sizes


def precision_list(text: str) -> tuple[str, ...]:
    """--precisions: "fp32,int8" -> the paths' precisions in PRECISIONS' order, fp32 among them."""
    chosen = {part.strip() for part in text.split(",")}
    if not chosen <= set(PRECISIONS):
        raise argparse.ArgumentTypeError(f"precisions are {', '.join(PRECISIONS)}, got {text!r}")
    return tuple(p for p in PRECISIONS if p in chosen | {"fp32"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated: " + ", ".join(TASKS))
    parser.add_argument("--items", type=int, default=32, help="inputs per measurement")
    parser.add_argument("--batch", type=batch_sizes, default=[8],
                        help="the batched measurements' batch sizes, comma-separated (batch 1 is always measured)")
    parser.add_argument("--embed-batch", type=int, default=64, help="images in the CLIP embedding measurement")
    parser.add_argument("--malloc", choices=tuple(MALLOC), default="system",
                        help="the process's malloc setting, for both tools (see above)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each path (the median is reported)")
    parser.add_argument("--precisions", type=precision_list, default=PRECISIONS,
                        help="the paths' precisions to measure, comma-separated, of " + ", ".join(PRECISIONS) +
                             " (fp32, the reference, always runs)")
    parser.add_argument("--tiny", action="store_true", help="small models: a smoke run of this script")
    parser.add_argument("--name", help="the results files' name in benchmarks/results (default: vs_pipelines, "
                                       "vs_pipelines_kept_memory with --malloc kept)")
    args = parser.parse_args()
    if args.malloc == "system":
        os.environ["POLYMODAL_SYSTEM_MALLOC"] = "1"
    elif not reuse_freed_memory():
        parser.error("--malloc kept needs glibc")
    peaks = measure_peaks(0.5 if args.tiny else 3.0)
    rows, embedding = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.tasks.split(","):
            task = TASKS[name]
            folder = build(task.model, Path(tmp) / name, tiny=args.tiny)
            limit_new_tokens(folder, task.max_new_tokens)
            rows += compare(name, task, folder, inputs(name, args.items), [1, *args.batch], peaks, Path(tmp),
                            args.repeats, args.precisions)
            if name == "zero-shot":
                embedding = clip_embedding(folder, args.embed_batch, peaks, args.repeats, args.precisions)
    command = f"python benchmarks/vs_pipelines.py --items {args.items} --batch {','.join(map(str, args.batch))}" + \
        ("" if args.repeats == 3 else f" --repeats {args.repeats}") + \
        ("" if args.malloc == "system" else f" --malloc {args.malloc}") + \
        ("" if args.tasks == ",".join(TASKS) else f" --tasks {args.tasks}") + \
        ("" if args.embed_batch == 64 else f" --embed-batch {args.embed_batch}") + \
        ("" if args.precisions == PRECISIONS else f" --precisions {','.join(args.precisions)}") + \
        ("" if args.name is None else f" --name {args.name}")
    if not args.tiny:
        name = args.name or ("vs_pipelines" if args.malloc == "system" else "vs_pipelines_kept_memory")
        write(rows, embedding, peaks, command, args.malloc, name)
    return 0 if all(r["paths"][p].get("identical") or r["paths"][p].get("error") == LEFT_OUT
                    for r in rows for p in MUST_AGREE) else 1


if __name__ == "__main__":
    sys.exit(main())
