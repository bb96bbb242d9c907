"""Linear layers with their weights laid out once in oneDNN's blocked format on a CPU: for
decoding, and for encoders (HFAdapter.encoder_linears; CLIP's image tower in
hf/native_clip.py, where an activation is also fused into a product: ACTIVATIONS).

A decoding step multiplies one row per sequence (a batch of 8: an [8, 768] x [768, 3072]
product) by each weight. torch's CPU linear is handed the weight in its plain row-major
layout, and the matrix kernels copy it into the blocked layout they compute from on every
call; with eight rows that copy is a large share of the call (cache-warm, ad hoc: that bf16
product 180 -> 98 us packed). `PackedLinear` lays the weight out once, when the pipeline is
built (torch.ops.mkldnn._reorder_linear_weight, the layout torch's own compiler prepares for
frozen CPU models), and multiplies with oneDNN's linear primitive.

Against the same adapter unpacked (benchmarks/engineering_ablations.py, batch 8, 2 Xeon
cores): BLIP-base captioning fp32 1.08x, bf16 1.06x; Whisper-base recognition fp32 1.08x, bf16
1.04x, the same captions and transcripts. bf16 products equal torch's linear's bit for bit;
fp32 ones differ in the last bits (the sums are taken in another order).

On an AMD CPU with AVX-512 the packed product matters more: torch's fp32 linear is MKL's,
which there runs its AVX2 kernels, while oneDNN's runs AVX-512 (2 AMD EPYC cores: a [4616,
3072] x [3072, 768] product 199 -> 451 GFLOP/s, a decoding step's [8, 768] x [768, 3072] one
75 -> 250; max relative error 9.3e-7 against float64, MKL's 3.8e-7). So encoders are packed in
fp32 too. On a CPU with AVX2 only, bf16 layers are not packed (onednn_multiplies).

Inference only: a packed layer has no gradient, and its weight is no parameter (reading
`.weight` unpacks a copy), so a model is packed after it is in its final dtype and device and
is not trained or saved afterwards. Which layers to pack, the adapter says
(`HFAdapter.pack_for_cpu`; by default `per_token_linears`, those a decoding step calls through
their forward)."""
from __future__ import annotations

import torch
from torch import nn

# the rows the layout is prepared for (a hint; any number of rows is multiplied correctly)
ROWS_HINT = 8


def packing_available(dtype: torch.dtype = torch.float32) -> bool:
    """Whether oneDNN can lay out and multiply weights of this dtype here: torch built with it,
    and this CPU's oneDNN multiplying the dtype (onednn_multiplies)."""
    return torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled and onednn_multiplies(dtype)


def onednn_multiplies(dtype: torch.dtype) -> bool:
    """Whether this CPU has the instructions torch's oneDNN products need for the dtype: for
    bf16 or fp16 AVX-512 BW, VL and DQ, or AVX-NE-CONVERT. On a CPU with AVX2 only (an AMD EPYC
    of the Zen 3 generation, many laptops) torch refuses such a product with an error, so the
    layers stay torch's own, which computes bf16 there without oneDNN."""
    if dtype == torch.bfloat16:
        return torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if dtype == torch.float16:
        return torch.ops.mkldnn._is_mkldnn_fp16_supported()
    return True


def wide_products_pay(dtype: torch.dtype) -> bool:
    """Whether packing pays for an encoder's layers, products of many rows (all of an input's
    tokens), in this dtype. In bf16 wherever oneDNN multiplies it. In fp32 where this CPU has
    AVX-512: oneDNN uses it, while torch's fp32 product is MKL's, which on an AMD CPU runs
    AVX2. Where both run AVX2, MKL's is the faster (fp32, batch 8, benchmarks/
    engineering_ablations.py; BLIP's vision tower, Whisper's encoder, CLIP's image tower packed
    against not): AMD EPYC with AVX-512 1.70x, 1.41x, 2.13x; Xeon 1.00x-1.05x; AMD EPYC with
    AVX2 only (Zen 3) 0.86x, 0.98x, 0.78x. A decoding step's few rows gain on every CPU measured
    (the blocked layout is not redone at each call: Zen 3 1.08x and 1.06x)."""
    if dtype == torch.float32:
        return packing_available(dtype) and torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    return packing_available(dtype)


# the products' fused activations: oneDNN post-ops, applied to each output as it is written
# (no second pass over the activations). swish is silu, x * sigmoid(x), with no scale.
ACTIVATIONS = {"none": ([], ""), "swish": ([], ""), "gelu": ([], "none")}   # -> (scalars, algorithm)


class PackedLinear(nn.Module):
    """A linear layer's computation with its weight held in oneDNN's blocked layout, and
    optionally an activation applied by the product itself (ACTIVATIONS)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, activation: str = "none"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        weight = weight.detach()
        self.out_features, self.in_features = weight.shape
        self.activation = activation
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), ROWS_HINT)
        self.bias_values = None if bias is None else bias.detach().to(weight.dtype).contiguous()

    @classmethod
    def of(cls, linear: nn.Linear) -> "PackedLinear":
        return cls(linear.weight, linear.bias)

    @property
    def dtype(self) -> torch.dtype:
        return self.packed.dtype

    @property
    def weight(self) -> torch.Tensor:
        """The weight in the plain layout (a copy), for code that reads it."""
        return self.packed.to_dense()

    @property
    def bias(self) -> torch.Tensor | None:
        return self.bias_values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # under bf16 autocast torch's linear casts its input to bf16; the packed weight is already
        if x.dtype != self.packed.dtype:
            x = x.to(self.packed.dtype)
        scalars, algorithm = ACTIVATIONS[self.activation]
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias_values, self.activation, scalars, algorithm)

    def extra_repr(self) -> str:
        fused = "" if self.activation == "none" else f", {self.activation} fused"
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype={self.dtype}, packed{fused}"


def pack_linears(model: nn.Module, linears: list[nn.Linear]) -> int:
    """Replace each of `linears` (modules of `model`) by its PackedLinear, in place, where the
    CPU build of torch has oneDNN and this CPU multiplies the layer's dtype with it
    (packing_available); -> how many were replaced."""
    wanted = {id(layer) for layer in linears}
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if (type(child) is nn.Linear and id(child) in wanted and child.weight.device.type == "cpu"
                    and packing_available(child.weight.dtype)):
                setattr(parent, name, PackedLinear.of(child))
                replaced += 1
    return replaced
