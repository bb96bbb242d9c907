"""MultimodalModel: unimodal encoders -> fusion -> head, saved as safetensors + JSON config."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import checkpoint
from .encoders import ENCODERS
from .errors import ConfigError, InputError
from .fusion import FUSIONS
from .heads import HEADS


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; saved as config.json beside the weights."""

    encoders: dict[str, dict]            # modality -> {"name": registry name, "config": kwargs}
    fusion: str                          # e.g. "hybrid:cross-attention"
    labels: list[str]                    # the head's label (or answer) vocabulary
    task: str = "classify"               # "classify" or "vqa": which metrics and inputs apply
    head: str = "classify"
    fusion_config: dict = field(default_factory=dict)
    hidden: int = 128                    # width of the fused vector
    columns: dict[str, str] = field(default_factory=dict)   # modality -> manifest column it reads

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        missing = {"encoders", "fusion", "labels"} - set(known)
        if missing:
            raise ConfigError(f"model config lacks {', '.join(sorted(missing))}")
        return cls(**known)


class MultimodalModel(nn.Module):
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

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- persistence ---------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        with checkpoint.atomic_directory(directory) as tmp:
            self.write_files(tmp)
        return directory

    def write_files(self, folder: Path) -> None:
        """Weights and config into an existing (temporary) folder; see save_pretrained."""
        checkpoint.save_tensors(self.state_dict(), folder / checkpoint.WEIGHTS, metadata={"format": "polymodal"})
        checkpoint.save_json(asdict(self.config), folder / checkpoint.CONFIG)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> "MultimodalModel":
        directory = Path(directory)
        if not (directory / checkpoint.CONFIG).exists():
            raise InputError(f"{directory}: not a polymodal model directory (no {checkpoint.CONFIG})")
        model = cls(ModelConfig.from_dict(checkpoint.load_json(directory / checkpoint.CONFIG)))
        state = checkpoint.load_tensors(directory / checkpoint.WEIGHTS)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise InputError(f"{directory}: weights do not match its config ({first})") from None
        return model.eval()
