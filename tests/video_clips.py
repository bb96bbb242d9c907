"""Clips for the video tests, written by PyAV directly: counted frames, and the bad clips
issue 24 lists (for tests/test_video.py, the server's and the command line's bad-input
cases); and a tiny untrained video QA model to ask about them."""
from __future__ import annotations

import io
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def counting_frames(n: int, size: int = 32) -> np.ndarray:
    """Frame i is grey level 8 * i, so a decoded frame tells which one it was."""
    return np.stack([np.full((size, size, 3), 8 * i, np.uint8) for i in range(n)])


def which(frames: np.ndarray) -> list[int]:
    return [int(round(f.mean() / 8)) for f in frames]


def encode(frames: list[np.ndarray], rate: int = 8, pts: list[int] | None = None, codec: str = "libx264",
           audio: np.ndarray | None = None, index_first: bool = False) -> bytes:
    """An MP4 written by PyAV directly (for clips Video.save would never write); index_first:
    its index (moov) before the frames, as streamed files have it."""
    if not index_first:
        buf = io.BytesIO()
        write_mp4(buf, frames, rate, pts, codec, audio, {})
        return buf.getvalue()
    with tempfile.TemporaryDirectory() as folder:          # (faststart moves the index by reopening the file)
        target = Path(folder) / "clip.mp4"
        write_mp4(str(target), frames, rate, pts, codec, audio, {"movflags": "faststart"})
        return target.read_bytes()


def write_mp4(target, frames, rate, pts, codec, audio, options) -> None:
    with av.open(target, "w", format="mp4", options=options) as out:
        stream = None
        if codec:
            stream = out.add_stream(codec, rate=rate)
            stream.height, stream.width = frames[0].shape[:2] if frames else (16, 16)
            stream.pix_fmt = "yuv420p"
        if audio is not None:
            sound = out.add_stream("aac", rate=16000)
            sound.layout = "mono"
        if not frames:
            out.start_encoding()            # the header, with its empty track, is written even so
        for i, a in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(a, format="rgb24")
            frame.pts, frame.time_base = (pts[i] if pts else i), Fraction(1, rate)
            out.mux(stream.encode(frame))
        if stream is not None:
            out.mux(stream.encode())
        if audio is not None:
            samples = av.AudioFrame.from_ndarray(audio[None].astype(np.float32), format="flt", layout="mono")
            samples.sample_rate, samples.pts = 16000, 0
            out.mux(sound.encode(samples))
            out.mux(sound.encode())


def bad_clips() -> dict[str, tuple[bytes, str]]:
    """label -> (the clip's bytes, what the one-line refusal says after its name)."""
    frames = list(counting_frames(16))
    whole, streamable = encode(frames), encode(frames, index_first=True)
    long_one = encode(frames[:3], rate=1, pts=[0, 7200, 14400])                 # 4 hours, 3 frames
    return {
        "zero frames": (encode([]), "not a video: no pictures in it"),
        "index cut off": (whole[: len(whole) - 200], "not a readable video"),
        "frames cut off": (streamable[: len(streamable) - 300], "truncated video (decoded"),
        "cut in half": (whole[: len(whole) // 2], "not a readable video"),
        "audio only": (encode([], codec=None, audio=np.zeros(16000, np.float32)), "audio-only"),
        "4 hours": (long_one, "over the limit"),
        "8K frames": (encode([np.zeros((4320, 7680, 3), np.uint8)], codec="mpeg4"), "7680x4320"),
        "text renamed": (b"this is not a video at all\n" * 20, "not a readable video"),
        "empty file": (b"", "not a readable video"),
    }


def tiny_video_qa(folder: Path) -> str:
    """An untrained video QA model (4 frames of 16x16) saved in polymodal's layout."""
    from polymodal.models.multimodal import ModelConfig, MultimodalModel
    config = ModelConfig(encoders={"video": {"name": "frames", "config": {"frames": 4, "dim": 16, "channels": [8],
                                                                          "image_size": 16, "layers": 1, "heads": 2}},
                                   "text": {"name": "transformer", "config": {"vocab": ["does", "it", "move", "?"],
                                                                              "dim": 16, "layers": 1, "heads": 2}}},
                         fusion="hybrid:cross-attention", labels=["yes", "no"], task="video-qa", hidden=16)
    return str(MultimodalModel(config).save_pretrained(folder))
