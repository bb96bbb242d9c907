"""Running a model's encoders with ONNX Runtime: `pm.load(task, DIR, runtime="onnx")` for a
folder `polymodal export` wrote (inference/onnx_export.py). Each exported encoder is replaced
by an OnnxEncoder, which has the PyTorch encoder's modality, size, config and processor and
gives the same Embedding; the rest of the model runs in PyTorch as before."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..core import files
from ..core.errors import InputError
from ..encoders.base import Embedding, Encoder
from .onnx_export import ONNX_FOLDER, PARTS, encoders_of


class OnnxEncoder(Encoder):
    def __init__(self, encoder: Encoder, graph: Path, inputs: list[str], keys: list[str] | None):
        import onnxruntime as ort
        super().__init__()
        self.modality, self.dim, self.config = encoder.modality, encoder.dim, encoder.config
        self.processor, self.side = encoder.processor, encoder.side
        self.inputs, self.keys = inputs, keys
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def forward(self, inputs) -> Embedding:
        tensors = [inputs] if self.keys is None else [inputs[k] for k in self.keys]
        tokens, mask, pooled = self.session.run(None, {n: t.cpu().numpy() for n, t in zip(self.inputs, tensors)})
        return Embedding(torch.from_numpy(tokens), torch.from_numpy(mask), torch.from_numpy(pooled))


def replace(model: nn.Module, place: str, new: nn.Module) -> None:
    parent_path, _, name = place.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    if isinstance(parent, nn.ModuleDict):
        parent[name] = new
    else:
        setattr(parent, name, new)


def with_onnx_encoders(model: nn.Module, folder: Path, name: str) -> nn.Module:
    """The model with each encoder that `folder`'s onnx/parts.json lists run by ONNX Runtime."""
    listing = folder / ONNX_FOLDER / PARTS
    if not listing.is_file():
        raise InputError(f"{name}: no ONNX export in it; write one with `polymodal export {name} --format onnx "
                         f"--out DIR` and load DIR")
    parts = files.load_json(listing)["parts"]
    encoders = encoders_of(model)
    for place, part in parts.items():
        if place not in encoders:
            raise InputError(f"{name}: its ONNX export lists {place}, which the model does not have")
        replace(model, place, OnnxEncoder(encoders[place], folder / ONNX_FOLDER / part["file"], part["inputs"],
                                          part["keys"]))
    return model.eval()
