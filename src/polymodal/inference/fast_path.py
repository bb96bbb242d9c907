"""The GPU fast path for inference: bf16 weights, SDPA attention, optional torch.compile and
a static KV cache for generation, applied to any torch model (polymodal's own or a Hugging
Face one) by `prepare`. On a CPU the defaults leave a model as it is.

    path = FastPath(device="cuda", dtype="bf16", compile=True, static_cache=True)
    model = prepare(model, path)
    model.generate(..., **path.generate_options())

Why each part: bf16 halves memory traffic and uses the tensor cores; SDPA picks a fused
(flash / memory-efficient) attention kernel; compile fuses the remaining elementwise work;
a static KV cache gives generation fixed shapes, so the compiled decoder step is reused
for every token instead of recompiling as the cache grows.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import torch

from ..core.errors import InputError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class FastPath:
    device: str = "cpu"
    dtype: str = "fp32"             # fp32 | bf16 | fp16 (weights and inputs)
    attention: str = "sdpa"         # sdpa | eager (Hugging Face models choose at construction)
    compile: bool = False
    static_cache: bool = False      # generation only

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.attention not in ("sdpa", "eager"):
            raise InputError(f"attention must be sdpa or eager, got {self.attention!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"device {self.device}: no CUDA device on this machine")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    def autocast(self):
        """Mixed precision for one call: matmuls in the path's dtype, norms and softmax in fp32
        (fp32 weights are cast at each call; `pm.load` also holds Hugging Face weights in the
        path's dtype). On a CPU with native bf16 (AVX512-BF16, AMX) this is the speed-up."""
        if self.dtype == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.split(":")[0], dtype=self.torch_dtype)

    def generate_options(self) -> dict:
        """Keyword arguments for a Hugging Face `generate` call on this path."""
        return {"cache_implementation": "static"} if self.static_cache else {}


def prepare(model: torch.nn.Module, path: FastPath) -> torch.nn.Module:
    """The model on the path's device and dtype, in eval mode, compiled if asked.

    With a static cache, only the forward pass is compiled (generate's Python loop stays
    eager and calls it once per token with fixed shapes)."""
    model = model.eval().to(device=path.device, dtype=path.torch_dtype)
    if path.compile:
        if path.static_cache and hasattr(model, "generate"):
            model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=False)
        else:
            model = torch.compile(model, mode="max-autotune-no-cudagraphs")
    return model


class OnFastPath:
    """A task pipeline whose every call runs on a fast path's device and precision, as
    `pm.load(task, device=..., precision=...)` returns it. Attributes read and set pass
    through to the pipeline."""

    def __init__(self, pipeline, path: FastPath):
        object.__setattr__(self, "pipeline", pipeline)
        object.__setattr__(self, "path", path)

    def __call__(self, *args, **kwargs):
        with self.path.autocast():
            return self.pipeline(*args, **kwargs)

    def __getattr__(self, name):
        attr = getattr(self.pipeline, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def on_path(*args, **kwargs):
            with self.path.autocast():
                return attr(*args, **kwargs)
        return on_path

    def __setattr__(self, name, value):
        setattr(self.pipeline, name, value)
