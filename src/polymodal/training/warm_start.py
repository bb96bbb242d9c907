"""Starting a model, or one of its encoders, from weights trained before: a training-time
choice, so recipes give it as `init` and it stays out of the saved model config.

    model:
      init: vqa-sort-of-clevr                 # every tensor whose name and shape fit
      encoders:
        audio: {name: logmel, config: {...}, init: asr-spoken-world:audio_encoder}   # all of it, or refused
        image: {name: cnn, config: {...}, init: runs/objects.safetensors}          # object_pretraining's file
    model:                                    # a vlm, captioner, aligner or grounder: its image encoder,
      image_encoder: {name: cnn, config: {...}, init: vqa-sort-of-clevr:encoders.image}   # every tensor that fits

A source is a safetensors file, or a model (shipped name or directory) with an optional
`:PART`, the submodule whose weights to take (`audio_encoder`, `encoders.image`, ...)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..core import files
from ..core.errors import ConfigError
from ..loading import SHIPPED, resolve


def source_weights(source: str) -> dict[str, torch.Tensor]:
    """The tensors a source names, with PART's prefix removed."""
    if str(source).endswith(".safetensors"):
        if not Path(source).is_file():
            raise ConfigError(f"{source}: no such encoder weights file")
        return files.load_tensors(source)
    name, _, part = str(source).partition(":")
    if name not in SHIPPED and not Path(name).expanduser().is_dir():
        raise ConfigError(f"{source}: init needs a .safetensors file or a model (shipped name or directory)")
    state = files.load_tensors(resolve(name) / files.WEIGHTS)
    if not part:
        return state
    prefix = part + "."
    picked = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not picked:
        raise ConfigError(f"{source}: the model has no part {part!r}")
    return picked


def load_into(module: nn.Module, source: str) -> None:
    """All of `module`'s weights from the source, which must fit it exactly (an encoder)."""
    state = source_weights(source)
    mine = module.state_dict()
    wrong = sorted(k for k in set(state) | set(mine) if k not in state or k not in mine
                   or state[k].shape != mine[k].shape)
    if wrong:
        raise ConfigError(f"{source}: weights do not fit this encoder ({', '.join(wrong[:3])}...)")
    module.load_state_dict(state)


def load_matching(module: nn.Module, source: str) -> dict:
    """Every tensor of the source whose name and shape fit `module` (a whole model: the parts
    a new modality adds start fresh) -> counts of what was taken and what was left."""
    state = source_weights(source)
    mine = module.state_dict()
    taken = {k: v for k, v in state.items() if k in mine and mine[k].shape == v.shape}
    if not taken:
        raise ConfigError(f"{source}: none of its weights fit this model")
    module.load_state_dict(taken, strict=False)
    return {"taken": len(taken), "fresh": len(mine) - len(taken), "unused": len(state) - len(taken)}
