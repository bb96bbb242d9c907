"""Whether torch.compile pays on this CPU: the image encoders polymodal runs, eager (as pm.load
runs them) against compiled by Inductor with weight freezing (oneDNN's packed linear layers and
fused elementwise kernels, the CPU setting that compiles most), on random weights of the real
shapes (benchmarks/real_shapes.py):

- CLIP ViT-B/32 image features (hf/native_clip.py), the zero-shot and embedding path;
- the BLIP-base vision tower (577 tokens an image), the captioner's encoder.

The process keeps freed memory as pm.load's does (core/memory.py). Each in fp32 and in bf16 (weights held in bf16, under autocast), one fixed batch. Reported: the
median of --runs calls each way (alternating, after an untimed one), the seconds the first
compiled call took (compilation), and the largest difference between the two outputs.

    python benchmarks/cpu_compile.py [--runs 5] [--batch 8]
        -> benchmarks/results/cpu_compile.{md,json}
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from results_files import write_results

HERE = Path(__file__).resolve().parent


def encoders(tmp: Path, batch: int, tiny: bool) -> dict:
    """name -> (module whose forward takes pixels, a batch of pixels)."""
    import real_shapes

    from polymodal.hf import native_clip
    from polymodal.loading import load_model
    clip_folder = real_shapes.build("clip", tmp / "clip", tiny=tiny)
    blip_folder = real_shapes.build("blip", tmp / "blip", tiny=tiny)
    clip, _, _ = native_clip.load(clip_folder)
    blip = load_model(str(blip_folder)).model.vision_model

    class ImageFeatures(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, pixels):
            return self.model.get_image_features(pixels)

    class LastHidden(torch.nn.Module):
        def __init__(self, tower):
            super().__init__()
            self.tower = tower

        def forward(self, pixels):
            return self.tower(pixel_values=pixels).last_hidden_state

    def pixels(side: int) -> torch.Tensor:
        return torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(0))
    return {"CLIP ViT-B/32 image features": (ImageFeatures(clip).eval(), pixels(clip.source_config.get(
                "vision_config", {}).get("image_size", 224))),
            "BLIP-base vision tower": (LastHidden(blip).eval(), pixels(blip.config.image_size))}


def measure(module: torch.nn.Module, pixels: torch.Tensor, dtype: torch.dtype, runs: int) -> dict:
    import torch._inductor.config as inductor
    inductor.freezing = True
    module.to(dtype)
    x = pixels.to(dtype)
    cast = torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32)
    torch._dynamo.reset()
    compiled = torch.compile(module, dynamic=False)
    with torch.no_grad(), cast:
        eager_out = module(x)
        start = time.perf_counter()
        compiled_out = compiled(x)
        compile_s = time.perf_counter() - start
        times = {"eager": [], "compiled": []}
        for _ in range(runs):
            for name, call in (("eager", module), ("compiled", compiled)):
                start = time.perf_counter()
                call(x)
                times[name].append(time.perf_counter() - start)
    eager_s, compiled_s = (sorted(times[k])[runs // 2] for k in ("eager", "compiled"))
    return {"precision": {torch.float32: "fp32", torch.bfloat16: "bf16"}[dtype], "batch": len(pixels),
            "eager_s": round(eager_s, 4), "compiled_s": round(compiled_s, 4), "speedup": round(eager_s / compiled_s, 3),
            "compile_s": round(compile_s, 1),
            "max_difference": float((eager_out.float() - compiled_out.float()).abs().max())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tiny", action="store_true", help="small models: a smoke run of this script")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.path.insert(0, str(HERE))
    from polymodal.core.memory import reuse_freed_memory
    reuse_freed_memory()            # as pm.load sets it on a CPU, for both ways
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (module, pixels) in encoders(Path(tmp), args.batch, args.tiny).items():
            for dtype in (torch.float32, torch.bfloat16):
                rows.append({"encoder": name, **measure(module, pixels, dtype, args.runs)})
                print(json.dumps(rows[-1]), flush=True)
    lines = ["| encoder | precision | batch | eager | compiled | speed-up | first compiled call | largest difference |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['encoder']} | {r['precision']} | {r['batch']} | {r['eager_s']:.3f} s | {r['compiled_s']:.3f} s | "
              f"**{r['speedup']:.2f}x** | {r['compile_s']} s | {r['max_difference']:.1e} |" for r in rows]
    print("\n".join(lines))
    if not args.tiny:
        command = f"python benchmarks/cpu_compile.py --runs {args.runs} --batch {args.batch}"
        write_results("cpu_compile", command, "torch.compile on this CPU",
                      f", Inductor with weight freezing, median of {args.runs} alternating calls, random weights "
                      "of the real shapes (benchmarks/real_shapes.py).", lines, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
