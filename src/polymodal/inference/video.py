"""The pipelines over video clips, what `pm.load("video-qa" | "video-caption" | "video-classify"
| "video-align")` returns: each takes clips as paths, bytes, Video values or uint8 [T, H, W, 3]
arrays, decodes each once at its model's own sampling, and gives result types
(core/results.py) or vectors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..core import values
from ..core.errors import InputError
from ..core.results import Answer, Caption
from ..hf.base import HFAdapter
from ..loading import default_model, load_model
from ..modalities import Video
from ..tasks import align, clip_text, video_align, video_caption, video_qa
from ..tasks import vqa as vqa_task
from .backend import Backend, on_backend
from .registry import PIPELINES


@PIPELINES.register("video-qa")
class VideoQAPipeline:
    """Questions about clips: `video_qa(video="clip.mp4", question="which way does the red circle move first?")`."""

    def __init__(self, model, batch_size: int = 32):
        self.model, self.batch_size = model.eval(), batch_size

    def __call__(self, video, question: str) -> Answer:
        return self.batch([(video, question)])[0]

    def batch(self, items, batch_size: int | None = None, progress: bool = False) -> list[Answer]:
        """items: (video, question) pairs; a video is a path, bytes, a Video or a uint8
        [T, H, W, 3] array. A clip asked several questions is decoded once."""
        clips: dict = {}
        examples = []
        for video, question in items:
            key = video if isinstance(video, (str, Path)) else id(video)
            if key not in clips:
                clips[key] = video_qa.opened(self.model.encoders["video"], video, "audio" in self.model.encoders)
            examples.append(video_qa.ClipExample(clips[key], [vqa_task.Question(values.text(question, "question"))]))
        _, answers, scores = video_qa.predict(self.model, examples, batch_size or self.batch_size, progress=progress)
        return [Answer(a, round(s, 4)) for a, s in zip(answers, scores)]


@PIPELINES.register("video-caption")
class VideoCaptionPipeline:
    """Clips -> a sentence of what happens in each."""

    def __init__(self, model, batch_size: int = 32):
        self.model, self.batch_size = model.eval(), batch_size

    def __call__(self, video, beams: int = 1) -> Caption:
        return self.batch([video], beams=beams)[0]

    def prepare(self, video):
        """A clip decoded at the model's sampling (a batch job opens each item so)."""
        return video_qa.opened(self.model.image_encoder, video)

    def batch(self, videos, batch_size: int | None = None, beams: int = 1, progress: bool = False) -> list[Caption]:
        """videos: paths, bytes, Videos or uint8 [T, H, W, 3] arrays -> Caption(text, score) each."""
        examples = [clip_text.ClipCaptionExample(v) for v in videos]
        return video_caption.caption_clips(self.model, examples, batch_size or self.batch_size, beams,
                                           progress=progress)


@PIPELINES.register("video-classify")
class VideoClassifyPipeline:
    """A video classifier (VideoMAE, TimeSformer, ViViT): each clip's own classes, best first."""

    def __init__(self, model, batch_size: int = 8):
        self.model, self.batch_size = model.eval(), batch_size

    def __call__(self, video) -> list[tuple[str, float]]:
        return self.classify([video])[0]

    def prepare(self, video):
        """A clip decoded at the model's own number of frames (a batch job opens each item so)."""
        return adapter_clip(self.model, video)

    def classify(self, videos) -> list[list[tuple[str, float]]]:
        return [r for chunk in chunks(videos, self.batch_size) for r in self.model.classify(chunk)]

    def embed_videos(self, videos, progress: bool = False):
        """Clips -> float32 [N, D] unit vectors (the classifier's features, averaged)."""
        return torch.cat([self.model.embed_videos(c) for c in chunks(videos, self.batch_size)]).numpy()


@PIPELINES.register("video-align")
class VideoAlignPipeline:
    """Clips and texts in one space (X-CLIP, or polymodal's video-text aligner): embed both,
    zero-shot classify clips by labels."""

    def __init__(self, model, batch_size: int = 8):
        self.model, self.batch_size = model.eval(), batch_size
        self.adapter = isinstance(model, HFAdapter)

    def prepare(self, video):
        """A clip decoded at the model's own sampling (a batch job opens each item so)."""
        return adapter_clip(self.model, video) if self.adapter else video_qa.opened(self.model.image_encoder, video)

    def embed_videos(self, videos, progress: bool = False):
        """Clips -> float32 [N, D] unit vectors."""
        if self.adapter:
            return torch.cat([self.model.embed_videos(c) for c in chunks(videos, self.batch_size)]).numpy()
        return video_align.embed_clips(self.model, list(videos), self.batch_size, progress=progress).numpy()

    def embed_texts(self, texts: list[str]):
        texts = [values.text(t, "text") for t in texts]
        return (self.model.embed_texts(texts) if self.adapter else align.embed_texts(self.model, texts)).numpy()

    def classify(self, videos, labels: list[str]) -> list[list[tuple[str, float]]]:
        if self.adapter:
            return [r for chunk in chunks(videos, self.batch_size) for r in self.model.classify(chunk, list(labels))]
        return video_align.zero_shot(self.model, torch.from_numpy(self.embed_videos(videos)), list(labels))


def adapter_clip(model, video):
    """A clip for a Hugging Face video model: its own number of frames, at the clip's size."""
    if isinstance(video, (np.ndarray, Video)):
        return video
    return Video.open(video, frames=model.frames, audio=False)


VIDEO_EMBEDDERS = ("video-classify", "video-align")     # tasks whose models embed clips


def load_video_embedder(model: str | None, backend: Backend = Backend()):
    """The pipeline of a model that embeds clips, whichever of VIDEO_EMBEDDERS it serves; none
    named: the shipped video-text aligner."""
    model = model or default_model("video-align")
    if model is None:
        raise InputError("embedding clips needs --model: a video model (VideoMAE, TimeSformer, ViViT, X-CLIP or a "
                         "video-align model)")
    loaded = load_model(model)
    if loaded.config.task not in VIDEO_EMBEDDERS:
        raise InputError(f"{model}: a model for {loaded.config.task}; embedding clips needs a video model "
                         f"(VideoMAE, TimeSformer, ViViT, X-CLIP or a video-align model)")
    return on_backend(loaded.config.task, loaded, str(model), backend)


def chunks(items, size: int) -> list[list]:
    items = list(items)
    return [items[i:i + size] for i in range(0, len(items), size)]
