"""Freed memory kept for the next tensor instead of handed back to the kernel.

glibc's malloc serves a block above its mmap threshold (128 KB at first, rising to the size of
the largest such block freed so far) with fresh pages from the kernel, and unmaps them when
the block is freed; a heap whose free top exceeds the trim threshold is shrunk the same way.
A model's forward allocates activations of a few MB, layer after layer, so each is faulted in
page by page again: a BLIP-base vision tower on eight 384-pixel images in fp32 took 456,821
minor page faults and 2.69 s a call on 2 cores; with the threshold at its maximum (32 MB), the
heap kept, and its MLP run a few images at a time (hf/fast_layers.py), none and 2.35 s; in
bf16, 115,721 and 0.60 s against none and 0.49 s (benchmarks/page_faults.py).

`reuse_freed_memory()` sets both thresholds once per process, on Linux with glibc (elsewhere,
or with POLYMODAL_SYSTEM_MALLOC=1 in the environment, it does nothing). The cost: memory
freed at the top of the heap, up to TRIM_BYTES, stays with the process for its next use."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3       # mallopt's parameter numbers (malloc.h)
MMAP_BYTES = 32 * 2 ** 20                          # glibc's largest mmap threshold on 64-bit
TRIM_BYTES = 256 * 2 ** 20

_done = False


def reuse_freed_memory() -> bool:
    """-> whether the thresholds are (now) set."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("POLYMODAL_SYSTEM_MALLOC") == "1":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):      # not glibc (musl has no mallopt)
        return False
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
    return _done
