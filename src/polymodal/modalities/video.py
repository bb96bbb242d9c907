"""Video: RGB frames with their times and an optional audio track, opened from a file (MP4,
WebM, MKV, GIF, ...; decoded by PyAV, whose wheel bundles FFmpeg), bytes or arrays.

Frames are picked while decoding, so a long clip never sits in memory whole:

* `frames=N`: the frames on screen at the centres of N equal parts of the clip (the usual
  sampling of video classifiers: each part of the clip is seen once; an N-frame clip gives
  all its frames);
* `fps=R`: one frame every 1/R seconds from the start;
* neither: every frame.

`size=(width, height)` resizes each picked frame as it is decoded. Everything a header says
(resolution, duration, frame count) is checked against `Limits` before any frame is decoded,
and a file that ends before its header says it should is refused as truncated.
"""
from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..core import files, values
from .audio import Audio
from .image import Image, as_array
from .inputs import DEFAULT_LIMITS, Limits, ffmpeg_reason, input_error, readable, readonly, too_large

# suffix -> (container format, video codec, audio codec or None): what `save` writes
WRITERS = {".mp4": ("mp4", "libx264", "aac"), ".mkv": ("matroska", "libx264", "aac"),
           ".webm": ("webm", "libvpx-vp9", "libopus"), ".gif": ("gif", "gif", None)}
OPUS_RATE = 48_000          # the only rate WebM's Opus encoder takes
RATES = (0.01, 1000.0)      # frame rates accepted, per second


@dataclass(frozen=True)
class Sampling:
    """Which frames to keep and at what size (see the module's docstring)."""

    frames: int | None = None
    fps: float | None = None
    size: tuple[int, int] | None = None          # (width, height)

    def __post_init__(self) -> None:
        if self.frames is not None and self.fps is not None:
            raise input_error("video sampling", "give frames or fps, not both")
        if self.frames is not None:
            values.number(self.frames, "video sampling: frames", 1, 100_000, integer=True)
        if self.fps is not None:
            values.number(self.fps, "video sampling: fps", RATES[0], RATES[1])
        if self.size is not None:
            if not (isinstance(self.size, (tuple, list)) and len(self.size) == 2):
                raise input_error("video sampling", f"size must be (width, height), got {self.size!r}")
            for side in self.size:
                values.number(side, "video sampling: size", 1, 16_384, integer=True)
            object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    def times(self, duration: float) -> np.ndarray | None:
        """The times (s) of the frames to keep in a clip this long; None: every frame."""
        if self.frames is not None:
            return (np.arange(self.frames) + 0.5) * duration / self.frames
        if self.fps is not None:
            return np.arange(max(1, math.floor(duration * self.fps + 1e-9))) / self.fps
        return None


ALL_FRAMES = Sampling()


def _kept_bytes(count: int, width: int, height: int) -> int:
    return count * width * height * 3


def _check_frame_size(width: int, height: int, name: str, limits: Limits) -> None:
    if width * height > limits.max_frame_pixels:
        raise too_large(name, f"video frames are {width}x{height} pixels, over the limit of "
                              f"{limits.max_frame_pixels:,} a frame")


def _check_kept(count: int, width: int, height: int, name: str, limits: Limits) -> None:
    if _kept_bytes(count, width, height) > limits.max_video_bytes:
        raise too_large(name, f"{count} frames of {width}x{height} would take "
                              f"{_kept_bytes(count, width, height) / 2**20:,.0f} MiB, over the limit of "
                              f"{limits.max_video_bytes / 2**20:,.0f} MiB; keep fewer frames (frames=, fps=) "
                              f"or smaller ones (size=)")


def _check_duration(seconds: float, name: str, limits: Limits) -> None:
    if seconds > limits.max_video_seconds:
        raise too_large(name, f"video is {seconds:,.1f} s long, over the limit of {limits.max_video_seconds:g} s")


SAME_TIME = 1e-6               # seconds: a frame time this close to a wanted time is that time (rounding)


