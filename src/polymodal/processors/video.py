"""Video processing: a clip -> a fixed number of frames at the model's size, scaled to [-1, 1]
channels-first: [B, T, 3, H, W]."""
from __future__ import annotations

import numpy as np
import torch

from ..core.errors import ConfigError
from ..modalities import Audio, Video
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


def check_codec_options(probability: float, crf: tuple, what: str) -> None:
    """A probability in [0, 1] and an H.264 quality range (low, high) within 0-51."""
    if not 0.0 <= probability <= 1.0:
        raise ConfigError(f"{what}: codec_augment must be a probability in [0, 1], got {probability!r}")
    if len(crf) != 2 or not all(isinstance(q, int) and 0 <= q <= 51 for q in crf) or crf[0] > crf[1]:
        raise ConfigError(f"{what}: codec_crf must be (low, high) H.264 qualities within 0-51, got {crf!r}")


def maybe_codec(frames: np.ndarray, sound: tuple | None, fps: float, rng: np.random.Generator, probability: float,
                crf: tuple) -> tuple[np.ndarray, tuple | None]:
    """Training augmentation: `probability` of the time, a generated clip (uint8 [T, H, W, 3]
    at `fps`; its sound (waveform, rate) or None) as it comes back from an MP4 file (H.264 at
    a quality drawn from `crf`, AAC sound) through PyAV, which is how a user's clip arrives;
    otherwise unchanged. Draws one number, plus the quality when it encodes."""
    if rng.random() >= probability:
        return frames, sound
    audio = Audio(sound[0], sound[1]) if sound is not None else None
    clip = Video(frames, np.arange(len(frames)) / fps, fps, len(frames) / fps, audio)
    back = Video.open(clip.encoded(".mp4", int(rng.integers(crf[0], crf[1] + 1))), frames=len(frames),
                      audio=audio is not None)
    return np.asarray(back.frames), (back.audio.waveform, back.audio.rate) if back.audio is not None else sound
