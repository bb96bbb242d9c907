"""Exporting a model's encoders to ONNX (`polymodal export MODEL --format onnx --out DIR`), to
be run by ONNX Runtime (`pm.load(task, DIR, runtime="onnx")`, inference/onnx_runtime.py).

What is exported: each encoder of the model (its image, text, audio or video tower: the
top-most encoders.base.Encoder modules), as one graph from the tensors its processor makes to
the Embedding's tokens, mask and pooled vector. The rest (fusion, heads, decoders, search over
outputs) stays in PyTorch. For a Hugging Face model, the parts its adapter names
(HFAdapter.onnx_parts: CLIP's image and text features), each from its sample inputs. Which
input dimensions vary (the batch; a text's length; an utterance's frames) is found by running
the processor on two sample batches of different sizes: the dimensions that differ are
exported as dynamic, and the second batch checks the graph against PyTorch before the folder
is written.

DIR holds the model's own files too, so it still loads as the model; `onnx/parts.json` names
each exported encoder's place in the model, its file and its input names."""
from __future__ import annotations

import contextlib
import io
import logging
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core import files
from ..core.errors import InputError
from ..encoders.base import Encoder
from ..hf.base import HFAdapter, OnnxPart
from ..loading import load_model, resolve
from ..models.base import Pretrained
from ..processors.audio import AudioProcessor
from ..processors.image import ImageProcessor
from ..processors.text import WordTokenizer
from ..processors.video import VideoProcessor

ONNX_FOLDER, PARTS = "onnx", "parts.json"
TOLERANCE = 1e-3                    # largest |ONNX - PyTorch| accepted on the check batch
OUTPUTS = ("tokens", "mask", "pooled")


class OneInput(nn.Module):
    """An encoder that takes one tensor (images, clips), giving the Embedding as a tuple."""

    def __init__(self, encoder: Encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x0):
        e = self.encoder(x0)
        return e.tokens, e.mask, e.pooled


class TwoInputs(nn.Module):
    """An encoder that takes a dict of two tensors (ids and mask; features and mask)."""

    def __init__(self, encoder: Encoder, keys: list[str]):
        super().__init__()
        self.encoder, self.keys = encoder, keys

    def forward(self, x0, x1):
        e = self.encoder(dict(zip(self.keys, (x0, x1))))
        return e.tokens, e.mask, e.pooled


def encoders_of(model: nn.Module) -> dict[str, Encoder]:
    """{place in the model (e.g. "encoders.image"): encoder} of what ONNX export runs: each
    top-most encoder's exported_part (itself, or the encoder it wraps, e.g.
    "encoders.audio.audio" in a speech reader), except those the model keeps in PyTorch."""
    top: dict[str, Encoder] = {}
    for path, module in model.named_modules():
        if isinstance(module, Encoder) and not any(path.startswith(p + ".") for p in top):
            top[path] = module
    kept = model.encoders_in_torch() if isinstance(model, Pretrained) else set()
    top = {path: encoder for path, encoder in top.items() if path not in kept}
    found: dict[str, Encoder] = {}
    for path, encoder in top.items():
        part = encoder.exported_part
        inner = next(name for name, m in encoder.named_modules() if m is part)
        found[f"{path}.{inner}" if inner else path] = part
    return found


def sample_batch(encoder: Encoder, k: int):
    """What the encoder's processor makes of a sample batch; k = 0 and 1 differ in every size
    that can vary (batch, text length, audio duration)."""
    p, rng, n = encoder.processor, np.random.default_rng(k), 2 + k
    if isinstance(p, ImageProcessor):
        return p([rng.integers(0, 256, (p.size, p.size, 3), dtype=np.uint8) for _ in range(n)])
    if isinstance(p, VideoProcessor):
        return p([rng.integers(0, 256, (p.frames, p.size, p.size, 3), dtype=np.uint8) for _ in range(n)])
    if isinstance(p, WordTokenizer):
        words = [w for w in p.vocab if not w.startswith("<")]
        return p([" ".join(words[i % len(words)] for i in range(3 + 3 * k + j)) for j in range(n)])
    if isinstance(p, AudioProcessor):
        rate = p.cfg.sample_rate
        return p([((0.1 * rng.standard_normal(int(rate * (0.5 + 0.4 * k + 0.1 * j)))).astype(np.float32), rate)
                  for j in range(n)])
    raise InputError(f"a {type(encoder).__name__} encoder: ONNX export covers polymodal's own encoders "
                     f"(cnn, vit, transformer, logmel, frames)")