class _Picker:
    """Keeps, for each wanted time, the frame on screen at that time (the last frame that starts
    at or before it; the first frame for a time before any), seeing frames in order. Not the
    nearest frame: with N frames wanted from an N-frame clip, each wanted time falls halfway
    between two frames, and the nearest (ties to the later) kept frames 1..N-1 and the last twice."""

    def __init__(self, times: np.ndarray | None, convert):
        self.times, self.convert = times, convert
        self.kept: list[np.ndarray] = []
        self.kept_times: list[float] = []
        self.previous = None                  # (time, frame) of the last frame seen

    def see(self, t: float, frame) -> None:
        if self.times is None:
            self.kept.append(self.convert(frame))
            self.kept_times.append(t)
            return
        while len(self.kept) < len(self.times) and t >= self.times[len(self.kept)] - SAME_TIME:
            starts_at_want = t <= self.times[len(self.kept)] + SAME_TIME
            pt, pf = (t, frame) if starts_at_want or self.previous is None else self.previous
            self.kept.append(self.convert(pf))
            self.kept_times.append(pt)
        self.previous = (t, frame)

    def finish(self) -> None:
        """Wanted times after the last frame get the last frame."""
        if self.times is not None and self.previous is not None:
            while len(self.kept) < len(self.times):
                self.kept.append(self.convert(self.previous[1]))
                self.kept_times.append(self.previous[0])


def _decode(source: bytes | Path, name: str, limits: Limits, sampling: Sampling, with_audio: bool):
    """source: the bytes, or a file that FFmpeg reads as it decodes (never all in memory)."""
    import av  # (FFmpeg: only a video needs it)

    try:
        container = av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise input_error(name, f"not a readable video ({ffmpeg_reason(e)})") from None
    with container:
        if not container.streams.video:
            what = "an audio-only file" if container.streams.audio else "no pictures in it"
            raise input_error(name, f"not a video: {what}")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if width < 1 or height < 1:
            raise input_error(name, f"not a readable video (frames of {width}x{height} pixels)")
        _check_frame_size(width, height, name, limits)
        duration = _duration(container, stream)
        if duration is not None:
            _check_duration(duration, name, limits)
        out_w, out_h = sampling.size or (width, height)
        times = sampling.times(duration) if duration is not None else None
        expected = len(times) if times is not None else (stream.frames or None)
        if expected:
            _check_kept(expected, out_w, out_h, name, limits)
        audio_stream = container.streams.audio[0] if with_audio and container.streams.audio else None
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate and RATES[0] <= float(rate) <= RATES[1] else None
        picker = _Picker(times, lambda f: f.to_ndarray(width=out_w, height=out_h, format="rgb24"))
        chunks, audio_rate, decoded = [], None, 0
        stream.thread_type = "AUTO"
        start = stream.start_time * stream.time_base if stream.start_time is not None else 0
        try:
            for packet in container.demux(*(s for s in (stream, audio_stream) if s is not None)):
                if packet.stream is stream:
                    for frame in packet.decode():
                        t = float(frame.time - start) if frame.time is not None else decoded / (fps or 1.0)
                        decoded += 1
                        _check_duration(t, name, limits)
                        picker.see(t, frame)
                        if times is None:
                            _check_kept(len(picker.kept), out_w, out_h, name, limits)
                else:
                    for frame in packet.decode():
                        audio_rate = frame.sample_rate
                        chunks.append(frame.to_ndarray().astype(np.float32).reshape(len(frame.layout.channels), -1))
        except av.error.FFmpegError as e:
            raise input_error(name, f"truncated or corrupt video ({ffmpeg_reason(e)})") from None
        picker.finish()
        if decoded == 0:
            raise input_error(name, "video has no frames (empty or truncated)")
        if stream.frames and decoded < stream.frames:
            raise input_error(name, f"truncated video (decoded {decoded} of the {stream.frames} frames its header "
                                    f"lists)")
        audio = None
        if chunks:
            samples = np.concatenate(chunks, axis=1).mean(axis=0).astype(np.float32)
            if samples.size:
                audio = Audio(np.clip(samples, -1.0, 1.0), audio_rate, name)
        frames = np.stack(picker.kept)
        if fps is None:
            fps = (decoded - 1) / picker.previous[0] if decoded > 1 and picker.previous[0] > 0 else 1.0
        total = duration if duration is not None else picker.previous[0] + 1.0 / fps
        return frames, np.asarray(picker.kept_times), min(max(fps, RATES[0]), RATES[1]), total, audio


