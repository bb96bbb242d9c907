"""What the embedding cache of a frozen pretrained encoder saves: a VQA fusion model over a
frozen ViT-B/16-shaped image tower (random weights, written locally: the shape and cost of
the real one) and a frozen text tower, trained two epochs on a sort-of-clevr manifest.
Epoch 1 runs the towers on every distinct image and question; epoch 2 reads the cache.
Then the trained model's predictions with the cache are compared with predictions that run
the towers again (a new process's view with the cache off).

    python benchmarks/embedding_cache.py                # ViT-B/16 at 224 px, 48 scenes
    python benchmarks/embedding_cache.py --tower small  # a 4-layer 256-wide ViT (quick)

Writes benchmarks/results/embedding_cache.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
TOWERS = {"vit-b16": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                          image_size=224, patch_size=16),
          "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                        image_size=128, patch_size=16)}


def write_tower(folder: Path, shape: dict) -> Path:
    import torch
    from transformers import ViTConfig, ViTImageProcessorPil, ViTModel
    torch.manual_seed(0)
    ViTModel(ViTConfig(**shape)).save_pretrained(str(folder))
    ViTImageProcessorPil(size={"height": shape["image_size"], "width": shape["image_size"]}).save_pretrained(str(folder))
    return folder


def predictions(model_dir: Path, manifest: Path) -> tuple[list[str], list[list[float]]]:
    import torch

    from polymodal.loading import load_model
    from polymodal.modalities import Image
    from polymodal.tasks.vqa import VQATask
    model = load_model(str(model_dir), task="vqa").eval()
    examples, _ = VQATask().load_examples(str(manifest), 0, 10**6)
    answers, logits = [], []
    with torch.no_grad():
        for ex in examples:
            image = Image.open(ex.image) if isinstance(ex.image, (str, Path)) else ex.image
            batch = model.preprocess({"image": [image] * len(ex.questions),
                                      "text": [q.text for q in ex.questions]})
            out = model(batch)
            logits += out.tolist()
            answers += [model.config.labels[i] for i in out.argmax(-1).tolist()]
    return answers, logits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tower", choices=sorted(TOWERS), default="vit-b16")
    parser.add_argument("--n", type=int, default=48, help="scenes (20 questions each)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "embedding_cache"))
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="embedding-cache-"))
    os.environ["POLYMODAL_CACHE"] = str(work / "cache")
    from polymodal.cli.main import main as cli
    from polymodal.encoders import embedding_cache
    from polymodal.training import run as training_run
    tower = write_tower(work / "tower", TOWERS[args.tower])
    assert cli(["data", "shapes", "--preset", "sort-of-clevr", "--split", "train", "--seed", "1", "--n", str(args.n),
                "--out", str(work / "data")]) == 0
    manifest = work / "data" / "manifest.jsonl"
    recipe = {"task": "vqa", "data": {"spec": str(manifest)},
              "model": {"encoders": {"image": {"name": "hf-image", "config": {"path": str(tower)}},
                                     "text": {"name": "transformer", "config": {}}},
                        "fusion": "late:mean", "hidden": 128},
              "train": {"batch_size": 8, "epochs": 2, "seed": 0}}
    training_run.run(recipe, work / "run")
    evals = json.loads((work / "run" / "metrics.json").read_text())["evals"]
    epoch1, epoch2 = evals[0]["elapsed_s"], evals[1]["elapsed_s"] - evals[0]["elapsed_s"]
    cache = next(iter(embedding_cache._caches.values()))
    cached_answers, cached_logits = predictions(work / "run" / "model", manifest)
    embedding_cache._caches.clear()
    os.environ["POLYMODAL_EMBEDDING_CACHE"] = "off"                   # the towers run again
    fresh_answers, fresh_logits = predictions(work / "run" / "model", manifest)
    diff = max(abs(a - b) for x, y in zip(cached_logits, fresh_logits) for a, b in zip(x, y))
    report = {
        "command": f"python benchmarks/embedding_cache.py --tower {args.tower} --n {args.n} --threads {args.threads}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "tower": args.tower, "scenes": args.n, "questions": len(cached_answers),
        "epoch1_s": epoch1, "epoch2_s": round(epoch2, 1), "speedup": round(epoch1 / max(epoch2, 0.05), 1),
        "cache_items_on_disk": sum(1 for _ in (work / "cache").rglob("*.safetensors")),
        "cache_hits": cache.hits, "cache_misses": cache.misses,
        "answers_equal": cached_answers == fresh_answers, "max_logit_difference": diff,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(
        f"# The embedding cache of a frozen encoder\n\n`{report['command']}` ({report['machine']}).\n\n"
        f"A late-fusion VQA model over a frozen {args.tower} image tower, {args.n} sort-of-clevr scenes "
        f"({report['questions']} questions), batches of 8 scenes:\n\n"
        f"| epoch 1 (towers run) | epoch 2 (cache) | speed-up | cache hits / misses | answers equal without the cache "
        f"| largest logit difference |\n|---|---|---|---|---|---|\n"
        f"| {epoch1} s | {report['epoch2_s']} s | {report['speedup']}x | {cache.hits} / {cache.misses} | "
        f"{report['answers_equal']} | {diff:.2e} |\n")
    print(json.dumps(report))
    return 0 if report["answers_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
