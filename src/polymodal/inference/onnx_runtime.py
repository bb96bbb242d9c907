"""Running a model's encoders with ONNX Runtime: `pm.load(task, DIR, runtime="onnx")` for a
folder `polymodal export` wrote (inference/onnx_export.py). Each exported encoder is replaced
by an OnnxEncoder, which has the PyTorch encoder's modality, size, config and processor and
gives the same Embedding; the rest of the model runs in PyTorch as before. A Hugging Face
model's exported parts (HFAdapter.onnx_parts) are handed to its adapter (run_part)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..core import files
from ..core.errors import InputError
from ..encoders.base import Embedding, Encoder
from ..hf.base import HFAdapter
from .onnx_export import ONNX_FOLDER, PARTS, encoders_of


class OnnxGraph:
    """One exported graph in an ONNX Runtime session on torch's thread count: called on
    tensors, in the order of its input names; -> its outputs as tensors."""

    def __init__(self, graph: Path, inputs: list[str]):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.inputs = inputs

    def __call__(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        outputs = self.session.run(None, {n: t.cpu().numpy() for n, t in zip(self.inputs, tensors)})
        return [torch.from_numpy(o) for o in outputs]


class GraphPart:
    """An adapter's part (HFAdapter.run_part) computed by its graph: one tensor out."""

    def __init__(self, graph: OnnxGraph):
        self.graph = graph

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.graph(*tensors)[0]


class OnnxEncoder(Encoder):
    def __init__(self, encoder: Encoder, graph: Path, inputs: list[str], keys: list[str] | None):
        super().__init__()
        self.modality, self.dim, self.config = encoder.modality, encoder.dim, encoder.config
        self.processor, self.side = encoder.processor, encoder.side
        self.keys = keys
        self.graph = OnnxGraph(graph, inputs)

    def forward(self, inputs) -> Embedding:
        tensors = [inputs] if self.keys is None else [inputs[k] for k in self.keys]
        return Embedding(*self.graph(*tensors))


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
    if isinstance(model, HFAdapter):
        for part_name, part in parts.items():
            model.run_part(part_name, GraphPart(OnnxGraph(folder / ONNX_FOLDER / part["file"], part["inputs"])))
        return model.eval()
    encoders = encoders_of(model)
    for place, part in parts.items():
        if place not in encoders:
            raise InputError(f"{name}: its ONNX export lists {place}, which the model does not have")
        replace(model, place, OnnxEncoder(encoders[place], folder / ONNX_FOLDER / part["file"], part["inputs"],
                                          part["keys"]))
    return model.eval()
