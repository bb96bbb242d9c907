"""A pretrained Hugging Face model as a unimodal encoder, frozen or tuned.

`tune` says what training may change in the tower:

- "none" (the default): nothing. The tower runs without gradients, each distinct input once
  (encoders/embedding_cache.py), and its weights are not copied into the fused model's
  checkpoint: the config names the folder they are read from.
- "full": every weight; the tower is part of the model and saved with it.
- "lora": low-rank adapters (peft) on `lora_targets` of rank `lora_rank`; only the adapters
  (and the rest of the fused model) train, and they are saved with it.

Subclasses load the model and its processor and say how the model is run (`run`); this class
owns freezing, tuning, the cache and the optional projection to `dim`.
"""
from __future__ import annotations

from abc import abstractmethod
from pathlib import Path

import torch
from torch import nn

from ..core.errors import ConfigError
from ..hf.lora import with_lora
from .base import Embedding, Encoder
from .embedding_cache import EmbeddingCache, cache_for, fingerprint, item_key

TUNES = ("none", "full", "lora")
UNSHAPING = ("path", "tune", "dim", "lora_rank", "lora_targets")    # leave a frozen tower's output as it is


def check_tuning(name: str, tune: str, lora_rank: int, dim: int | None) -> None:
    if tune not in TUNES:
        raise ConfigError(f"{name}: tune must be one of {', '.join(TUNES)}, got {tune!r}")
    if int(lora_rank) < 1 or (dim is not None and int(dim) < 1):
        raise ConfigError(f"{name}: lora_rank and dim must be at least 1, got {lora_rank}, {dim}")


class PretrainedTower(Encoder):
    """Subclasses set `modality` and call `setup(model, folder, ...)` in __init__ after
    loading; they implement `run(model, inputs) -> (tokens [B, T, H], mask [B, T], pooled [B, H])`."""

    def setup(self, model: nn.Module, folder: Path, tune: str, lora_rank: int, lora_targets: list[str] | None,
              dim: int | None, hidden: int) -> None:
        self.tune = tune
        if tune == "none":
            # Why a tuple: MultimodalModel saves state_dict() into every checkpoint, and a frozen
            # tower, reloaded from its folder, must not be copied into each one. A tuple keeps it
            # out of nn.Module's registry (no state_dict keys, no parameters for the optimiser, and
            # .train() cannot take it out of eval mode); _apply below still moves and casts it.
            model.requires_grad_(False).eval()
            self._frozen = (model,)
            # What the tower gives depends on its files and options such as pooling; not on
            # how the folder was named, nor on what is trained after it.
            shaping = {k: v for k, v in self.config.items() if k not in UNSHAPING}
            self.cache: EmbeddingCache | None = cache_for(fingerprint(folder, {"encoder": type(self).__name__,
                                                                               **shaping}))
        else:
            self.model = (with_lora(model, lora_rank, lora_targets, type(self).__name__)
                          if tune == "lora" else model)
            self.cache = None
        self.proj = nn.Linear(hidden, int(dim)) if dim is not None else None
        self.dim = int(dim) if dim is not None else hidden

    @property
    def tower(self) -> nn.Module:
        return self._frozen[0] if self.tune == "none" else self.model

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        if self.tune == "none":
            self._frozen[0]._apply(fn, recurse)
        return self

    @abstractmethod
    def run(self, model: nn.Module, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The tower on a batch of processed inputs -> tokens [B, T, H], mask [B, T], pooled [B, H]."""

    def item(self, inputs: dict[str, torch.Tensor], i: int) -> torch.Tensor:
        """What identifies batch row i (hashed for the cache): all its processed inputs."""
        return torch.cat([inputs[n][i].reshape(-1).float() for n in sorted(inputs)])

    def forward(self, inputs: dict[str, torch.Tensor]) -> Embedding:
        tokens, mask, pooled = self.cached(inputs) if self.tune == "none" else self.run(self.tower, inputs)
        if self.proj is not None:
            tokens, pooled = self.proj(tokens), self.proj(pooled)
        return Embedding(tokens=tokens, mask=mask, pooled=pooled)

    @torch.no_grad()
    def cached(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The frozen tower's outputs, each distinct input run once (its key: the content hash
        of its processed tensors); items of different lengths are padded, mask False."""
        names = sorted(inputs)
        size = len(inputs[names[0]])
        keys = [item_key(self.item(inputs, i)) for i in range(size)]
        found = {k: self.cache.get(k) for k in dict.fromkeys(keys)}
        missing = [i for k, i in {k: i for i, k in enumerate(keys)}.items() if found[k] is None]
        if missing:
            device = next(self.tower.parameters()).device
            rows = torch.tensor(missing)
            tokens, mask, pooled = self.run(self.tower, {n: inputs[n][rows].to(device) for n in names})
            for j, i in enumerate(missing):
                item = {"tokens": tokens[j][mask[j]], "pooled": pooled[j]}
                self.cache.put(keys[i], item)
                found[keys[i]] = item
        items = [found[k] for k in keys]
        length = max(len(it["tokens"]) for it in items)
        weights = self.proj.weight if self.proj is not None else next(self.tower.parameters())
        out_tokens = torch.zeros(size, length, items[0]["tokens"].shape[-1], dtype=weights.dtype)
        out_mask = torch.zeros(size, length, dtype=torch.bool)
        for i, it in enumerate(items):
            out_tokens[i, :len(it["tokens"])] = it["tokens"]
            out_mask[i, :len(it["tokens"])] = True
        pooled = torch.stack([it["pooled"] for it in items]).to(weights.dtype)
        return out_tokens.to(weights.device), out_mask.to(weights.device), pooled.to(weights.device)
