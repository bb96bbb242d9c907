"""Where and how a pipeline's model runs (`Backend`: device, precision, runtime), and the
task's pipeline over a loaded model on that backend: what `pm.load` (pipelines.py), the video
embedder loader (video.py) and batch jobs (batch_parts.py) share."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from ..core.errors import InputError, SlowPathWarning
from ..core.memory import reuse_freed_memory
from ..hf.base import HFAdapter
from ..hf.int8_linear import int8_product_layers, int8_products_available
from ..hf.packed_linear import onednn_multiplies
from ..loading import resolve
from .fast_path import FastPath, OnFastPath
from .onnx_runtime import with_onnx_encoders
from .quantize import int8_linears
from .registry import PIPELINES

PRECISIONS = ("fp32", "bf16", "fp16", "int8", "int8-bf16")
RUNTIMES = ("torch", "onnx")


@dataclass(frozen=True)
class Backend:
    """device: "cpu", "cuda", "cuda:1", ...; precision: "fp32", "bf16" / "fp16" (autocast),
    "int8" (a CPU: linear layers dynamically quantized, fp32 between them) or "int8-bf16" (a
    CPU with bf16 products: the large products in int8 through oneDNN, bf16 between them);
    runtime: "torch", or "onnx" (a CPU, fp32: the encoders of a folder `polymodal export`
    wrote run in ONNX Runtime)."""
    device: str = "cpu"
    precision: str = "fp32"
    runtime: str = "torch"

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.runtime not in RUNTIMES:
            raise InputError(f"runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        if self.runtime == "onnx" and (self.device != "cpu" or self.precision != "fp32"):
            raise InputError(f"runtime onnx runs fp32 on a CPU, not {self.precision} on {self.device}")
        if self.precision.startswith("int8"):
            if self.device != "cpu":
                raise InputError(f"precision {self.precision} runs on a CPU, not on {self.device}")
        else:
            FastPath(device=self.device, dtype=self.precision)      # checks the device


def on_backend(task: str, loaded, name: str, backend: Backend, **options):
    """The task's pipeline over a model loaded from `name` (a shipped name, `hf:<id>` or a
    folder), run on the backend."""
    if backend.device == "cpu":
        reuse_freed_memory()
    if backend.runtime == "onnx":
        return PIPELINES.build(task, with_onnx_encoders(loaded, resolve(name), name), **options)
    if backend.precision == "int8":
        loaded = int8_linears(loaded, name)
        if isinstance(loaded, HFAdapter):
            loaded.pack_for_cpu()       # what int8 leaves in fp32 and packing covers (CLIP's patch projection)
        return PIPELINES.build(task, loaded, **options)
    if backend.precision == "int8-bf16":
        return int8_between_bf16(task, loaded, name, **options)
    path = FastPath(device=backend.device, dtype=backend.precision)
    if backend.device == "cpu" and not onednn_multiplies(path.torch_dtype):
        warnings.warn(f"precision {backend.precision} on this CPU (no AVX-512): torch has no fast {backend.precision} "
                      "product here (oneDNN's needs AVX-512; a BLIP-sized bf16 product ran 7x slower than fp32 on a "
                      "Zen 3 EPYC); fp32 or int8 run faster", SlowPathWarning, stacklevel=3)
    if backend.device != "cpu" and isinstance(loaded, torch.nn.Module):
        loaded = loaded.to(backend.device)
    if backend.precision != "fp32" and isinstance(loaded, HFAdapter):
        loaded.hold_weights_in(path.torch_dtype)
    if backend.device == "cpu" and isinstance(loaded, HFAdapter):
        loaded.pack_for_cpu()                                       # after the dtype is final
    pipeline = PIPELINES.build(task, loaded, **options)
    return pipeline if backend.precision == "fp32" else OnFastPath(pipeline, path)


def int8_between_bf16(task: str, loaded, name: str, **options):
    """precision int8-bf16 on a CPU: the model with int8 products (int8_products_in), each call
    under bf16 autocast, as precision bf16 runs it."""
    path = FastPath(device="cpu", dtype="bf16")
    return OnFastPath(PIPELINES.build(task, int8_products_in(loaded, name), **options), path)


def int8_products_in(loaded, name: str):
    """The model with the layers whose products dominate (an adapter's: HFAdapter.int8_products;
    every linear layer of polymodal's own models) as oneDNN int8 products (hf/int8_linear.py),
    quantized from the fp32 weights, and a Hugging Face model's other weights held in bf16
    (packed where that pays), as precision bf16 holds them."""
    linears = [m for m in loaded.modules() if type(m) is torch.nn.Linear] if isinstance(loaded, torch.nn.Module) else []
    if not linears:
        raise InputError(f"{name}: precision int8-bf16 quantizes linear layers, and this model has none")
    if not int8_products_available():
        raise InputError("precision int8-bf16 needs a CPU whose oneDNN multiplies bf16 (AVX-512 or AVX-NE-CONVERT); "
                         "this one has neither: use int8 or fp32")
    if isinstance(loaded, HFAdapter):
        loaded.int8_products()
        loaded.hold_weights_in(torch.bfloat16)
        loaded.pack_for_cpu()                   # what is left in bf16 and packing covers
    else:
        int8_product_layers(loaded, linears)
    return loaded
