"""Argument types and groups that several verbs share."""
from __future__ import annotations

import argparse

from .defaults import DRAW_GUIDANCE


def positive_int(text: str) -> int:
    """argparse type for counts and sizes: 0 or less is a usage error, not a crash later."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_batch_job_args(p: argparse.ArgumentParser) -> None:
    """Options of a verb run as a batch job (`--out FILE.parquet`)."""
    p.add_argument("--chunk-size", type=positive_int, default=256,
                   help="with --out FILE.parquet: items per written part (what a kill can lose)")
    p.add_argument("--ray", action="store_true", help="with --out FILE.parquet: run the chunks on Ray Data workers")
    p.add_argument("--ray-address", help="the Ray cluster to join (e.g. auto); default: start a local one")
    p.add_argument("--ray-workers", type=positive_int, default=2, help="Ray workers, each holding the model")


def add_data_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--data", required=required, help="shapes:<preset>:<split> or a manifest (.jsonl/.csv)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated world (shapes: data only)")
    p.add_argument("--n", type=positive_int, default=1000, help="number of generated scenes (shapes: data only)")
    p.add_argument("--column", action="append", metavar="NAME=COLUMN",
                   help="read manifest column COLUMN as NAME (e.g. question=q_text); repeatable")
    p.add_argument("--on-bad-rows", choices=("fail", "skip"), default="fail",
                   help="stop at the first bad manifest row, or skip and list them (default: fail)")


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="the noise of image i is drawn from seed + i")
    p.add_argument("--steps", type=positive_int, default=25, help="denoising steps")
    p.add_argument("--guidance", type=float, default=DRAW_GUIDANCE, help="classifier-free guidance scale (1 = none)")
    p.add_argument("--scheduler", choices=("ddim", "dpm", "ddpm"), default="ddim")
