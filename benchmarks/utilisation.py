"""How much of the machine a model's run uses: the FLOPs of a call, counted by torch, and the
machine's measured matmul peak to set them against, in the same process and thread count.

    peak = matmul_peak(torch.bfloat16)                  # GFLOP/s of large square matmuls
    flops = count_flops(lambda: model(x))               # FLOPs of one call
    share = flops / seconds / 1e9 / peak
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula

from polymodal.hf.packed_linear import PackedLinear, packing_available

WARM_UP = 2                 # matmuls before timing: first-call allocation and kernel selection


@register_flop_formula(torch.ops.mkldnn._linear_pointwise)
def packed_linear_flops(input_shape, weight_shape, *args, **kwargs) -> int:
    """A packed linear layer's product (polymodal's hf/packed_linear.py), which FlopCounterMode
    does not know: 2 x rows x in x out, as it counts a linear layer's. (For the op's .binary
    overload, whose second argument is not the weight, this would be wrong; polymodal does
    not call it.)"""
    return 2 * math.prod(input_shape[:-1]) * weight_shape[0] * weight_shape[1]


def matmul_peaks(dtype: torch.dtype, seconds: float = 3.0, size: int = 2048) -> dict[str, float]:
    """GFLOP/s of a size x size product in `dtype` on the CPU, with torch's current thread
    count, by each of the two kernels polymodal's layers run on: torch.matmul ("torch": MKL in
    fp32, oneDNN in bf16) and oneDNN's linear primitive on a packed weight ("packed":
    hf/packed_linear.py; where this CPU's oneDNN multiplies the dtype). On an AMD CPU MKL runs
    its AVX2 kernels, so the packed product is the faster fp32 one there; a share of the lower
    of the two could pass 100%."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    out = torch.empty(size, size, dtype=dtype)
    products = {"torch": lambda: torch.matmul(a, b, out=out)}
    if packing_available(dtype):
        packed = PackedLinear(b.t(), None)                  # x @ b as a linear layer of weight b^T
        products["packed"] = lambda: packed(a)
    return {name: rate(product, size, seconds) for name, product in products.items()}


def matmul_peak(dtype: torch.dtype, seconds: float = 3.0, size: int = 2048) -> float:
    """The machine's matmul peak in `dtype`: the faster of matmul_peaks' kernels."""
    return max(matmul_peaks(dtype, seconds, size).values())


def rate(product: Callable[[], object], size: int, seconds: float) -> float:
    for _ in range(WARM_UP):
        product()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        product()
        calls += 1
    return 2 * size ** 3 * calls / elapsed / 1e9


def count_flops(fn: Callable[[], object]) -> int:
    """The FLOPs of one call of fn, as torch's FlopCounterMode counts them: matmuls (packed
    ones too), convolutions and attention (elementwise work and quantized kernels are not
    counted)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()
