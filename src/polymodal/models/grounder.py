"""Image grounding: image + phrase -> the box of the region the phrase names, and a score.

Image cells and phrase words go through one transformer (early token fusion), so every cell
can compare itself with the words and with the other cells ("the square left of the green
circle" needs both). Each cell then gives a logit (is the named object centred here?) and a
box as offsets from the cell's centre; the answer is the best cell's box.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..core.config import Config
from ..core.errors import ConfigError
from ..core.results import Grounding, pixel_box
from ..encoders.registry import build_encoder
from ..layers import padding_mask, transformer
from .base import Pretrained
from .registry import MODEL_KINDS

BOX_SCALE = 0.25      # a box edge lies within 0.25 image widths of its cell's centre, roughly


@dataclass
class GrounderConfig(Config):
    image_encoder: dict           # a grid encoder (cnn) whose tokens are image cells
    text_encoder: dict
    dim: int = 64
    layers: int = 3
    heads: int = 4
    task: str = "ground"


@MODEL_KINDS.register("grounder")
class Grounder(Pretrained):
    kind = "grounder"
    config_class = GrounderConfig

    def __init__(self, config: GrounderConfig):
        super().__init__()
        self.config = config
        self.image_encoder = build_encoder(config.image_encoder, "image_encoder")
        self.text_encoder = build_encoder(config.text_encoder, "text_encoder")
        side = self.image_encoder.side
        if side is None:
            raise ConfigError(f"grounding needs a grid image encoder (cnn), not {config.image_encoder['name']!r}")
        self.image_in = nn.Linear(self.image_encoder.dim, config.dim)
        self.text_in = nn.Linear(self.text_encoder.dim, config.dim)
        self.modality_embed = nn.Parameter(torch.zeros(2, config.dim))
        self.blocks = transformer(config.dim, config.layers, config.heads)
        self.norm = nn.LayerNorm(config.dim)
        self.cell_logit = nn.Linear(config.dim, 1)
        self.cell_box = nn.Linear(config.dim, 4)
        centres = (torch.arange(side, dtype=torch.float32) + 0.5) / side
        cy, cx = torch.meshgrid(centres, centres, indexing="ij")
        self.register_buffer("centres", torch.stack([cx, cy, cx, cy], -1).reshape(-1, 4), persistent=False)

    @property
    def modalities(self) -> list[str]:
        return ["image", "text"]

    def preprocess(self, values: dict) -> dict:
        return {"image": self.image_encoder.processor(values["image"]),
                "text": self.text_encoder.processor(values["text"])}

    def forward(self, batch: dict) -> dict:
        """-> {"logits": [B, cells], "boxes": [B, cells, 4]} with boxes in 0..1 image units."""
        img = self.image_encoder(batch["image"])
        txt = self.text_encoder(batch["text"])
        cells = img.tokens.shape[1]
        x = torch.cat([self.image_in(img.tokens) + self.modality_embed[0],
                       self.text_in(txt.tokens) + self.modality_embed[1]], dim=1)
        mask = torch.cat([img.mask, txt.mask], dim=1)
        x = self.norm(self.blocks(x, src_key_padding_mask=padding_mask(mask)))[:, :cells]
        boxes = self.centres + BOX_SCALE * self.cell_box(x)
        return {"logits": self.cell_logit(x).squeeze(-1), "boxes": boxes}

    @torch.no_grad()
    def locate(self, batch: dict, sizes: list[tuple[int, int]]) -> list[Grounding]:
        """The best cell's box for each (image, phrase) row, in pixels of images of `sizes`
        (width, height)."""
        out = self.forward(batch)
        probs = out["logits"].float().softmax(-1)
        best = probs.argmax(-1)
        rows = torch.arange(len(best), device=best.device)
        boxes = out["boxes"][rows, best].float().cpu()
        return [Grounding(pixel_box(box.tolist(), w, h), float(p))
                for box, p, (w, h) in zip(boxes, probs[rows, best].cpu(), sizes)]
