"""Audio -> normalised log-mel features, in numpy only (torchaudio is not a dependency).

Also small pure augmentations for training: of waveforms (noise, speed, gain) and of
features (a vocal-tract warp, a tempo change and SpecAugment masks).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import torch

from ..core.errors import InputError
from ..modalities import Audio


@dataclass(frozen=True)
class LogMelConfig:
    sample_rate: int = 16000
    n_fft: int = 400            # 25 ms window at 16 kHz
    hop_length: int = 160       # 10 ms hop
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float | None = None  # None -> sample_rate / 2
    log_floor: float = 1e-5     # mel power is clipped here so silence gives a finite log

    @property
    def top(self) -> float:
        return self.sample_rate / 2 if self.f_max is None else self.f_max


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_centres(cfg: LogMelConfig) -> np.ndarray:
    """Centre frequency (Hz) of each mel filter: n_mels points evenly spaced in mel."""
    edges = np.linspace(_hz_to_mel(cfg.f_min), _hz_to_mel(cfg.top), cfg.n_mels + 2)
    return _mel_to_hz(edges)[1:-1]


@lru_cache(maxsize=16)
def mel_filterbank(cfg: LogMelConfig) -> np.ndarray:
    """[n_mels, n_fft//2 + 1] HTK-scale triangles with peak 1 and no area normalisation
    (torchaudio's MelSpectrogram default), so a pure tone peaks in the filter whose centre
    is nearest to it. Cached: the config is frozen, hence hashable. Do not mutate the result."""
    if not 0 <= cfg.f_min < cfg.top <= cfg.sample_rate / 2:
        raise InputError(f"mel range f_min={cfg.f_min} f_max={cfg.top} invalid for rate {cfg.sample_rate}")
    edges = _mel_to_hz(np.linspace(_hz_to_mel(cfg.f_min), _hz_to_mel(cfg.top), cfg.n_mels + 2))
    freqs = np.linspace(0.0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lo) / (mid - lo)
    falling = (hi - freqs) / (hi - mid)
    bank = np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32)
    bank.flags.writeable = False
    return bank


def num_frames(n_samples: int, cfg: LogMelConfig) -> int:
    """Frames of a centred STFT (padded n_fft//2 each side): 1 + n // hop for even n_fft."""
    return 1 + (n_samples + 2 * (cfg.n_fft // 2) - cfg.n_fft) // cfg.hop_length


def log_mel(waveform: np.ndarray, cfg: LogMelConfig = LogMelConfig()) -> np.ndarray:
    """[n_mels, num_frames(len)] natural-log mel power of a mono waveform at cfg.sample_rate."""
    x = np.asarray(waveform, dtype=np.float32).reshape(-1)
    half = cfg.n_fft // 2
    # Zero (not reflect) padding: works for clips shorter than half a window too.
    x = np.pad(x, (half, half))
    frames = np.lib.stride_tricks.sliding_window_view(x, cfg.n_fft)[:: cfg.hop_length]
    n = np.arange(cfg.n_fft)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * n / cfg.n_fft)).astype(np.float32)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2  # [frames, bins]
    mel = mel_filterbank(cfg) @ power.T.astype(np.float32)
    return np.log(np.maximum(mel, cfg.log_floor)).astype(np.float32)


def normalise(features: np.ndarray) -> np.ndarray:
    """Per-utterance scalar mean/std. Chosen over fixed dataset constants because it needs no
    corpus statistics to ship, is independent of batch composition (so padding cannot change
    a clip's features) and makes the model invariant to recording level. One scalar (not
    per-bin) keeps the spectral shape. Cost: absolute loudness is lost."""
    std = max(float(features.std()), 1e-3)  # silence: avoid dividing by ~0
    return ((features - features.mean()) / std).astype(np.float32)


class AudioProcessor:
    """Audio values (or anything Audio.open takes, e.g. (waveform, rate) tuples) ->
    {"features": FloatTensor [B, n_mels, F], "mask": BoolTensor [B, F]}.

    Clips longer than max_frames frames are cropped to their start (the encoder's position
    table is finite); shorter ones are zero-padded to the longest in the batch, mask False there.
    """

    def __init__(self, cfg: LogMelConfig = LogMelConfig(), max_frames: int | None = None):
        self.cfg = cfg
        self.max_frames = max_frames

    def features(self, item) -> np.ndarray:
        audio = Audio.open(item)  # an Audio passes through; tuples, paths and bytes are checked
        wave = audio.resampled(self.cfg.sample_rate).waveform
        feats = normalise(log_mel(wave, self.cfg))
        return feats[:, : self.max_frames] if self.max_frames else feats

    def is_features(self, item) -> bool:
        """Cached data may hand over features this processor made: float32 [n_mels, frames]."""
        return isinstance(item, np.ndarray) and item.ndim == 2 and item.dtype == np.float32 \
            and item.shape[0] == self.cfg.n_mels

    def __call__(self, items) -> dict[str, torch.Tensor]:
        """items: audio values, or (for cached data) arrays of features this processor made."""
        if not items:
            raise InputError("audio batch is empty")
        feats = [item if self.is_features(item) else self.features(item) for item in items]
        longest = max(f.shape[1] for f in feats)
        out = np.zeros((len(feats), self.cfg.n_mels, longest), dtype=np.float32)
        mask = np.zeros((len(feats), longest), dtype=bool)
        for i, f in enumerate(feats):
            out[i, :, : f.shape[1]] = f
            mask[i, : f.shape[1]] = True
        return {"features": torch.from_numpy(out), "mask": torch.from_numpy(mask)}


# --- augmentations: pure functions on float waveforms, for training only -------------------

def add_noise(waveform: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise scaled so that signal power / noise power is exactly snr_db."""
    x = np.asarray(waveform, dtype=np.float64)
    noise = rng.standard_normal(x.shape)
    signal_power = np.mean(x**2)
    scale = np.sqrt(signal_power / (np.mean(noise**2) * 10 ** (snr_db / 10))) if x.size else 0.0
    return (x + scale * noise).astype(np.float32)


def change_speed(waveform: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (tape-style: pitch shifts too); length becomes ~len/factor."""
    if factor <= 0:
        raise InputError(f"speed factor must be positive, got {factor}")
    # Imported here: scipy.signal takes ~1 s to import, and this module is on every command's path.
    from scipy.signal import resample_poly
    ratio = Fraction(factor).limit_denominator(100)  # keeps resample_poly's filter small
    out = resample_poly(np.asarray(waveform, dtype=np.float64), ratio.denominator, ratio.numerator)
    return out.astype(np.float32)


def change_gain(waveform: np.ndarray, db: float) -> np.ndarray:
    """Scale amplitude by db decibels (+6 dB ~ x2). Not clipped: features are computed in float.
    Note: per-utterance normalisation largely cancels gain; it still shifts what the log floor hides."""
    return (np.asarray(waveform, dtype=np.float32) * np.float32(10 ** (db / 20))).astype(np.float32)


# --- augmentations of features: for cached log-mels, where re-speaking would cost too much ----

def warp_frequency(features: np.ndarray, alpha: float, cfg: LogMelConfig) -> np.ndarray:
    """A speaker with a vocal tract 1/alpha as long: the energy at f Hz moves to alpha*f
    (vocal tract length perturbation), done on the mel axis by interpolating between bins."""
    centres = mel_centres(cfg)
    source = np.interp(centres / alpha, centres, np.arange(cfg.n_mels))   # fractional bin to read
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, cfg.n_mels - 1)
    share = (source - low)[:, None].astype(np.float32)
    return (features[low] * (1 - share) + features[high] * share).astype(np.float32)


def change_tempo(features: np.ndarray, factor: float) -> np.ndarray:
    """Frames read `factor` times faster (the spectrum unchanged): linear interpolation in time."""
    frames = features.shape[1]
    wanted = max(1, int(round(frames / factor)))
    at = np.linspace(0, frames - 1, wanted)
    low = np.floor(at).astype(int)
    high = np.minimum(low + 1, frames - 1)
    share = (at - low).astype(np.float32)
    return (features[:, low] * (1 - share) + features[:, high] * share).astype(np.float32)


def mask_features(features: np.ndarray, rng: np.random.Generator, bands: int = 2, band_width: int = 8,
                  spans: int = 2, span_share: float = 0.08) -> np.ndarray:
    """SpecAugment: a few mel bands and time spans set to 0, the normalised features' mean."""
    out = features.copy()
    n_mels, frames = out.shape
    for _ in range(bands):
        width = int(rng.integers(0, band_width + 1))
        start = int(rng.integers(0, max(1, n_mels - width)))
        out[start:start + width] = 0.0
    for _ in range(spans):
        width = int(rng.integers(0, max(1, int(span_share * frames)) + 1))
        start = int(rng.integers(0, max(1, frames - width)))
        out[:, start:start + width] = 0.0
    return out


def augment_features(features: np.ndarray, rng: np.random.Generator, cfg: LogMelConfig,
                     warp: tuple = (0.88, 1.12), tempo: tuple = (0.85, 1.15)) -> np.ndarray:
    """A training copy of normalised log-mel features as another voice might give them:
    vocal tract warped, tempo changed, then masked (SpecAugment)."""
    out = warp_frequency(features, float(rng.uniform(*warp)), cfg)
    out = change_tempo(out, float(rng.uniform(*tempo)))
    return mask_features(out, rng)
