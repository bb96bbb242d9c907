"""Linear layers whose products run in int8 through oneDNN, for `pm.load(...,
precision="int8-bf16")`: int8 products with bf16 between them.

- Weights: quantized once, per output channel, symmetric (int8 in [-127, 127], one scale a row).
- Inputs: each call quantizes its input to uint8 over the input's own range (one scale and
  zero point per call, asymmetric: torch's dynamic quantization does the same per tensor).
- Product: oneDNN's u8 x s8 linear accumulates in int32 and writes its output rescaled, in the
  input's dtype.

Why beside precision="int8" (torch's dynamic quantization, inference/quantize.py): fbgemm's
int8 layers take and return fp32, so everything between the products (attention, norms,
activations) runs in fp32; BLIP captioning in int8 was slower than in bf16 on an AMD EPYC
with AVX-512. oneDNN's int8 product takes its input as uint8 and writes bf16, so the rest of
the model runs in bf16 as precision="bf16" runs it. On 2 cores of an AMD EPYC (Zen 5:
AVX-512 with VNNI and BF16), ad hoc, the same products: [4616, 768] x [768, 2304] 2009 GFLOP/s
against bf16's 1027 (packed, hf/packed_linear.py), [4616, 3072] x [3072, 768] 2020 against
1006; a decoding step's [8, 768] x [768, 3072] 778 against 562.

Quantizing an input costs a pass over it in fp32. It runs a block of rows at a time
(BLOCK_BYTES): a whole [4616, 3072] bf16 input converted at once is a 56 MB fp32 tensor,
above glibc's largest mmap threshold, so its pages were faulted in anew on every call (15 ms
for the conversion alone, against 3.5-4.4 ms for blocks of 1-4 MB, the same values).

Inference only, as a packed layer: no gradient, no `.weight` parameter, not saved."""
from __future__ import annotations

import math

import torch
from torch import nn

from .packed_linear import ACTIVATIONS, onednn_multiplies

BLOCK_BYTES = 4 * 2 ** 20      # an input is converted to fp32 and quantized this many bytes at a time
WEIGHT_LEVELS = 127            # symmetric int8 weights: [-127, 127]
INPUT_LEVELS = 255             # uint8 inputs: [0, 255]


def int8_products_available() -> bool:
    """Whether this CPU runs precision int8-bf16: torch built with oneDNN, and oneDNN
    multiplying bf16 here (AVX-512 BW/VL/DQ or AVX-NE-CONVERT), for the work between the
    int8 products."""
    return torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled and onednn_multiplies(torch.bfloat16)


class Int8Linear(nn.Module):
    """A linear layer's computation as oneDNN's int8 product (above), optionally with an
    activation applied by the product itself (packed_linear.ACTIVATIONS)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, activation: str = "none"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        weight = weight.detach().float()
        self.out_features, self.in_features = weight.shape
        scales = weight.abs().amax(1).clamp_min(torch.finfo(torch.float32).tiny) / WEIGHT_LEVELS
        levels = torch.round(weight / scales[:, None]).clamp_(-WEIGHT_LEVELS, WEIGHT_LEVELS).to(torch.int8)
        # plain attributes, not buffers: a model's .to(dtype) leaves them as they are
        self.packed = torch.ops.onednn.qlinear_prepack(levels, None)
        self.weight_scales = scales.contiguous()
        self.weight_zero_points = torch.zeros(len(scales), dtype=torch.long)
        self.bias_values = None if bias is None else bias.detach().float().contiguous()

    @classmethod
    def of(cls, linear: nn.Module) -> "Int8Linear":
        """From an nn.Linear or a PackedLinear (whose .weight unpacks a copy)."""
        return cls(linear.weight, linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        levels, scale, zero = quantized(rows)
        scalars, algorithm = ACTIVATIONS[self.activation]
        out = torch.ops.onednn.qlinear_pointwise(levels, scale, zero, self.packed, self.weight_scales,
                                                 self.weight_zero_points, self.bias_values, 1.0, 0, x.dtype,
                                                 self.activation, scalars, algorithm)
        return out.view(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        fused = "" if self.activation == "none" else f", {self.activation} fused"
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 products{fused}"


def quantized(rows: torch.Tensor) -> tuple[torch.Tensor, float, int]:
    """rows [M, K] (fp32 or bf16) -> (uint8 levels [M, K], scale, zero point), with
    rows ~ scale * (levels - zero point) over the range of the rows, zero included (so 0 is
    exact, as padding and ReLU outputs are)."""
    low, high = (float(v) for v in torch.aminmax(rows))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("an int8 product's input holds a value that is not finite (an overflow before it)")
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:                          # all zeros: any scale represents them exactly
        return torch.zeros(rows.shape, dtype=torch.uint8), 1.0, 0
    scale = (high - low) / INPUT_LEVELS
    zero = min(INPUT_LEVELS, max(0, round(-low / scale)))
    levels = torch.empty(rows.shape, dtype=torch.uint8)
    step = max(1, BLOCK_BYTES // (4 * rows.shape[1]))
    for start in range(0, len(rows), step):
        block = rows[start:start + step].to(torch.float32, copy=True)      # a copy: the input is left as it is
        block.mul_(1 / scale).round_().add_(zero).clamp_(0, INPUT_LEVELS)
        levels[start:start + step] = block
    return levels, scale, zero


def int8_product_layers(model: nn.Module, linears: list[nn.Module]) -> int:
    """Replace each of `linears` (nn.Linear or PackedLinear modules of `model`) by its
    Int8Linear, in place; -> how many were replaced."""
    wanted = {id(layer) for layer in linears}
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if id(child) in wanted:
                setattr(parent, name, Int8Linear.of(child))
                replaced += 1
    without_fused_encoder_kernel(model)
    return replaced


def without_fused_encoder_kernel(model: nn.Module) -> None:
    """torch's fused encoder-layer kernel (nn.TransformerEncoderLayer in inference) reads the
    linear layers' weights as tensors, which int8 layers (these, or torch's dynamically
    quantized ones) do not hold: it is not tried. The flag cleared only decides that."""
    for layer in model.modules():
        if isinstance(layer, nn.TransformerEncoderLayer):
            layer.activation_relu_or_gelu = 0
