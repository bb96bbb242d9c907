"""The committed temporal fusion table: `make temporal-fusion-table`.

Trains each way of fusing the frames (early, late, hybrid; hybrid also hearing the sound) for
the same number of steps on the same `motion` clips, with the same frames encoder, question
encoder and fusion, then writes benchmarks/results/temporal_fusion.{md,json,png}. Rows can be
trained by separate processes first (`--fusions late`, `--fusions hybrid`, with the same other
flags); a row trained with the same recipe is then evaluated, not retrained.
"""
import sys

from polymodal.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["compare-fusion", "--data", "shapes:motion", "--fusions", "early,late,hybrid,hybrid+audio",
                   "--n", "4000", "--steps", "1500", "--test-n", "500", "--seed", "1",
                   "--out", "benchmarks/results", "--runs", "runs/temporal-fusion-table", *sys.argv[1:]]))
