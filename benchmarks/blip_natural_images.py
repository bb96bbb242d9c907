"""Captioning agreement on images polymodal did not make: photographs and screenshots of any
size, read from files, captioned greedily by the transformers pipeline in fp32 (the reference)
and in bf16, and by polymodal in fp32, bf16, int8 and int8-bf16, on the BLIP-base-shaped folder of
vs_pipelines.py (random weights of the real shapes, at most 20 new tokens).

The side-by-side's scenes are small generated squares; these are larger and of other aspect
ratios, so BLIP's resizing to 384x384 (PIL, bicubic, downscaling) is checked too. Each
caption is compared whole.

    python benchmarks/blip_natural_images.py IMAGE_OR_FOLDER... -> benchmarks/results/blip_natural_images.{md,json}
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from clip_natural_images import SUFFIXES
from natural_inputs import files_among, judge_parser, polymodal_paths, refusals
from results_files import write_results

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def main() -> int:
    parser = judge_parser(__doc__, "image", spread=0.1)
    args = parser.parse_args()
    from PIL import Image
    from real_shapes import build, limit_new_tokens
    from vs_pipelines import TASKS, load_pipeline, pipeline_outputs, polymodal_outputs, same

    files = files_among(args.inputs, SUFFIXES)
    if not files:
        parser.error("no .jpg, .jpeg or .png files among the inputs")
    images = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    task = TASKS["caption"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = build("blip", Path(tmp) / "blip", spread=args.spread)
        limit_new_tokens(folder, task.max_new_tokens)
        outputs = {}
        for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            pipe = load_pipeline(task, folder, dtype)
            outputs[f"pipeline {precision}"] = pipeline_outputs("caption", pipe, images, args.batch)
            if precision == "fp32":          # the reference against itself: is the judge stable?
                outputs["pipeline fp32, batch 1"] = pipeline_outputs("caption", pipe, images, 1)
        ours, refused = polymodal_paths("caption", folder,
                                        lambda loaded: polymodal_outputs("caption", loaded, images, args.batch))
        outputs.update(ours)
    reference = outputs["pipeline fp32"]
    rows = [{"path": name, **same("caption", reference, out)} for name, out in outputs.items()
            if name != "pipeline fp32"]
    rows.append({"path": "polymodal bf16 against pipeline bf16",
                 **same("caption", outputs["pipeline bf16"], outputs["polymodal bf16"])})
    sizes = sorted({f"{x.shape[1]}x{x.shape[0]}" for x in images})
    table = ["| path | same caption as the fp32 pipeline |", "|---|---|"]
    table += [f"| {r['path']} | {r['agree']}/{len(images)} |" for r in rows]
    command = "python benchmarks/blip_natural_images.py " + " ".join(args.inputs)
    write_results("blip_natural_images", command, "Captioning agreement on images polymodal did not make",
                  f". {len(images)} images, sizes {', '.join(sizes)} (width x height); greedy, at most "
                  f"{task.max_new_tokens} new tokens, batch {args.batch}; the fp32 pipeline's captions: "
                  f"{len(set(reference))} distinct (random weights of std {args.spread}: a judge of agreement, not of "
                  f"accuracy).{refusals(refused)}",
                  table, rows)
    print("\n".join(table))
    fp32 = next(r for r in rows if r["path"] == "polymodal fp32")          # must give the reference's outputs
    return 0 if fp32["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
