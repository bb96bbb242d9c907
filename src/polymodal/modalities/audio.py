"""Audio: mono float32 samples and their rate, opened from a file, bytes or a waveform."""
from __future__ import annotations

import io
import itertools
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np
import soundfile as sf

from ..core.errors import ConfigError
from .inputs import DEFAULT_LIMITS, Limits, ffmpeg_reason, input_error, read_bytes, readonly, too_large

_MAX_CHANNELS = 8  # a 2-D waveform's smaller side counts as channels only up to this many
RATES = (1_000, 384_000)  # sample rates accepted, in Hz: from telephone-band recordings to studio ones
MAX_RATIO_TERM = 1_000    # resampling by p/q with p, q <= this: the filter (and its cost) stays small


def _is_rate(rate: object) -> bool:
    return isinstance(rate, (int, np.integer)) and not isinstance(rate, bool) and RATES[0] <= rate <= RATES[1]


def _rate_problem(rate: object) -> str:
    return f"sample rate {rate!r} Hz is outside the accepted {RATES[0]:,}-{RATES[1]:,} Hz"


def resampling_ratio(rate_from: int, rate_to: int) -> Fraction:
    """rate_to / rate_from as p/q with p and q at most MAX_RATIO_TERM: exact for the usual
    rates (44,100 -> 16,000 is 160/441), and within a few parts per million for odd ones."""
    ratio = Fraction(rate_to, rate_from)
    if ratio <= 1:
        return ratio.limit_denominator(MAX_RATIO_TERM)
    return 1 / (1 / ratio).limit_denominator(MAX_RATIO_TERM)


def _sf_reason(e: Exception) -> str:
    """libsndfile's own words, without soundfile's prefix (which may hold a BytesIO repr)."""
    return (getattr(e, "error_string", "") or str(e)).rstrip(".")


def _check_duration(frames: int, rate: int, name: str, limits: Limits) -> None:
    if frames > limits.max_audio_seconds * rate:
        raise too_large(name, f"audio is {frames / rate:.1f} s long, over the limit of {limits.max_audio_seconds:g} s")


def _check_wav_complete(data: bytes, name: str) -> None:
    """Reject a WAV whose data chunk is shorter than its header says.

    libsndfile reads such a file without error: it clamps the frame count to the bytes
    present, so neither an exception nor soundfile.info's frame count reveals the cut.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if data[pos : pos + 4] == b"data":
            held = len(data) - pos - 8
            if size != 0xFFFFFFFF and size > held:  # 0xFFFFFFFF: streamed, length unknown
                raise input_error(name, f"truncated WAV file (header promises {size} data bytes, file holds {held})")
            return
        pos += 8 + size + (size & 1)  # chunks are padded to even length


def _decode_audio(data: bytes, name: str, limits: Limits) -> tuple[np.ndarray, int]:
    """[channels, frames] float32 samples and the rate of a file soundfile can read (an MPEG
    audio file: FFmpeg, `_decode_mpeg`)."""
    if _is_mpeg_audio(data):
        return _decode_mpeg(data, name, limits)
    _check_wav_complete(data, name)
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            if not _is_rate(f.samplerate):                          # a header may claim any rate
                raise input_error(name, _rate_problem(f.samplerate))
            _check_duration(f.frames, f.samplerate, name, limits)  # before decoding anything
            samples = f.read(dtype="float32", always_2d=True)
            if len(samples) < f.frames:
                raise input_error(name, f"truncated audio file (read {len(samples)} of {f.frames} frames)")
            return samples.T, f.samplerate
    except (sf.SoundFileError, RuntimeError) as e:  # LibsndfileError is both
        raise input_error(name, f"not a readable audio file ({_sf_reason(e)})") from None


MPEG_FRAME = 1152   # samples in an MPEG-1 Layer II/III frame, the longest MPEG audio frame


def _is_mpeg_audio(data: bytes) -> bool:
    """An MP3 (MP2, MP1): an ID3v2 tag first, or an MPEG audio frame's sync bits and a layer."""
    return data[:3] == b"ID3" or (len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0
                                  and data[1] & 0x06 != 0)


