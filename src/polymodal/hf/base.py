"""What every Hugging Face adapter shares: the wrapped model and processor, a small config
naming the task, image conversion, and saving back in Hugging Face layout."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.errors import InputError, ModelNotFoundError
from ..core.files import atomic_directory
from ..modalities import as_array
from .fast_layers import use_fast_layers
from .int8_linear import int8_product_layers
from .loading import load_pretrained, quiet
from .lora import apply_saved_adapter
from .packed_linear import pack_linears, wide_products_pay


@dataclass
class HFTaskConfig:
    task: str                     # which polymodal task the model serves
    source: str                   # the folder it was loaded from
    labels: list[str] = field(default_factory=list)      # VQA answers, in logit order
    prompt: str = "a photo of a {}."                      # zero-shot: CLIP's usual template


@dataclass
class OnnxPart:
    """A part of a model that ONNX export writes as one graph (inference/onnx_export.py): a
    module called on tensors, giving one tensor, and two sample inputs that differ in every
    dimension that may vary (the batch; a text's length)."""
    module: nn.Module
    first: tuple[torch.Tensor, ...]
    second: tuple[torch.Tensor, ...]


class Processor:
    """An input processor (images; audio features for Whisper) and a tokenizer, whether the
    folder has a combined processor (CLIP, BLIP, OWL-ViT, ViLT) or only the parts."""

    def __init__(self, image_processor=None, tokenizer=None, feature_extractor=None):
        self.image_processor, self.tokenizer, self.feature_extractor = image_processor, tokenizer, feature_extractor

    @classmethod
    def load(cls, directory: Path) -> "Processor":
        from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer
        try:
            combined = load_pretrained(AutoProcessor, directory, "processor")
        except ModelNotFoundError:      # no processor class: load the two parts below
            combined = None
        if combined is not None and hasattr(combined, "image_processor") and hasattr(combined, "tokenizer"):
            return cls(combined.image_processor, combined.tokenizer)
        return cls(load_pretrained(AutoImageProcessor, directory, "image processor"),
                   load_pretrained(AutoTokenizer, directory, "tokenizer"))

    def save_pretrained(self, directory: str) -> None:
        for part in (self.image_processor, self.tokenizer, self.feature_extractor):
            if part is not None:
                part.save_pretrained(directory)


def as_arrays(images) -> list[np.ndarray]:
    """modalities.Image values or uint8 arrays -> HxWx3 uint8 arrays."""
    return [as_array(im) for im in images]


def new_token_cap(model, default: int) -> int:
    """The model's own cap on new tokens when its generation config sets one (as pipelines
    read it), else `default`."""
    return getattr(getattr(model, "generation_config", None), "max_new_tokens", None) or default


def load_model_weights(auto_class, directory: Path):
    """The folder's model, with a LoRA adapter saved beside it (adapter/) merged in."""
    return apply_saved_adapter(load_pretrained(auto_class, directory, "model", weights=True), directory)


def padded_labels(tokens: dict) -> torch.Tensor:
    """Token ids as a loss's labels: padding is -100, which the loss leaves out."""
    return tokens["input_ids"].masked_fill(tokens["attention_mask"] == 0, -100)


class HFAdapter(nn.Module):
    """Base of the adapters. Subclasses set `task` and `auto_class()` and answer the calls
    polymodal's own model for that task answers."""

    task = ""
    trains = False          # True where training_loss is the model's own loss (polymodal can fine-tune it)

    def __init__(self, model, processor: Processor, directory: Path):
        super().__init__()
        self.model = model.float().eval()      # transformers 5 keeps a checkpoint's dtype
        use_fast_layers(self.model)
        self.processor = processor
        self.config = HFTaskConfig(self.task, str(directory))
        self.exported: dict[str, Callable[..., torch.Tensor]] = {}     # run_part's: part name -> its runner

    @staticmethod
    def auto_class():
        """The transformers class to load the folder with; every registered adapter sets it."""
        raise NotImplementedError("an adapter must name its transformers model class")

    @classmethod
    def from_pretrained(cls, directory: Path) -> "HFAdapter":
        return cls(load_model_weights(cls.auto_class(), directory), Processor.load(directory), directory)

    def hold_weights_in(self, dtype: torch.dtype) -> None:
        """Keep the weights in a lower precision (pm.load(..., precision="bf16")): the whole
        model, as a pipeline loaded in that dtype holds it, so "bf16" means the same work in
        both tools."""
        self.model.to(dtype)

    def per_token_linears(self) -> list[nn.Linear]:
        """The linear layers a decoding step calls through their forward, one row per sequence:
        on a CPU pm.load packs them once (hf/packed_linear.py). None for a model that
        does not decode token by token."""
        return []

    def encoder_linears(self) -> list[nn.Linear]:
        """The linear layers of an encoder that runs over all of an input's tokens at once (an
        image or audio tower): on a CPU pm.load packs them (docs/performance.md, "On an AMD
        EPYC"). In bf16 a packed product also adds its bias as it writes (torch's addmm first
        copies the bias into the output): BLIP-base's vision tower 0.878 -> 0.806 s and
        Whisper-base's encoder 0.957 -> 0.907 s a batch of 8 on a Xeon, the same values. In
        fp32 it depends on the CPU: on a Xeon torch's MKL product is as fast (1.00x, 1.03x), on
        an AMD EPYC MKL runs its AVX2 kernels while oneDNN's use AVX-512 (a 3072x768 layer over
        4616 tokens 199 -> 451 GFLOP/s), so packing gives captioning at batch 8 1.63x and
        transcription 1.44x, the same captions and transcripts; where both run AVX2, it loses
        and these layers are left as they are (packed_linear.wide_products_pay). None for a
        model without such an encoder."""
        return []

    def pack_for_cpu(self) -> int:
        """Lay out the weights of the layers that gain from it once in oneDNN's blocked format
        (pm.load on a CPU, after the dtype is final; hf/packed_linear.py): by default the
        per-token linears, and the encoder's linears where packing them pays on this CPU
        (packed_linear.wide_products_pay). -> how many layers were packed."""
        encoder = [layer for layer in self.encoder_linears() if wide_products_pay(layer.weight.dtype)]
        return pack_linears(self.model, self.per_token_linears() + encoder)

    def int8_products(self) -> int:
        """Replace the layers whose products dominate, the per-token and encoder linears (for an
        adapter that names neither, every linear layer, as precision int8 does), by oneDNN int8
        products (pm.load(..., precision="int8-bf16"), hf/int8_linear.py), from the fp32
        weights, before the rest goes to bf16; -> how many layers were replaced."""
        named = self.per_token_linears() + self.encoder_linears()
        return int8_product_layers(self.model, named or [m for m in self.model.modules() if type(m) is nn.Linear])

    def onnx_parts(self) -> dict[str, OnnxPart]:
        """The parts `polymodal export --format onnx` writes, by name; {} where polymodal
        exports none of this model."""
        return {}

    def run_part(self, name: str, run: Callable[..., torch.Tensor]) -> None:
        """From now on the part `name` (one of onnx_parts') is computed by `run`, called on the
        same tensors as its module (pm.load(..., runtime="onnx"): an ONNX Runtime session)."""
        if name not in self.onnx_parts():
            raise InputError(f"{self.config.source}: its ONNX export lists a part {name!r}, which a "
                             f"{type(self.model).__name__} does not have")
        self.exported[name] = run

    def on_device(self, value):
        """Tensors (in dicts too) moved to where the model is."""
        if isinstance(value, dict):
            return {k: self.on_device(v) for k, v in value.items()}
        return value.to(self.model.device) if torch.is_tensor(value) else value

    def training_loss(self, values: dict) -> torch.Tensor:
        """The model's own training loss on one batch of plain values (training/finetune.py):
        "image" (HxWx3 uint8 arrays) with "text" (captions, questions or phrases), "answer" or
        "box", or "audio" (Audio values) with "text" (transcripts). Adapters that set `trains`
        override it."""
        raise InputError(f"{self.config.source}: polymodal cannot fine-tune a {type(self.model).__name__} "
                         f"(no training loss for it)")

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, directory: str | Path) -> Path:
        """The model and processor files, in Hugging Face layout, written atomically."""
        directory = Path(directory)
        with atomic_directory(directory) as tmp, quiet():
            self.model.save_pretrained(str(tmp))
            self.processor.save_pretrained(str(tmp))
        return directory
