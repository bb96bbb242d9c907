"""Do the shapes-world models depend on how scenes are stored? Each is evaluated on the same
test scenes (seed 7) written to disk as PNGs and as JPEG copies at quality 75, read back
through manifests; few-shot images are re-encoded in memory the same way.

    python benchmarks/robustness_vl.py [--caption M] [--align M] [--ground M]
        -> benchmarks/results/robustness_vl.{md,json}
    (each model defaults to its task's shipped default, once one ships)
"""
import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

from polymodal.data.export import export_shapes
from polymodal.loading import load_model
from polymodal.processors.image import jpeg_roundtrip
from polymodal.tasks import align, caption, few_shot, ground, image_text

SEED, N, QUALITY = 7, 500, 75


def measure(task: str, model, manifest: Path, jpeg: bool) -> dict:
    """The task's headline figures on the scenes of one manifest."""
    if task == "caption":
        m = caption.CaptionTask().evaluate(model, caption.CaptionTask().load_examples(str(manifest))[0])
        return {"fact_f1": m["fact_f1"], "bleu4": m["bleu4"], "cider": m["cider"]}
    if task == "ground":
        m = ground.GroundTask().evaluate(model, ground.load_examples(str(manifest))[0])
        return {k: v for k, v in m.items() if k.endswith("accuracy_iou50") or k == "mean_iou"}
    examples, _ = image_text.load_examples(str(manifest))
    out = {k: v for k, v in align.retrieval_metrics(model, examples).items() if k != "gallery"}
    out.update(align.zero_shot_metrics(model, examples))
    images = few_shot.few_shot_images(SEED, 200)
    if jpeg:
        images = {c: [jpeg_roundtrip(im, QUALITY) for im in ims] for c, ims in images.items()}
    # 100 episodes: over 20, the spread between episodes (4-6 points) swamped a JPEG effect
    out["few_shot_accuracy"] = few_shot.few_shot_metrics(model, images, shots=5, episodes=100, seed=SEED)["few_shot_accuracy"]
    if getattr(model.config, "factors", None):        # shape classes: colour and place contracted out
        out["few_shot_invariant_accuracy"] = few_shot.few_shot_metrics(
            model, images, shots=5, episodes=100, seed=SEED, invariances=("colour", "place"))["few_shot_accuracy"]
    out.pop("images", None)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    for task in ("caption", "align", "ground"):
        parser.add_argument(f"--{task}", help=f"the {task} model (default: the shipped one)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        stored = {"png": export_shapes("shapes", "test", SEED, N, Path(tmp) / "png"),
                  f"jpeg-q{QUALITY}": export_shapes("shapes", "test", SEED, N, Path(tmp) / "jpg", "jpg", QUALITY)}
        for task in ("caption", "align", "ground"):
            model = load_model(getattr(args, task), task=task)
            results[task] = {variant: measure(task, model, manifest, variant != "png")
                             for variant, manifest in stored.items()}
            print(task, json.dumps(results[task]), flush=True)
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "robustness_vl.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["| task | metric | png | jpeg q75 | change |", "|---|---|---|---|---|"]
    for task, by_variant in results.items():
        png, jpg = by_variant["png"], by_variant[f"jpeg-q{QUALITY}"]
        for metric, value in png.items():
            lines.append(f"| {task} | {metric} | {value:.3f} | {jpg[metric]:.3f} | {jpg[metric] - value:+.3f} |")
    lines.append(f"\nTest seed {SEED}, {N} scenes read from manifests on disk. "
                 f"Command: `python benchmarks/robustness_vl.py`; machine: {platform.machine()} CPU.")
    (out / "robustness_vl.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