@contextlib.contextmanager
def quiet():
    """The exporter reports each stage on stdout and warns through logging; a command's own
    output is one line a part."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def as_tensors(inputs) -> tuple[list[str] | None, list[torch.Tensor]]:
    if isinstance(inputs, torch.Tensor):
        return None, [inputs]
    keys = sorted(inputs)
    if len(keys) != 2:
        raise InputError(f"an encoder input of {len(keys)} tensors ({', '.join(keys)}): ONNX export takes one or two")
    return keys, [inputs[k] for k in keys]


def export_checked(module: nn.Module, first: list[torch.Tensor], second: list[torch.Tensor], path: Path,
                   outputs: list[str], what: str) -> tuple[list[str], float]:
    """Export `module` (called on tensors) to `path` from the sample `first`; the dimensions in
    which `second` differs are dynamic, and the graph is checked against PyTorch on `second`.
    -> the graph's input names and the largest difference found. what: the part, for errors."""
    import onnxruntime as ort
    dynamic = tuple({d: torch.export.Dim.DYNAMIC for d in range(a.dim()) if a.shape[d] != b.shape[d]}
                    for a, b in zip(first, second))          # by position: the module's own argument names vary
    names = [f"x{i}" for i in range(len(first))]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)    # torch's fused encoder-layer kernel has no ONNX form
    try:
        with torch.no_grad(), quiet():
            torch.onnx.export(module, tuple(first), str(path), dynamo=True, input_names=names,
                              output_names=outputs, dynamic_shapes=dynamic, verbose=False)
    except Exception as e:      # the exporter's many error types: one line naming the part
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()        # the exporter colours its messages
        reason = text.splitlines()[0][:200] if text else type(e).__name__
        raise InputError(f"{what}: the ONNX exporter failed ({reason})") from None
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    with torch.no_grad():
        expected = module(*second)
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {n: t.numpy() for n, t in zip(names, second)})
    worst = max(float(np.abs(g.astype(np.float32) - e.float().numpy()).max()) for g, e in zip(got, expected))
    if worst > TOLERANCE:
        raise InputError(f"the ONNX graph of {what} differs from PyTorch by {worst:.2g} (over {TOLERANCE}); "
                         f"not exported")
    return names, worst


def export_encoder(encoder: Encoder, path: Path) -> dict:
    """Export one encoder to `path`, check it on a second batch; -> its parts.json entry."""
    keys, first = as_tensors(sample_batch(encoder, 0))
    _, second = as_tensors(sample_batch(encoder, 1))
    wrapper = (OneInput(encoder) if keys is None else TwoInputs(encoder, keys)).eval()
    names, worst = export_checked(wrapper, first, second, path, list(OUTPUTS), f"a {type(encoder).__name__} encoder")
    return {"file": path.name, "inputs": names, "keys": keys, "encoder": type(encoder).__name__,
            "max_difference": worst}


def export_adapter_part(name: str, part: OnnxPart, path: Path) -> dict:
    """Export one part of a Hugging Face model (HFAdapter.onnx_parts); -> its parts.json entry."""
    names, worst = export_checked(part.module.eval(), list(part.first), list(part.second), path, ["out"],
                                  f"the {name} part")
    return {"file": path.name, "inputs": names, "encoder": type(part.module).__name__, "max_difference": worst}


def export_onnx(source: str, out: Path) -> dict:
    """The model's folder copied to `out`, with its encoders exported to out/onnx/."""
    if out.exists():
        raise InputError(f"{out}: exists already; remove it or choose another --out")
    folder = resolve(source)
    model = load_model(source).eval()
    if isinstance(model, HFAdapter):
        adapter_parts = model.onnx_parts()
        if not adapter_parts:
            raise InputError(f"{source}: polymodal exports no part of a {type(model.model).__name__} "
                             f"(nothing to export)")

        def export_all(folder: Path) -> dict:
            return {name: export_adapter_part(name, part, folder / f"{name}.onnx")
                    for name, part in adapter_parts.items()}
    else:
        encoders = encoders_of(model)
        if not encoders:
            raise InputError(f"{source}: a model without polymodal encoders (nothing to export)")

        def export_all(folder: Path) -> dict:
            return {place: export_encoder(enc, folder / f"{place}.onnx") for place, enc in encoders.items()}
    with files.atomic_directory(out) as tmp:
        shutil.copytree(folder, tmp, dirs_exist_ok=True)
        (tmp / ONNX_FOLDER).mkdir()
        parts = export_all(tmp / ONNX_FOLDER)
        files.save_json({"parts": parts, "torch": torch.__version__}, tmp / ONNX_FOLDER / PARTS)
    return parts
