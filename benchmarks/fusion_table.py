"""The committed fusion table: `make fusion-table` (about 70 minutes on a 2-core CPU).

Trains each fusion strategy for the same number of steps on the same sort-of-clevr data
with the same encoders, then writes benchmarks/results/fusion_table.{md,json,png}.
"""
import sys

from polymodal.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["compare-fusion", "--n", "10000", "--steps", "6000", "--fusions",
                   "early:feature,late:mean,hybrid:film,hybrid:cross-attention,hybrid:relation,hybrid:bottleneck", "--test-n", "200", "--seed", "1",
                   "--out", "benchmarks/results", "--runs", "runs/fusion-table", *sys.argv[1:]]))