def _decode_mpeg(data: bytes, name: str, limits: Limits) -> tuple[np.ndarray, int]:
    """[channels, samples] float32 and the rate of an MPEG audio file, through FFmpeg (PyAV).
    libsndfile reads an MP3 only as far as its length as it reckons it: exact where the file
    has a Xing/Info header, else estimated from the first frame's bit rate, which cut a
    variable-rate file without the header to a fifth, silently, and (through libmpg123) it
    prints warnings of its own on stderr. FFmpeg decodes every frame. Its length is exact
    from the header, else estimated from the file's size (a found recording: 25,919.8 samples
    against 25,920 decoded); a file shorter than that by more than a frame is truncated."""
    import av  # bundles FFmpeg; imported only for MPEG audio
    chunks = []
    try:
        with av.open(io.BytesIO(data), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise input_error(name, "not a readable audio file (no audio stream)")
            stream = container.streams.audio[0]
            rate = stream.rate
            if not _is_rate(rate):
                raise input_error(name, _rate_problem(rate))
            expected = None if stream.duration is None else int(stream.duration * stream.time_base * rate)
            if expected is not None:
                _check_duration(expected, rate, name, limits)           # before decoding anything
            planar = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
            decoded = 0
            for frame in itertools.chain(container.decode(stream), [None]):   # None: what the converter holds
                for out in planar.resample(frame):
                    chunks.append(out.to_ndarray())
                    decoded += out.samples
                    _check_duration(decoded, rate, name, limits)        # a header may understate it
    except (av.error.FFmpegError, ValueError) as e:
        raise input_error(name, f"not a readable audio file ({ffmpeg_reason(e)})") from None
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((1, 0), np.float32)
    if expected is not None and samples.shape[1] < expected - MPEG_FRAME:
        raise input_error(name, f"truncated audio file (decoded {samples.shape[1]} of {expected} frames)")
    return samples.astype(np.float32, copy=False), rate


def _channels_first(waveform: object, name: str) -> np.ndarray:
    """[channels, samples] from a 1-D or a 2-D waveform of either orientation."""
    w = np.asarray(waveform)
    if w.size == 0:
        raise input_error(name, f"no audio samples (shape {w.shape})")
    if not np.issubdtype(w.dtype, np.floating):
        raise input_error(name, f"unsupported dtype {w.dtype} (expected float samples in [-1, 1])")
    if w.ndim == 1:
        return w[None]
    if w.ndim == 2 and min(w.shape) <= _MAX_CHANNELS:
        return w if w.shape[0] <= w.shape[1] else w.T
    raise input_error(name, f"wrong channel layout {w.shape} (expected [samples], or 2-D with at most {_MAX_CHANNELS} channels)")


def _to_mono(channels: np.ndarray, name: str, mono: str) -> np.ndarray:
    if channels.shape[0] > 1:
        if mono == "error":
            raise input_error(name, f"audio has {channels.shape[0]} channels, mono required")
        channels = channels.mean(axis=0, keepdims=True)
    return np.ascontiguousarray(channels[0], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono audio: `waveform` is float32 [n] and read-only, `rate` in Hz; `source` names its origin."""

    waveform: np.ndarray
    rate: int
    source: str = "<waveform>"

    def __post_init__(self) -> None:
        w, rate = self.waveform, self.rate
        if not (isinstance(w, np.ndarray) and w.dtype == np.float32 and w.ndim == 1):
            raise input_error(self.source, "Audio.waveform must be float32 1-D; use Audio.open to convert")
        if not _is_rate(rate):
            raise input_error(self.source, _rate_problem(rate))
        if w.size == 0:
            raise input_error(self.source, "no audio samples (empty or truncated)")
        if not np.isfinite(w).all():
            raise input_error(self.source, "audio contains NaN or infinite samples")
        object.__setattr__(self, "waveform", readonly(w))
        object.__setattr__(self, "rate", int(rate))

    @classmethod
    def open(cls, x: object, limits: Limits = DEFAULT_LIMITS, mono: Literal["mix", "error"] = "mix") -> Audio:
        """From a path or bytes (WAV, FLAC, OGG, MP3...), a (waveform, rate) tuple, or an `Audio`."""
        if mono not in ("mix", "error"):
            raise ConfigError(f"mono must be 'mix' or 'error', not {mono!r}")
        if isinstance(x, Audio):
            return x
        if isinstance(x, tuple) and len(x) == 2:
            name = "<waveform>"
            channels, rate = _channels_first(x[0], name), x[1]
        else:
            data, name = read_bytes(x, limits, "a path, bytes or a (waveform, rate) tuple")
            channels, rate = _decode_audio(data, name, limits)
        audio = cls(_to_mono(channels, name, mono), rate, name)
        _check_duration(len(audio.waveform), audio.rate, name, limits)
        if len(audio.waveform) < limits.min_audio_samples:
            raise input_error(name, f"audio has {len(audio.waveform)} samples, fewer than {limits.min_audio_samples}")
        return audio

    @property
    def duration(self) -> float:
        """Seconds."""
        return len(self.waveform) / self.rate

    def resampled(self, rate: int) -> Audio:
        """Polyphase resampling by rate/self.rate (resampling_ratio; its own anti-alias filter)."""
        if rate == self.rate:
            return self
        if not _is_rate(rate):
            raise input_error(self.source, f"cannot resample: {_rate_problem(rate)}")
        ratio = resampling_ratio(self.rate, int(rate))
        from scipy.signal import resample_poly  # here: scipy.signal takes ~0.5 s to import
        waveform = resample_poly(self.waveform, ratio.numerator, ratio.denominator)
        return Audio(waveform.astype(np.float32), int(rate), self.source)

    def windows(self, rate: int, seconds: float) -> list[Audio]:
        """The audio at `rate`, cut into windows of at most `seconds` (a recogniser's encoder
        has finitely many positions: a 10-minute file becomes 30 windows of 20 s, whose
        transcripts are joined). A last window under a tenth of a second is dropped."""
        audio = self.resampled(rate)
        step = int(seconds * rate)
        waves = [audio.waveform[i:i + step] for i in range(0, len(audio.waveform), step)]
        return [Audio(np.ascontiguousarray(w), rate, audio.source) for w in waves if len(w) >= rate // 10] or [audio]

    def save(self, path: str | os.PathLike) -> None:
        """16-bit PCM WAV; libsndfile clips samples outside [-1, 1]."""
        try:
            sf.write(path, self.waveform, self.rate, subtype="PCM_16", format="WAV")
        except (sf.SoundFileError, RuntimeError, OSError) as e:
            raise input_error(str(path), f"cannot save audio ({_sf_reason(e)})") from None
