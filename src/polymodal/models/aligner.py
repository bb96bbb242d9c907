"""Image-text alignment (CLIP-style): an image tower and a text tower projected into one
normalised space, trained so that an image and a text that describes it score highest."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..core.config import Config
from ..core.errors import ConfigError
from ..encoders.registry import build_encoder
from .base import Pretrained
from .binding import FactoredImagePool, FactoredTextPool, WordFactorTextPool
from .registry import MODEL_KINDS


@dataclass
class AlignerConfig(Config):
    image_encoder: dict           # {"name": registry name, "config": kwargs}
    text_encoder: dict            # e.g. {"name": "transformer", "config": {"vocab": [...], ...}}
    dim: int = 64                 # size of the shared embedding space
    temperature: float = 0.07     # initial softmax temperature (learned, as in CLIP)
    prompt: str = "a {}"          # zero-shot: how a class name becomes a text
    view_loss: float = 0.0        # weight of the image-view contrastive loss (SLIP-style
                                  # self-supervision); 0 = alignment only
    factors: list | None = None   # e.g. [8, 8, 4]: both towers embed as a sum of colour x shape x
                                  # place outer products (models/binding.py); dim = their product
    text_factors: str = "context" # factors: "context" reads all three from each word's contextual
                                  # state; "words" makes colour and shape linear in context-free
                                  # word vectors (WordFactorTextPool)
    task: str = "align"


@MODEL_KINDS.register("aligner")
class Aligner(Pretrained):
    kind = "aligner"
    config_class = AlignerConfig

    def __init__(self, config: AlignerConfig):
        super().__init__()
        self.config = config
        self.image_encoder = build_encoder(config.image_encoder, "image_encoder")
        self.text_encoder = build_encoder(config.text_encoder, "text_encoder")
        if config.factors:
            if len(config.factors) != 3 or math.prod(config.factors) != config.dim:
                raise ConfigError(f"aligner: factors are three sizes whose product is dim ({config.dim}), "
                                  f"got {config.factors}")
            if config.view_loss:
                raise ConfigError("aligner: view_loss needs projected embeddings, not factors")
            self.image_factors = FactoredImagePool(self.image_encoder.dim, tuple(config.factors))
            if config.text_factors == "words":
                vocab = len(self.text_encoder.processor.vocab)
                self.text_factors = WordFactorTextPool(self.text_encoder.dim, vocab, tuple(config.factors))
            elif config.text_factors == "context":
                self.text_factors = FactoredTextPool(self.text_encoder.dim, tuple(config.factors))
            else:
                raise ConfigError(f"aligner: text_factors must be context or words, got {config.text_factors!r}")
        else:
            self.image_proj = nn.Linear(self.image_encoder.dim, config.dim)
            self.text_proj = nn.Linear(self.text_encoder.dim, config.dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / config.temperature)))
        if config.view_loss:
            # its own head, as in SimCLR: the views' invariances (colour above all) must not
            # be forced onto the aligned space, where colour is what half the words name
            d = self.image_encoder.dim
            self.view_proj = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, config.dim))

    @property
    def modalities(self) -> list[str]:
        return ["image", "text"]

    def preprocess(self, values: dict) -> dict:
        out = {}
        if "image" in values:
            out["image"] = self.image_encoder.processor(values["image"])
        if "text" in values:
            out["text"] = self.text_encoder.processor(values["text"])
        return out

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.config.factors:
            return nn.functional.normalize(self.image_factors(pixels, self.image_encoder(pixels).tokens), dim=-1)
        return nn.functional.normalize(self.image_proj(self.image_encoder(pixels).pooled), dim=-1)

    def encode_text(self, text_inputs) -> torch.Tensor:
        emb = self.text_encoder(text_inputs)
        if self.config.factors:
            ids = (text_inputs["input_ids"],) if self.config.text_factors == "words" else ()
            return nn.functional.normalize(self.text_factors(emb.tokens, emb.mask, *ids), dim=-1)
        return nn.functional.normalize(self.text_proj(emb.pooled), dim=-1)

    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(100)).exp()     # CLIP's cap on the logit scale

    def forward(self, batch: dict):
        """[images, texts] similarity logits for a batch of images and texts; with
        batch["views"] (one more view of each image), a dict that adds both views'
        self-supervision embeddings, [2 x images, dim]."""
        if "views" not in batch:
            return self.scale() * self.encode_image(batch["image"]) @ self.encode_text(batch["text"]).T
        pooled = self.image_encoder(batch["image"]).pooled
        image = nn.functional.normalize(self.image_proj(pooled), dim=-1)
        logits = self.scale() * image @ self.encode_text(batch["text"]).T
        views = torch.cat([pooled, self.image_encoder(batch["views"]).pooled])
        return {"logits": logits, "views": nn.functional.normalize(self.view_proj(views), dim=-1),
                "view_loss": self.config.view_loss}
