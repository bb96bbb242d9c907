"""Adapters of Hugging Face video models: VideoMAE, TimeSformer and ViViT classifiers
(`video-classify`: their own classes, and pooled features to embed clips), and X-CLIP
(`video-align`: clips and texts in one space, zero-shot classification by labels).

Each takes clips as polymodal's Video values (or paths, bytes, uint8 [T, H, W, 3] arrays),
sampled to the model's own number of frames (its config's `num_frames`) at the centres of
equal parts of the clip, then prepared by the folder's own image processor."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.errors import InputError
from ..modalities import Video
from ..modalities.video import Sampling
from .base import HFAdapter, Processor, load_model_weights
from .loading import load_pretrained
from .registry import HF_ADAPTERS


def clip_frames(videos, frames: int) -> list[list[np.ndarray]]:
    """Each clip as `frames` uint8 HxWx3 frames (the processors resize and crop them)."""
    sampling = Sampling(frames=frames)
    out = []
    for v in videos:
        if isinstance(v, np.ndarray):
            v = Video(v, np.arange(len(v), dtype=float), 1.0, float(len(v))) if v.ndim == 4 else \
                Video.open(v, rate=1.0)
        video = v.sampled(sampling) if isinstance(v, Video) else Video.open(v, frames=frames, audio=False)
        out.append(list(video.frames))
    return out


class HFVideoAdapter(HFAdapter):
    """What the video adapters share: the frame count and the pixel preparation."""

    @property
    def frames(self) -> int:
        vision = getattr(self.model.config, "vision_config", self.model.config)
        return int(vision.num_frames)

    def pixels(self, videos) -> torch.Tensor:
        """-> float [B, T, 3, H, W], as the folder's processor prepares them."""
        if not videos:
            raise InputError("no clips given")
        prepared = self.processor.image_processor(clip_frames(videos, self.frames), return_tensors="pt")
        return prepared["pixel_values"]


class HFVideoClassifier(HFVideoAdapter):
    """A video classifier: its classes (config id2label) with probabilities, and its last
    hidden states averaged over tokens (normalised) as a clip's embedding."""

    task = "video-classify"

    def __init__(self, model, processor: Processor, directory: Path):
        super().__init__(model, processor, directory)
        id2label = model.config.id2label
        self.config.labels = [id2label[i] for i in range(len(id2label))]

    @classmethod
    def from_pretrained(cls, directory: Path) -> HFVideoClassifier:
        from transformers import AutoImageProcessor
        image_processor = load_pretrained(AutoImageProcessor, directory, "image processor")
        return cls(load_model_weights(cls.auto_class(), directory), Processor(image_processor), directory)

    @torch.no_grad()
    def classify(self, videos) -> list[list[tuple[str, float]]]:
        """Each clip's classes with probabilities, best first."""
        probs = self.model(pixel_values=self.on_device(self.pixels(videos))).logits.float().softmax(-1).cpu()
        return [sorted(zip(self.config.labels, map(float, row)), key=lambda p: -p[1]) for row in probs]

    @torch.no_grad()
    def embed_videos(self, videos) -> torch.Tensor:
        hidden = self.model(pixel_values=self.on_device(self.pixels(videos)), output_hidden_states=True).hidden_states
        return nn.functional.normalize(hidden[-1].float().mean(1), dim=-1).cpu()


@HF_ADAPTERS.register("videomae")
class HFVideoMAE(HFVideoClassifier):
    @staticmethod
    def auto_class():
        from transformers import VideoMAEForVideoClassification
        return VideoMAEForVideoClassification


@HF_ADAPTERS.register("timesformer")
class HFTimesformer(HFVideoClassifier):
    @staticmethod
    def auto_class():
        from transformers import TimesformerForVideoClassification
        return TimesformerForVideoClassification


@HF_ADAPTERS.register("vivit")
class HFVivit(HFVideoClassifier):
    @staticmethod
    def auto_class():
        from transformers import VivitForVideoClassification
        return VivitForVideoClassification


@HF_ADAPTERS.register("xclip")
class HFXClip(HFVideoAdapter):
    """X-CLIP: normalised clip and text features in one space; zero-shot classification
    through its own video-conditioned text prompts (what its logits_per_video use)."""

    task = "video-align"

    @staticmethod
    def auto_class():
        from transformers import XCLIPModel
        return XCLIPModel

    def tokens(self, texts: list[str]) -> dict:
        out = self.processor.tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}

    @torch.no_grad()
    def embed_videos(self, videos) -> torch.Tensor:
        features = self.model.get_video_features(pixel_values=self.on_device(self.pixels(videos)))
        return nn.functional.normalize(getattr(features, "pooler_output", features).float(), dim=-1).cpu()

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        features = self.model.get_text_features(**self.on_device(self.tokens(texts)))
        return nn.functional.normalize(getattr(features, "pooler_output", features).float(), dim=-1).cpu()

    @torch.no_grad()
    def classify(self, videos, labels: list[str]) -> list[list[tuple[str, float]]]:
        prompts = [self.config.prompt.format(label) for label in labels]
        out = self.model(pixel_values=self.on_device(self.pixels(videos)), **self.on_device(self.tokens(prompts)))
        probs = out.logits_per_video.float().softmax(-1).cpu()
        return [sorted(zip(labels, map(float, row)), key=lambda p: -p[1]) for row in probs]
