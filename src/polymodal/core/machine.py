"""The machine a figure was measured on, as benchmark tables and result files state it."""
from __future__ import annotations

import platform

import torch


def describe_machine() -> str:
    """e.g. "x86_64, 2 threads, CPU" or "x86_64, 16 threads, NVIDIA H200"."""
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {device}"
