"""`hf-image`: a pretrained Hugging Face vision model as the image encoder of any fused model.

Any local folder in Hugging Face layout, or `hf:<repo-id>` in the local cache: CLIP's and
SigLIP's vision towers (read from the whole CLIP/SigLIP checkpoint), ViT, DINOv2, ConvNeXt,
ResNet and the other AutoModel vision backbones, with the folder's own image processor.

Tokens are the model's last hidden states: patch tokens for transformers, the cells of the
last feature map for convolutional networks. The pooled vector is the model's own pooler
output where it has one (CLIP's and DINOv2's normalised CLS, SigLIP's attention pool,
ConvNeXt's and ResNet's global average), else the mean of the tokens.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.errors import InputError, ModelNotFoundError
from ..hf.loading import hf_folder, load_pretrained, read_hf_config, refuse_pickled
from ..modalities import as_array
from .hf_tower import PretrainedTower, check_tuning
from .registry import ENCODERS

# Checkpoints that hold more than a vision model: the class that reads the vision tower alone.
VISION_TOWERS = {"clip": "CLIPVisionModel", "siglip": "SiglipVisionModel", "siglip2": "Siglip2VisionModel",
                 "blip": "BlipVisionModel", "owlvit": "OwlViTVisionModel", "chinese_clip": "ChineseCLIPVisionModel"}


class ImageTowerProcessor:
    """Images (modalities.Image, uint8 arrays, paths) -> {"pixel_values": [B, 3, H, W]} by the
    model's own image processor (its resize, crop and normalisation)."""

    def __init__(self, image_processor):
        self.image_processor = image_processor

    def __call__(self, images) -> dict[str, torch.Tensor]:
        if not isinstance(images, (list, tuple)):
            images = [images]
        if not images:
            raise InputError("image encoder got an empty batch")
        arrays = [as_array(im) for im in images]
        pixels = self.image_processor(images=arrays, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixels.float()}


def load_vision_model(folder) -> tuple[nn.Module, Any]:
    """(the vision model, its image processor) from a folder, never online."""
    import transformers
    from transformers import AutoImageProcessor, AutoModel
    model_type = read_hf_config(folder).get("model_type")
    loader = getattr(transformers, VISION_TOWERS[model_type]) if model_type in VISION_TOWERS else AutoModel
    refuse_pickled(folder)
    model = load_pretrained(loader, folder, "vision model", weights=True)
    processor = load_pretrained(AutoImageProcessor, folder, "image processor")
    return model.float(), processor


class HFImageEncoder(PretrainedTower):
    modality = "image"

    def __init__(self, path: str, tune: str = "none", dim: int | None = None, lora_rank: int = 8,
                 lora_targets: list[str] | None = None):
        super().__init__()
        check_tuning("hf-image", tune, lora_rank, dim)
        self.config = dict(path=str(path), tune=tune, dim=dim, lora_rank=int(lora_rank), lora_targets=lora_targets)
        folder = hf_folder(str(path), "image model")
        model, image_processor = load_vision_model(folder)
        self.processor = ImageTowerProcessor(image_processor)
        hidden = self.probe_width(model)
        self.setup(model, folder, tune, lora_rank, lora_targets, dim, hidden)

    def probe_width(self, model: nn.Module) -> int:
        """The width of the model's tokens, read from one blank image (configs name it
        hidden_size, hidden_sizes[-1] or otherwise, by family)."""
        blank = self.processor([np.zeros((64, 64, 3), np.uint8)])
        with torch.no_grad():
            tokens, _, pooled = self.run(model.eval(), blank)
        if tokens.shape[-1] != pooled.shape[-1]:
            raise ModelNotFoundError(f"{self.config['path']}: its pooled output ({pooled.shape[-1]}) and tokens "
                                     f"({tokens.shape[-1]}) differ in width; not a vision backbone hf-image can use")
        return int(tokens.shape[-1])

    def run(self, model, inputs):
        out = model(pixel_values=inputs["pixel_values"].to(next(model.parameters()).device))
        hidden = out.last_hidden_state
        if hidden.dim() == 4:                                       # a feature map [B, C, h, w]: cells as tokens
            hidden = hidden.flatten(2).transpose(1, 2)
        pooled = out.get("pooler_output")                            # None in families without a pooler
        pooled = pooled.flatten(1) if pooled is not None else hidden.mean(1)
        mask = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
        return hidden, mask, pooled


ENCODERS.register("hf-image")(HFImageEncoder)
