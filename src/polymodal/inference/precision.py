"""A task's pipeline over a loaded model, on a device and at a precision: what `pm.load`
(pipelines.py) and the loaders that choose the task from the model (video.py) share."""
from __future__ import annotations

import torch

from ..core.errors import InputError
from ..hf.base import HFAdapter
from .fast_path import FastPath, OnFastPath
from .quantize import int8_linears
from .registry import PIPELINES

PRECISIONS = ("fp32", "bf16", "fp16", "int8")


def check_precision(device: str, precision: str) -> None:
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8":
        if device != "cpu":
            raise InputError(f"precision int8 runs on a CPU, not on {device}")
    else:
        FastPath(device=device, dtype=precision)      # checks both


def on_device(task: str, loaded, name: str, device: str = "cpu", precision: str = "fp32", **options):
    """The task's pipeline over a loaded model, on the device and at the precision (checked
    by check_precision)."""
    if precision == "int8":
        return PIPELINES.build(task, int8_linears(loaded, name), **options)
    path = FastPath(device=device, dtype=precision)
    if device != "cpu" and isinstance(loaded, torch.nn.Module):
        loaded = loaded.to(device)
    if precision != "fp32" and isinstance(loaded, HFAdapter):
        loaded.hold_weights_in(path.torch_dtype)
    pipeline = PIPELINES.build(task, loaded, **options)
    return pipeline if precision == "fp32" else OnFastPath(pipeline, path)
