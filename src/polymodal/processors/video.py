"""Video processing: a clip -> a fixed number of frames at the model's size, scaled to [-1, 1]
channels-first: [B, T, 3, H, W]."""
from __future__ import annotations

import numpy as np
import torch

from ..modalities import Video
from ..modalities.video import Sampling


class VideoProcessor:
    """frames: how many frames a model takes (picked at the centres of equal parts of the
    clip, as Video.open's `frames` does); size: their side in pixels."""

    def __init__(self, frames: int, size: int):
        self.frames, self.size = frames, size
        self.sampling = Sampling(frames=frames, size=(size, size))

    def __call__(self, videos: list) -> torch.Tensor:
        batch = torch.from_numpy(np.stack([self.prepare(v) for v in videos]))     # [B, T, H, W, 3]
        return batch.permute(0, 1, 4, 2, 3).float().div_(127.5).sub_(1.0)

    def prepare(self, video) -> np.ndarray:
        """uint8 [T, size, size, 3] from a Video, a path or bytes (decoded with this sampling),
        or a uint8 [T, H, W, 3] array (a generated clip)."""
        if isinstance(video, np.ndarray):
            if video.shape[0] == self.frames and video.shape[1:3] == (self.size, self.size):
                return video
            video = Video(video, np.arange(len(video), dtype=float), 1.0, float(len(video)))
        elif not isinstance(video, Video):
            return Video.open(video, frames=self.frames, size=(self.size, self.size), audio=False).frames
        return video.sampled(self.sampling).frames
