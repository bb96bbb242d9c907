"""Zero-shot agreement on images polymodal did not make: photographs and screenshots of any
size, read from files, through the transformers pipeline in fp32 (the reference) and in bf16,
and polymodal in fp32, bf16, int8 and int8-bf16 (its image tower packed), on the
ViT-B/32-shaped CLIP of vs_pipelines.py (random weights of the real shapes) and the same
labels and prompt.

The side-by-side's scenes are small generated squares; these are larger and of other aspect
ratios, so resizing and cropping (PIL, downscaling) are checked too.

    python benchmarks/clip_natural_images.py IMAGE_OR_FOLDER... -> benchmarks/results/clip_natural_images.{md,json}
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from natural_inputs import files_among, judge_parser, polymodal_paths, refusals
from results_files import write_results

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
SUFFIXES = (".jpg", ".jpeg", ".png")


def compared(reference: list[dict], other: list[dict]) -> dict:
    top = sum(max(a, key=a.get) == max(b, key=b.get) for a, b in zip(reference, other))
    gap = max(abs(a[k] - b[k]) for a, b in zip(reference, other) for k in a)
    return {"same_top_label": top, "images": len(reference), "max_probability_gap": round(gap, 5)}


def main() -> int:
    parser = judge_parser(__doc__, "image")
    args = parser.parse_args()
    from PIL import Image
    from real_shapes import build
    from transformers import pipeline
    from vs_pipelines import LABELS, PROMPT

    files = files_among(args.inputs, SUFFIXES)
    if not files:
        parser.error("no .jpg, .jpeg or .png files among the inputs")
    images = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    with tempfile.TemporaryDirectory() as tmp:
        folder = build("clip", Path(tmp) / "clip")
        outputs = {}
        for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            pipe = pipeline("zero-shot-image-classification", model=str(folder), dtype=dtype)
            rows = pipe([Image.fromarray(x) for x in images], candidate_labels=LABELS, hypothesis_template=PROMPT,
                        batch_size=args.batch)
            outputs[f"pipeline {precision}"] = [{r["label"]: r["score"] for r in row} for row in rows]
        def classify(loaded) -> list[dict]:
            loaded.batch_size = args.batch
            return [dict(r) for r in loaded.classify(images, LABELS)]
        ours, refused = polymodal_paths("align", folder, classify)
        outputs.update(ours)
    reference = outputs.pop("pipeline fp32")
    rows = [{"path": name, **compared(reference, out)} for name, out in outputs.items()]
    sizes = sorted({f"{x.shape[1]}x{x.shape[0]}" for x in images})
    table = ["| path | same top label as the fp32 pipeline | largest probability difference |", "|---|---|---|"]
    table += [f"| {r['path']} | {r['same_top_label']}/{r['images']} | {r['max_probability_gap']} |" for r in rows]
    command = "python benchmarks/clip_natural_images.py " + " ".join(args.inputs)
    write_results("clip_natural_images", command, "Zero-shot agreement on images polymodal did not make",
                  f". {len(images)} images, sizes {', '.join(sizes)} (width x height); labels and prompt of "
                  f"vs_pipelines.py; batch {args.batch}.{refusals(refused)}", table, rows)
    print("\n".join(table))
    fp32 = next(r for r in rows if r["path"] == "polymodal fp32")          # must give the reference's outputs
    return 0 if fp32["max_probability_gap"] < 1e-4 and fp32["same_top_label"] == len(images) else 1


if __name__ == "__main__":
    raise SystemExit(main())
