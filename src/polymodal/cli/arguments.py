"""Argument types and groups that several verbs share. Every value a flag takes is checked
here, as it is parsed, by core/values.py (the same checks the HTTP service and the manifest
reader make), and a bad one is a one-line usage error."""
from __future__ import annotations

import argparse
import re

from ..core import values
from ..core.errors import InputError, PolymodalError
from ..core.values import (
    GUIDANCE,
    JPEG_QUALITY,
    MAX_COUNT,
    NOISE_SNR_DB,
    number,
    seed,
    text,
)
from .defaults import DRAW_GUIDANCE, PRECISIONS, RUNTIMES


class UsageError(PolymodalError):
    """A command line argparse refuses: one line on stderr and exit status 2, as any input error."""


class Parser(argparse.ArgumentParser):
    """argparse, except that a usage error is one line (naming the verb's --help), not a
    usage block and a second line."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


class Checked:
    """An argparse type from a core/values check (the check then names no argument: argparse
    does). `check` and `options` stay readable: the fuzzing tests draw values from them."""

    def __init__(self, check, **options):
        self.check, self.options = check, options
        self.__name__ = check.__name__          # argparse names the type in some messages

    def __call__(self, value: str):
        try:
            return self.check(value, None, **self.options)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None


def name_value(value: str, name: str | None = None) -> tuple[str, str]:
    """'NAME=VALUE' -> (NAME, VALUE), both non-blank valid text."""
    key, sep, rest = value.partition("=")
    if not sep or not key.strip():
        raise values.named(name, f"{value!r}: NAME=VALUE was expected")
    return key.strip(), values.text(rest, key.strip())


def host_name(value: str, name: str | None = None) -> str:
    """A host to serve on: an IP address or a DNS name (letters, digits, '.', '-', ':')."""
    value = values.text(value, name).strip()
    if len(value) > 253 or not re.fullmatch(r"[A-Za-z0-9.:%-]+", value):
        raise values.named(name, f"{value[:60]!r} is not a host name or IP address")
    return value


def ranged(low: float | None = None, high: float | None = None, integer: bool = False):
    return Checked(number, low=low, high=high, integer=integer)


positive_int = ranged(1, MAX_COUNT, integer=True)      # counts and sizes: 0 or less is a usage error
learning_rate = ranged(1e-12, 10.0)
seconds = ranged(1e-3, 1e9)
megabytes = ranged(1e-3, 1e9)
seed_int = Checked(seed)
text_arg = Checked(text)                          # non-blank, valid Unicode, no NUL
host = Checked(host_name)
path_arg = Checked(values.path)                   # a file, folder or model name: non-blank, no NUL
port = ranged(1, 65535, integer=True)
pair = Checked(name_value)                       # repeatable NAME=VALUE flags: a list of (NAME, VALUE)
guidance = ranged(*GUIDANCE)
noise_snr = ranged(*NOISE_SNR_DB)
jpeg_quality = ranged(*JPEG_QUALITY, integer=True)


def add_batch_job_args(p: argparse.ArgumentParser) -> None:
    """Options of a verb run as a batch job (`--out FILE.parquet`)."""
    p.add_argument("--chunk-size", type=positive_int, default=256,
                   help="with --out FILE.parquet: items per written part (what a kill can lose)")
    p.add_argument("--ray", action="store_true", help="with --out FILE.parquet: run the chunks on Ray Data workers")
    p.add_argument("--ray-address", type=text_arg, help="the Ray cluster to join (e.g. auto); default: start a local one")
    p.add_argument("--ray-workers", type=positive_int, default=2, help="Ray workers, each holding the model")


def add_backend_args(p: argparse.ArgumentParser) -> None:
    """How a verb's model runs (inference.backend.Backend)."""
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32; bf16 or fp16 mixed precision (autocast); int8: linear layers dynamically quantized; "
                        "int8-bf16 (AVX-512): int8 products, bf16 between them")
    p.add_argument("--runtime", choices=RUNTIMES, default="torch",
                   help="onnx: the encoders of a folder `polymodal export` wrote run in ONNX Runtime")


def add_data_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--data", type=path_arg, required=required, help="shapes:<preset>:<split> or a manifest (.jsonl/.csv)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the generated world (shapes: data only)")
    p.add_argument("--n", type=positive_int, default=1000, help="number of generated scenes (shapes: data only)")
    p.add_argument("--column", type=text_arg, action="append", metavar="NAME=COLUMN",
                   help="read manifest column COLUMN as NAME (e.g. question=q_text); repeatable")
    p.add_argument("--on-bad-rows", choices=("fail", "skip"), default="fail",
                   help="stop at the first bad manifest row, or skip and list them (default: fail)")


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=seed_int, default=0, help="the noise of image i is drawn from seed + i")
    p.add_argument("--steps", type=ranged(1, 1000, integer=True), default=25, help="denoising steps")
    p.add_argument("--guidance", type=guidance, default=DRAW_GUIDANCE,
                   help="classifier-free guidance scale (1 = none)")
    p.add_argument("--scheduler", choices=("ddim", "dpm", "ddpm"), default="ddim")
