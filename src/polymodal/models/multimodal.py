"""MultimodalModel: unimodal encoders -> fusion -> head (classification, VQA, text QA)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.config import Config
from ..core.errors import InputError
from ..encoders.base import Embedding
from ..encoders.registry import build_encoder
from ..fusion.registry import FUSIONS
from ..heads import HEADS
from .base import Pretrained
from .registry import MODEL_KINDS


@dataclass
class ModelConfig(Config):
    """Everything needed to rebuild a model; saved as config.json beside the weights."""

    encoders: dict[str, dict]            # modality -> {"name": registry name, "config": kwargs}
    fusion: str                          # e.g. "hybrid:cross-attention"
    labels: list[str]                    # the head's label (or answer) vocabulary
    task: str = "classify"               # which task's metrics and inputs apply (vqa, classify, text-qa)
    head: str = "classify"
    fusion_config: dict = field(default_factory=dict)
    hidden: int = 128                    # width of the fused vector
    table: dict = field(default_factory=dict)   # a table model's columns, label and target (tasks/table.py)


@MODEL_KINDS.register("multimodal")
class MultimodalModel(Pretrained):
    kind = "multimodal"
    config_class = ModelConfig

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoders = nn.ModuleDict({m: build_encoder(spec, f"the {m} encoder")
                                       for m, spec in config.encoders.items()})
        self.fusion = FUSIONS.build(config.fusion, self.fused_dims(), config.hidden, **config.fusion_config)
        self.head = HEADS.build(config.head, config.hidden, config.labels)

    def fused_dims(self) -> dict[str, int]:
        """The width of each modality the fusion takes."""
        return {m: e.dim for m, e in self.encoders.items()}

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders)

    def parts(self) -> dict[str, nn.Module]:
        """What `freeze` may name: each encoder by its modality, the fusion and the head."""
        return {**self.encoders, "fusion": self.fusion, "head": self.head}

    def preprocess(self, values: dict[str, list]) -> dict:
        """Modality values (or raw arrays/strings) -> the tensors forward() takes."""
        return {m: self.encoders[m].processor(v) for m, v in values.items() if m in self.encoders}

    def forward(self, batch: dict) -> torch.Tensor:
        """batch: {modality: processed inputs}, optionally {modality + "_index": LongTensor}
        to share one encoded item among several rows (one image, many questions)."""
        self.check_inputs(batch)
        return self.answer(self.encode(batch))

    def check_inputs(self, batch: dict) -> None:
        present = {self.fused_modality(m) for m in batch if m in self.encoders}
        missing = [m for m in self.fusion.modalities if m not in present]
        if missing and not self.fusion.allows_missing:
            raise InputError(f"this model's {self.config.fusion} fusion needs {', '.join(missing)} input too")

    def fused_modality(self, modality: str) -> str:
        """The modality whose place in the fusion an input takes (its own here)."""
        return modality

    def encode(self, batch: dict, skip=()) -> dict[str, Embedding]:
        embs = {}
        for m in self.encoders:
            if m not in batch or m in skip:
                continue                      # late fusion answers from what is there
            emb = self.encode_modality(m, batch[m])
            index = batch.get(f"{m}_index")
            embs[m] = emb.shared(index) if index is not None else emb
        return embs

    def encode_modality(self, modality: str, inputs) -> Embedding:
        return self.encoders[modality](inputs)

    def answer(self, embs: dict[str, Embedding]) -> torch.Tensor:
        if not self.fusion.uses_shared_index:
            embs = {m: e.expanded() for m, e in embs.items()}
        return self.head(self.fusion(embs))
