"""`hf-audio`: a pretrained Hugging Face audio model as the audio encoder of any fused model.

Any local folder in Hugging Face layout, or `hf:<repo-id>` in the local cache: Whisper's
encoder (from the whole Whisper checkpoint), CLAP's audio tower (from the whole CLAP
checkpoint), wav2vec2, HuBERT, WavLM, AST and the other AutoModel audio encoders, with the
folder's own feature extractor (audio is resampled to its rate first).

Tokens are the model's last hidden states (frames); those that stand for padding are masked,
by the share of the input each clip fills. The pooled vector is the model's pooler output
where it has one (AST), else the mean of the clip's frames.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.errors import InputError, ModelNotFoundError
from ..hf.loading import hf_folder, load_pretrained, read_hf_config, refuse_pickled
from ..layers import masked_mean
from ..modalities import Audio
from .hf_tower import PretrainedTower, check_tuning
from .registry import ENCODERS

# Encoder-decoder checkpoints: the audio encoder is taken from the whole model.
ENCODER_DECODERS = {"whisper", "speech_to_text"}
# Two-tower checkpoints: model_type -> the attribute of the whole model that is its audio tower.
AUDIO_TOWERS = {"clap": "audio_model"}
# What each family's model reads beside its features (CLAP: which clips were longer than its window).
EXTRA_INPUTS = {"clap": {"is_longer"}}
# Families whose feature extractor pads a batch to its longest clip (the others give a fixed size).
PAD_TO_LONGEST = {"wav2vec2", "wav2vec2-conformer", "hubert", "wavlm", "data2vec-audio", "unispeech",
                  "unispeech-sat", "sew", "sew-d"}


class AudioTowerProcessor:
    """Clips -> the model's inputs by its own feature extractor ({"input_values" or
    "input_features", and "attention_mask" where the extractor gives one})."""

    def __init__(self, extractor, model_type: str):
        self.extractor, self.model_type = extractor, model_type
        self.rate = int(extractor.sampling_rate)

    def __call__(self, items: list) -> dict[str, torch.Tensor]:
        """items: a list of Audio values, or of what Audio.open takes (paths, (waveform, rate))."""
        if not items:
            raise InputError("audio encoder got an empty batch")
        waves = [Audio.open(x).resampled(self.rate).waveform for x in items]
        options: dict[str, Any] = {"sampling_rate": self.rate, "return_tensors": "pt"}
        if self.model_type in PAD_TO_LONGEST:
            options.update(padding=True, return_attention_mask=True)
        elif self.model_type == "whisper":
            options.update(return_attention_mask=True)
        out = self.extractor(waves, **options)
        return {k: (v.float() if v.is_floating_point() else v if v.dtype == torch.bool else v.long())
                for k, v in out.items() if isinstance(v, torch.Tensor)}


def load_audio_model(folder) -> tuple[nn.Module, Any, str]:
    """(the audio model, its feature extractor, its model_type) from a folder, never online."""
    from transformers import AutoFeatureExtractor, AutoModel
    model_type = read_hf_config(folder).get("model_type")
    refuse_pickled(folder)
    model = load_pretrained(AutoModel, folder, "audio model", weights=True)
    if model_type in ENCODER_DECODERS:
        model = model.get_encoder()
    elif model_type in AUDIO_TOWERS:
        model = getattr(model, AUDIO_TOWERS[model_type])
    extractor = load_pretrained(AutoFeatureExtractor, folder, "feature extractor")
    return model.float(), extractor, model_type


def frame_rule(model_type: str, config):
    """How many output frames a clip of n input steps (samples or feature frames) fills:
    (n, padded input length, output length) -> frames. Exact for the families that say how
    they subsample (a convolutional feature encoder's kernels and strides; Whisper's stride-2
    convolution); by the share of the input otherwise."""
    if model_type in PAD_TO_LONGEST:
        kernels, strides = list(config.conv_kernel), list(config.conv_stride)

        def convolved(n, padded, out):
            for k, st in zip(kernels, strides):
                n = max(0, (n - k) // st + 1)
            return min(n, out)
        return convolved
    if model_type == "whisper":
        return lambda n, padded, out: min(math.ceil(n / 2), out)
    return lambda n, padded, out: math.ceil(n / padded * out)


class HFAudioEncoder(PretrainedTower):
    modality = "audio"

    def __init__(self, path: str, tune: str = "none", dim: int | None = None, lora_rank: int = 8,
                 lora_targets: list[str] | None = None):
        super().__init__()
        check_tuning("hf-audio", tune, lora_rank, dim)
        self.config = dict(path=str(path), tune=tune, dim=dim, lora_rank=int(lora_rank), lora_targets=lora_targets)
        folder = hf_folder(str(path), "audio model")
        model, extractor, model_type = load_audio_model(folder)
        self.processor = AudioTowerProcessor(extractor, model_type)
        self.frames = frame_rule(model_type, model.config)
        # what the model is given: its features, and the mask where its family reads one
        self.inputs = {"input_values", "input_features"} | EXTRA_INPUTS.get(model_type, set()) | (
            {"attention_mask"} if model_type in PAD_TO_LONGEST else set())
        silence = self.processor([(np.zeros(self.processor.rate, np.float32), self.processor.rate)])
        with torch.no_grad():
            tokens, _, pooled = self.run(model.eval(), silence)
        if tokens.shape[-1] != pooled.shape[-1]:
            raise ModelNotFoundError(f"{path}: its pooled output and frames differ in width; not an audio "
                                     f"encoder hf-audio can use")
        self.setup(model, folder, tune, lora_rank, lora_targets, dim, int(tokens.shape[-1]))

    def item(self, inputs: dict[str, torch.Tensor], i: int) -> torch.Tensor:
        """A clip's key: its inputs without the padding its batch gave it."""
        mask = inputs.get("attention_mask")
        main = inputs["input_values"] if "input_values" in inputs else inputs["input_features"]
        row = main[i]
        if mask is not None and mask.shape[-1] == row.shape[-1]:
            row = row[..., mask[i].bool()]
        return row.reshape(-1)

    def run(self, model, inputs):
        device = next(model.parameters()).device
        out = model(**{k: v.to(device) for k, v in inputs.items() if k in self.inputs})
        hidden = out.last_hidden_state
        if hidden.dim() == 4:                                        # a feature map: its cells as tokens
            hidden = hidden.flatten(2).transpose(1, 2)
        mask = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
        given = inputs.get("attention_mask")
        if given is not None:                                        # frames past each clip's end
            for i, n in enumerate(given.sum(-1).tolist()):
                mask[i, max(1, self.frames(int(n), given.shape[-1], hidden.shape[1])):] = False
        pooled = out.get("pooler_output")                            # None in families without a pooler
        pooled = pooled.flatten(1) if pooled is not None else masked_mean(hidden, mask)
        return hidden, mask, pooled


ENCODERS.register("hf-audio")(HFAudioEncoder)
