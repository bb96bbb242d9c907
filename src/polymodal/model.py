"""MultimodalModel: unimodal encoders -> fusion -> head (classification and VQA)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .encoders import ENCODERS
from .errors import InputError
from .fusion import FUSIONS
from .heads import HEADS
from .pretrained import MODEL_KINDS, Pretrained, SavedConfig


@dataclass
class ModelConfig(SavedConfig):
    """Everything needed to rebuild a model; saved as config.json beside the weights."""

    encoders: dict[str, dict]            # modality -> {"name": registry name, "config": kwargs}
    fusion: str                          # e.g. "hybrid:cross-attention"
    labels: list[str]                    # the head's label (or answer) vocabulary
    task: str = "classify"               # "classify" or "vqa": which metrics and inputs apply
    head: str = "classify"
    fusion_config: dict = field(default_factory=dict)
    hidden: int = 128                    # width of the fused vector
    columns: dict[str, str] = field(default_factory=dict)   # modality -> manifest column it reads


@MODEL_KINDS.register("multimodal")
class MultimodalModel(Pretrained):
    kind = "multimodal"
    config_class = ModelConfig

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.encoders = nn.ModuleDict({m: ENCODERS.build(spec["name"], **spec.get("config", {}))
                                       for m, spec in config.encoders.items()})
        dims = {m: e.dim for m, e in self.encoders.items()}
        self.fusion = FUSIONS.build(config.fusion, dims, config.hidden, **config.fusion_config)
        self.head = HEADS.build(config.head, config.hidden, config.labels)

    @property
    def modalities(self) -> list[str]:
        return list(self.encoders)

    def preprocess(self, values: dict[str, list]) -> dict:
        """Modality values (or raw arrays/strings) -> the tensors forward() takes."""
        return {m: self.encoders[m].processor(v) for m, v in values.items() if m in self.encoders}

    def forward(self, batch: dict) -> torch.Tensor:
        """batch: {modality: processed inputs}, optionally {modality + "_index": LongTensor}
        to share one encoded item among several rows (one image, many questions)."""
        missing = [m for m in self.encoders if m not in batch]
        if missing and not self.fusion.allows_missing:
            raise InputError(f"this model's {self.config.fusion} fusion needs {', '.join(missing)} input too")
        embs = {}
        for m, encoder in self.encoders.items():
            if m not in batch:
                continue                      # late fusion answers from what is there
            emb = encoder(batch[m])
            index = batch.get(f"{m}_index")
            embs[m] = emb.shared(index) if index is not None else emb
        if not self.fusion.uses_shared_index:
            embs = {m: e.expanded() for m, e in embs.items()}
        return self.head(self.fusion(embs))
