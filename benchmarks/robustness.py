"""Does the shipped VQA model depend on how scenes are stored? Evaluates it on the same
test scenes (seed 7, 200 scenes, 4,000 questions) three ways, through manifests on disk:

  png        the generator's own PNGs
  jpeg-q75   the same images re-encoded as JPEG at quality 75 (lossy)
  pil-draw   the same scenes drawn again by other code (PIL's ImageDraw, anti-aliasing off)

    python benchmarks/robustness.py [--model DIR]   -> benchmarks/results/robustness.{md,json}
"""
import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from polymodal.data import sort_of_clevr
from polymodal.data.manifest import write_manifest
from polymodal.data.world import shapes
from polymodal.loading import resolve
from polymodal.models.multimodal import MultimodalModel
from polymodal.tasks import vqa

SEED, N = 7, 200


def draw_with_pil(objects) -> Image.Image:
    image = Image.new("RGB", (sort_of_clevr.SIZE, sort_of_clevr.SIZE), "white")
    draw = ImageDraw.Draw(image)
    h = sort_of_clevr.OBJECT_HALF
    for o in objects:
        colour = sort_of_clevr.COLOURS[o.colour]
        if o.shape == "square":
            draw.rectangle([o.x - h, o.y - h, o.x + h - 1, o.y + h - 1], fill=colour)
        else:
            draw.ellipse([o.x - h, o.y - h, o.x + h, o.y + h], fill=colour)
    return image


def write(scenes, folder: Path, variant: str) -> Path:
    rows = []
    for i, s in enumerate(scenes):
        if variant == "png":
            name, image, options = f"{i}.png", Image.fromarray(s.image), {}
        elif variant == "jpeg-q75":
            name, image, options = f"{i}.jpg", Image.fromarray(s.image), {"quality": 75}
        else:
            name, image, options = f"{i}.png", draw_with_pil(s.objects), {}
        image.save(folder / name, **options)
        rows += [{"image": name, "question": q.question, "answer": q.answer, "family": q.family} for q in s.questions]
    return write_manifest(rows, folder / "manifest.jsonl")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="a model folder (default: the shipped VQA model)")
    args = parser.parse_args()
    model = MultimodalModel.from_pretrained(resolve(args.model))
    scenes = shapes("sort-of-clevr", "test", SEED, N)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in ("png", "jpeg-q75", "pil-draw"):
            folder = Path(tmp) / variant
            folder.mkdir()
            examples, _ = vqa.load_examples(str(write(scenes, folder, variant)))
            results[variant] = vqa.VQATask().evaluate(model, examples)
            print(variant, json.dumps({k: v for k, v in results[variant].items() if k != "per_type"}), flush=True)
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "robustness.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["| stored as | accuracy | relational | non-relational | change vs png |", "|---|---|---|---|---|"]
    base = results["png"]["accuracy"]
    for variant, m in results.items():
        lines.append(f"| {variant} | {100 * m['accuracy']:.1f}% | {100 * m['relational_accuracy']:.1f}% | "
                     f"{100 * m['non_relational_accuracy']:.1f}% | {100 * (m['accuracy'] - base):+.1f} points |")
    lines.append(f"\n`{args.model or 'vqa-sort-of-clevr'}`, test seed {SEED}, {N} scenes ({N * 20} questions), read from "
                 f"manifests on disk. Command: `python benchmarks/robustness.py`; machine: {platform.machine()} CPU.")
    (out / "robustness.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
