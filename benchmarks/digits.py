"""The walkthrough on data polymodal did not make: scikit-learn's `digits` (the test part of the
UCI Optical Recognition of Handwritten Digits data: 1,797 8x8 images of the digits 0-9, in 17
grey levels), which the scikit-learn wheel ships.

The split is scikit-learn's own example's ("Recognizing hand-written digits"): the first half
of the images to train on, the second half to test on. That example's support vector machine
(SVC, gamma=0.001) is the published baseline; it is run here as well, on the same split.

    python benchmarks/digits.py --out runs/digits --budget 300

writes runs/digits/{train,test}.csv (image paths, label), fits polymodal on the training
table twice (the images through a CNN from scratch; the 64 grey levels as numbers through
the table encoder), predicts the test table with each, and writes
benchmarks/results/digits.md. Needs scikit-learn (pip install scikit-learn).
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

RESULTS = Path(__file__).parent / "results" / "digits.md"


def export(out: Path) -> tuple[Path, Path, dict]:
    """PNGs (8x8, grey levels 0-16 scaled to 0-255) and two tables: train.csv (image, label)
    and, for the numbers run, train_pixels.csv / test_pixels.csv (p0..p63, label)."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    half = len(digits.images) // 2
    (out / "images").mkdir(parents=True, exist_ok=True)
    tables = {}
    for part, rows in (("train", range(half)), ("test", range(half, len(digits.images)))):
        images, pixels = [], []
        for i in rows:
            name = f"images/{i:04d}.png"
            Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).save(out / name)
            images.append({"image_id": f"d{i:04d}", "image": name, "digit": int(digits.target[i])})
            pixels.append({"image_id": f"d{i:04d}", **{f"p{j}": int(v) for j, v in enumerate(digits.data[i])},
                           "digit": int(digits.target[i])})
        for suffix, table in (("", images), ("_pixels", pixels)):
            path = out / f"{part}{suffix}.csv"
            with open(path, "w", newline="") as f:
                writer = csv.DictWriter(f, list(table[0]))
                writer.writeheader()
                writer.writerows(table)
            tables[f"{part}{suffix}"] = path
    return tables["train"], tables["test"], tables


def svc_baseline() -> float:
    """scikit-learn's example: SVC(gamma=0.001) on the first half, scored on the second."""
    from sklearn import svm
    from sklearn.datasets import load_digits
    digits = load_digits()
    half = len(digits.data) // 2
    model = svm.SVC(gamma=0.001).fit(digits.data[:half], digits.target[:half])
    return float((model.predict(digits.data[half:]) == digits.target[half:]).mean())


def polymodal(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "polymodal", *args], check=True)


def test_accuracy(predictions: Path, table: Path) -> float:
    truth = [r["digit"] for r in csv.DictReader(open(table))]
    found = [r["prediction"] for r in csv.DictReader(open(predictions))]
    return float(np.mean([t == p for t, p in zip(truth, found)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/digits"))
    parser.add_argument("--budget", type=float, default=300.0, help="seconds for each fit")
    args = parser.parse_args()
    train, test, tables = export(args.out)
    rows = []
    svc = svc_baseline()
    for name, table, extra in (("images (CNN from scratch)", train, []),
                               ("grey levels as numbers (table encoder)", tables["train_pixels"], [])):
        run = args.out / ("fit-images" if table == train else "fit-pixels")
        started = time.monotonic()
        polymodal("fit", str(table), "--label", "digit", "--time-budget", str(args.budget), "--no-ablation",
                  "--out", str(run), *extra)
        took = time.monotonic() - started
        report = json.loads((run / "report.json").read_text())
        test_table = test if table == train else tables["test_pixels"]
        polymodal("predict", str(run / "model"), str(test_table), "--out", str(run / "test_predictions.csv"))
        rows.append({"run": name, "val": report["validation"]["accuracy"],
                     "test": test_accuracy(run / "test_predictions.csv", test_table), "seconds": took,
                     "encoders": report["encoders"], "command": f"polymodal fit {table.name} --label digit "
                                                                f"--time-budget {args.budget:g} --no-ablation"})
    lines = ["| model | test accuracy (899 images) | validation accuracy | time |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| polymodal fit: {r['run']} | **{100 * r['test']:.1f}%** | {100 * r['val']:.1f}% | "
                     f"{r['seconds']:.0f} s |")
    lines.append(f"| scikit-learn's example: SVC(gamma=0.001), run here | {100 * svc:.1f}% | | |")
    lines.append("| scikit-learn's example, as its documentation prints it | 97% | | |")
    lines += ["", f"Data: scikit-learn's `load_digits` (1,797 images), first half to train (898), second half to "
                  f"test (899), as in scikit-learn's example. polymodal holds a fifth of the training half out "
                  f"for validation. Commands: `python benchmarks/digits.py --out {args.out} --budget {args.budget:g}` "
                  f"(which runs: " + "; ".join(f"`{r['command']}`" for r in rows) + ", then `polymodal predict`). "
                  f"Machine: {platform.machine()}, {platform.python_version()}, "
                  f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores."]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
