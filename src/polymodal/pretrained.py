"""Saving and loading every polymodal model the same way: a folder with `config.json`
(whose "kind" names the model class) and `model.safetensors`, written atomically.

    load_model("runs/x/model")     # whatever kind it is
"""
from __future__ import annotations

from dataclasses import MISSING, asdict, fields
from pathlib import Path

from torch import nn

from . import checkpoint
from .errors import ConfigError, InputError
from .registry import Registry

MODEL_KINDS: Registry = Registry("model kind")


class SavedConfig:
    """Base of model config dataclasses: from_dict rebuilds one from its saved JSON, ignoring
    keys it does not know (such as "kind") and naming the required ones that are missing."""

    @classmethod
    def from_dict(cls, d: dict):
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in known]
        if missing:
            raise ConfigError(f"{cls.__name__} lacks {', '.join(missing)}")
        return cls(**known)


class Pretrained(nn.Module):
    """Base of polymodal's model classes. Subclasses set `kind` (registered in MODEL_KINDS),
    `config_class` (a dataclass with from_dict) and keep their config in `self.config`."""

    kind: str = ""
    config_class: type = object

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, directory: str | Path) -> Path:
        directory = Path(directory)
        with checkpoint.atomic_directory(directory) as tmp:
            self.write_files(tmp)
        return directory

    def write_files(self, folder: Path) -> None:
        """Weights and config into an existing (temporary) folder; see save_pretrained."""
        checkpoint.save_tensors(self.state_dict(), folder / checkpoint.WEIGHTS, metadata={"format": "polymodal"})
        checkpoint.save_json({"kind": self.kind, **asdict(self.config)}, folder / checkpoint.CONFIG)

    @classmethod
    def from_pretrained(cls, directory: str | Path):
        directory = Path(directory)
        config = read_config(directory)
        kind = config.get("kind", "multimodal")
        if cls.kind and kind != cls.kind:
            raise InputError(f"{directory}: a {kind} model, not a {cls.kind} model")
        model = cls(cls.config_class.from_dict(config))
        state = checkpoint.load_tensors(directory / checkpoint.WEIGHTS)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise InputError(f"{directory}: weights do not match its config ({first})") from None
        return model.eval()


def read_config(directory: Path) -> dict:
    if not (directory / checkpoint.CONFIG).exists():
        raise InputError(f"{directory}: not a polymodal model directory (no {checkpoint.CONFIG})")
    return checkpoint.load_json(directory / checkpoint.CONFIG)


def load_model(directory: str | Path) -> Pretrained:
    """Any polymodal model folder -> its model (the class its config names); a Hugging Face
    folder -> the adapter for its model type; a diffusers pipeline folder -> its adapter."""
    from . import model, models  # noqa: F401  (registers every kind)
    from .hf import is_hf_directory, load_hf
    from .hf.diffusion import DiffusersTextToImage, is_diffusers_directory
    directory = Path(directory)
    if is_hf_directory(directory):
        return load_hf(directory)
    if is_diffusers_directory(directory):
        return DiffusersTextToImage.load(directory)
    kind = read_config(directory).get("kind", "multimodal")   # folders saved before "kind" existed
    if kind not in MODEL_KINDS:
        raise ConfigError(f"{directory}: unknown model kind {kind!r}; known: {', '.join(MODEL_KINDS.names())}")
    return MODEL_KINDS.get(kind).from_pretrained(directory)