def _duration(container, stream) -> float | None:
    """Seconds, from the stream's header, else the container's; None when neither says."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _frames_array(x: object, name: str, limits: Limits) -> np.ndarray:
    """uint8 [T, H, W, 3] from an array of frames or a list of images (each checked as an Image)."""
    if isinstance(x, np.ndarray):
        if x.ndim not in (3, 4):
            raise input_error(name, f"wrong layout {x.shape} for frames (expected [T, H, W, 3] or [T, H, W])")
        if len(x) == 0:
            raise input_error(name, "video has no frames")
        items = list(x)
    else:
        items = list(x)
        if not items:
            raise input_error(name, "video has no frames")
    frames = [as_array(Image.open(item, limits)) for item in items]
    if len({f.shape for f in frames}) > 1:
        raise input_error(name, f"frames differ in size ({frames[0].shape[:2]} and others)")
    _check_frame_size(frames[0].shape[1], frames[0].shape[0], name, limits)
    _check_kept(len(frames), frames[0].shape[1], frames[0].shape[0], name, limits)
    return np.stack(frames)


@dataclass(frozen=True, eq=False)
class Video:
    """`frames` uint8 [T, H, W, 3] and `times` float [T] (seconds from the start), read-only;
    `fps` the source's frame rate; `duration` in seconds; `audio` the track, mono, if any."""

    frames: np.ndarray
    times: np.ndarray
    fps: float
    duration: float
    audio: Audio | None = None
    source: str = "<frames>"

    def __post_init__(self) -> None:
        f, t = self.frames, self.times
        if not (isinstance(f, np.ndarray) and f.dtype == np.uint8 and f.ndim == 4 and f.shape[3] == 3):
            raise input_error(self.source, "Video.frames must be uint8 [T, H, W, 3]; use Video.open to convert")
        if len(f) == 0 or f.shape[1] == 0 or f.shape[2] == 0:
            raise input_error(self.source, f"video has no frames (shape {f.shape})")
        t = np.asarray(t, dtype=np.float64)
        if t.shape != (len(f),) or not np.isfinite(t).all() or (np.diff(t) < 0).any():
            raise input_error(self.source, "Video.times must be one finite, non-decreasing time per frame")
        if not (RATES[0] <= self.fps <= RATES[1]) or not (self.duration > 0 and math.isfinite(self.duration)):
            raise input_error(self.source, f"frame rate {self.fps!r} or duration {self.duration!r} out of range")
        object.__setattr__(self, "frames", readonly(f))
        object.__setattr__(self, "times", readonly(t))
        object.__setattr__(self, "fps", float(self.fps))
        object.__setattr__(self, "duration", float(self.duration))

    @classmethod
    def open(cls, x: object, limits: Limits = DEFAULT_LIMITS, frames: int | None = None, fps: float | None = None,
             size: tuple[int, int] | None = None, audio: bool = True, rate: float | None = None) -> Video:
        """From a path or bytes (any container and codec FFmpeg reads), an array [T, H, W, 3]
        or a list of images (then `rate`, the frame rate, is needed), or a `Video`.
        frames / fps / size: see the module's docstring; audio: keep the audio track."""
        sampling = Sampling(frames, fps, size)
        if isinstance(x, Video):
            return x.sampled(sampling)
        if isinstance(x, (np.ndarray, list, tuple)):
            name = "<frames>"
            if rate is None:
                raise input_error(name, "frames given as an array need their frame rate (rate=...)")
            rate = values.number(rate, "frame rate", RATES[0], RATES[1])
            array = _frames_array(x, name, limits)
            video = cls(array, np.arange(len(array)) / rate, rate, len(array) / rate, None, name)
            _check_duration(video.duration, name, limits)
            return video.sampled(sampling)
        source, name = readable(x, limits, "a path, bytes, an array of frames or a list of images",
                                limits.max_video_file_bytes)
        array, times, source_fps, duration, track = _decode(source, name, limits, sampling, audio)
        return cls(array, times, source_fps, duration, track, name)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.frames.shape[2], self.frames.shape[1]

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, i: int) -> Image:
        return Image(self.frames[i], f"{self.source}[{i}]")

    def sampled(self, sampling: Sampling) -> Video:
        """The frames `sampling` picks (those on screen at its times), at its size."""
        if sampling == ALL_FRAMES:
            return self
        picker = _Picker(sampling.times(self.duration), lambda f: f)
        for t, f in zip(self.times, self.frames):
            picker.see(float(t), f)
        picker.finish()
        frames = np.stack(picker.kept)
        if sampling.size is not None and sampling.size != self.size:
            frames = np.stack([Image(f).resized(*sampling.size).array for f in frames])
        return Video(frames, np.asarray(picker.kept_times), self.fps, self.duration, self.audio, self.source)

    def encoded(self, suffix: str = ".mp4", crf: int = 18) -> bytes:
        """The clip as the file `save` would write (format by `suffix`), in memory."""
        writer = WRITERS.get(suffix.lower())
        if writer is None:
            raise input_error(self.source, f"cannot encode a video as {suffix or 'no suffix'} (known: {', '.join(WRITERS)})")
        buffer = io.BytesIO()
        self._write(buffer, writer, values.number(crf, "crf", 0, 51, integer=True))
        return buffer.getvalue()

    def save(self, path: str | os.PathLike, crf: int = 18) -> None:
        """MP4 or MKV (H.264), WebM (VP9) or GIF, by the suffix, with the audio track where the
        format has one; written to a temporary file and renamed, so no half-written clip is
        left. crf: H.264/VP9 quality, 0 (lossless) to 51."""
        path = Path(path)
        writer = WRITERS.get(path.suffix.lower())
        if writer is None:
            raise input_error(str(path), f"cannot save a video as {path.suffix or 'no suffix'} "
                                         f"(known: {', '.join(WRITERS)})")
        crf = values.number(crf, "crf", 0, 51, integer=True)
        try:
            files.atomic_write(path, lambda tmp: self._write(tmp, writer, crf))
        except OSError as e:
            raise input_error(str(path), f"cannot save video ({e.strerror or e})") from None

    def _write(self, target: str | io.BytesIO, writer: tuple, crf: int) -> None:
        import av

        container_format, codec, audio_codec = writer
        rate = Fraction(self.fps).limit_denominator(1001)
        with av.open(target, "w", format=container_format) as out:
            stream = out.add_stream(codec, rate=rate)
            stream.width, stream.height = self.size
            even = self.size[0] % 2 == 0 and self.size[1] % 2 == 0
            if codec == "gif":
                stream.pix_fmt = "rgb8"
            else:
                stream.pix_fmt = "yuv420p" if even else "yuv444p"
                stream.options = {"crf": str(crf)}
            sound = None
            if audio_codec and self.audio is not None:
                track = self.audio.resampled(OPUS_RATE) if audio_codec == "libopus" else self.audio
                sound = out.add_stream(audio_codec, rate=track.rate)
                sound.layout = "mono"
            for i, array in enumerate(self.frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
                frame.pts, frame.time_base = i, 1 / rate
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
            if sound is not None:
                samples = av.AudioFrame.from_ndarray(track.waveform[None].copy(), format="flt", layout="mono")
                samples.sample_rate, samples.pts = track.rate, 0
                out.mux(sound.encode(samples))
                out.mux(sound.encode())
