"""int8 on a CPU: dynamic quantization of a model's linear layers (`pm.load(...,
precision="int8")`). Their weights are held as int8 with one scale per layer; each call
quantizes the layer's input on the fly and multiplies in int8. Everything else (convolutions,
norms, attention's softmax, embeddings) stays fp32. On a CPU the linear layers are most of a
transformer's time, and int8 weights are a quarter of the memory traffic of fp32 ones."""
from __future__ import annotations

import warnings

import torch
from torch import nn

from ..core.errors import InputError
from ..hf.int8_linear import without_fused_encoder_kernel


def int8_linears(model: nn.Module, name: str) -> nn.Module:
    """The model with its nn.Linear layers dynamically quantized to int8, in place."""
    if not isinstance(model, nn.Module) or not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise InputError(f"{name}: precision int8 quantizes linear layers, and this model has none")
    with warnings.catch_warnings():          # the quantized-tensor API is marked deprecated in torch 2.13
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        model = torch.ao.quantization.quantize_dynamic(model.eval(), {nn.Linear}, dtype=torch.qint8, inplace=True)
    without_fused_encoder_kernel(model)
    return model
