"""What every polymodal model shares: a config dataclass saved as `config.json` (whose "kind"
names the model class) beside `model.safetensors`, both written atomically.

    model.save_pretrained("runs/x/model")
    Captioner.from_pretrained("runs/x/model")      # one kind; loading.load_model reads any
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from torch import nn

from ..core import files
from ..core.config import Config
from ..core.errors import ConfigError, InputError


class Pretrained(nn.Module):
    """Base of polymodal's model classes. Subclasses set `kind` (registered in MODEL_KINDS),
    `config_class` (a core.config.Config dataclass with a `task` field) and keep their config
    in `self.config`."""

    kind: str = ""
    config_class: type[Config] = Config

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def parts(self) -> dict[str, nn.Module]:
        """The named parts a training run may freeze (`freeze: [...]`): by default the
        model's top-level modules."""
        return dict(self.named_children())

    def encoders_in_torch(self) -> set[str]:
        """Places (e.g. "encoders.text") of encoders this model calls for more than their
        Embedding, which ONNX export therefore leaves in PyTorch: none by default."""
        return set()

    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        with files.atomic_directory(directory) as tmp:
            self.write_files(tmp)
        return directory

    def write_files(self, folder: Path) -> None:
        """Weights and config into an existing (temporary) folder; see save_pretrained."""
        files.save_tensors(self.state_dict(), folder / files.WEIGHTS, metadata={"format": "polymodal"})
        files.save_json({"kind": self.kind, **asdict(self.config)}, folder / files.CONFIG)

    @classmethod
    def from_pretrained(cls, directory: str | Path):
        directory = Path(directory)
        config = read_config(directory)
        kind = config.pop("kind", "multimodal")     # folders saved before "kind" existed are multimodal
        if cls.kind and kind != cls.kind:
            raise InputError(f"{directory}: a {kind} model, not a {cls.kind} model")
        model = cls(cls.config_class.from_dict(config, f"{directory / files.CONFIG}"))
        state = files.load_tensors(directory / files.WEIGHTS)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise InputError(f"{directory}: weights do not match its config ({first})") from None
        return model.eval()


def read_config(directory: Path) -> dict:
    """A polymodal model folder's config.json as a dict (checked to be a JSON object)."""
    if not (directory / files.CONFIG).exists():
        raise InputError(f"{directory}: not a polymodal model directory (no {files.CONFIG})")
    config = files.load_json(directory / files.CONFIG)
    if not isinstance(config, dict):
        raise ConfigError(f"{directory / files.CONFIG}: expected a JSON object, got {type(config).__name__}")
    return config
