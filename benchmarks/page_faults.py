"""Minor page faults and time of a BLIP-base vision tower (eight 384-pixel images, random
weights of the real shapes), each configuration and precision in a fresh process, since
glibc's malloc settings cannot be undone in one and its thresholds move with what a process
has freed before:

    system               glibc's defaults, the MLP and attention over the whole batch and the
                         GELU into a new tensor (as transformers runs them)
    chunked              the MLP and attention a few images at a time (hf/fast_layers.py,
                         chunked_feed_forward, fused_qkv_attention)
    chunked+in-place     and the GELU in its input's memory (fast_layers.activated): as
                         polymodal runs under glibc's defaults (POLYMODAL_SYSTEM_MALLOC=1)
    chunked+in-place+kept and freed memory kept for the next tensor (core/memory.py): as
                         pm.load runs

Median of --runs calls after one untimed call, in fp32 and in bf16 (weights held in bf16,
autocast).

    python benchmarks/page_faults.py [--runs 5] -> benchmarks/results/page_faults.{md,json}
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIGS = ("system", "chunked", "chunked+in-place", "chunked+in-place+kept")


def one(folder: str, config: str, precision: str, runs: int) -> dict:
    """In this process: the tower under `config` in `precision`."""
    import numpy as np
    import torch

    from polymodal.core.memory import reuse_freed_memory
    from polymodal.hf import fast_layers
    from polymodal.loading import load_model
    if config == "system":
        fast_layers.CHUNK_BYTES = 2 ** 62
    if "in-place" not in config:
        fast_layers.activated = lambda activation, x: activation(x)
    if config.endswith("+kept"):
        assert reuse_freed_memory()
    adapter = load_model(folder)
    images = [np.random.default_rng(i).integers(0, 256, (128, 128, 3), dtype=np.uint8) for i in range(8)]
    pixels = adapter.preprocess({"image": images})["image"]
    tower = adapter.model.vision_model
    if precision == "bf16":
        adapter.hold_weights_in(torch.bfloat16)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        tower(pixel_values=pixels.to(adapter.model.dtype))
        seconds, faults = [], []
        for _ in range(runs):
            before, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
            tower(pixel_values=pixels.to(adapter.model.dtype))
            seconds.append(time.perf_counter() - start)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return {"config": config, "precision": precision, "seconds": round(statistics.median(seconds), 5),
            "faults": int(statistics.median(faults))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="small models: a smoke run of this script")
    parser.add_argument("--one", nargs=3, metavar=("FOLDER", "CONFIG", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "src"))
    if args.one:
        print(json.dumps(one(*args.one, args.runs)))
        return 0
    sys.path.insert(0, str(HERE))
    import real_shapes
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "blip"
        real_shapes.build("blip", folder, tiny=args.tiny)
        for precision in ("fp32", "bf16"):
            for config in CONFIGS:
                out = subprocess.run([sys.executable, __file__, "--runs", str(args.runs), "--one", str(folder), config,
                                      precision], check=True, capture_output=True, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
                print(json.dumps(rows[-1]), flush=True)
    base = {r["precision"]: r["seconds"] for r in rows if r["config"] == "system"}
    lines = ["| configuration | precision | seconds (batch of 8) | minor page faults a call | vs system |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['config']} | {r['precision']} | {r['seconds']:.3f} | {r['faults']:,} | "
              f"**{base[r['precision']] / r['seconds']:.2f}x** |" for r in rows]
    print("\n".join(lines))
    if not args.tiny:
        from results_files import write_results
        command = f"python benchmarks/page_faults.py --runs {args.runs}"
        write_results("page_faults", command, "Page faults of a BLIP-base vision tower, CPU",
                      "; each configuration and precision in a fresh process, median of the calls after one "
                      "untimed call.", lines, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
