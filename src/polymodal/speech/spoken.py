"""The spoken world: every sentence of the embedded world spoken by the split's voices, at
16 kHz, optionally with background noise at a chosen signal-to-noise ratio."""
from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

from ..processors.audio import add_noise
from .espeak import Voice, synthesize
from .voices import draw_voice

RATE = 16000            # what the recognisers take; eSpeak speaks at 22,050 Hz


def resample(wave: np.ndarray, native: int, rate: int = RATE) -> np.ndarray:
    g = np.gcd(rate, native)
    return resample_poly(wave, rate // g, native // g).astype(np.float32)


def speak(text: str, voice: Voice, rate: int = RATE) -> np.ndarray:
    """float32 mono waveform of `text` at `rate` Hz."""
    wave, native = synthesize(text, voice)
    return resample(wave, native, rate)


def noisy(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise at snr_db (speech power over noise power, over the whole utterance),
    clipped to [-1, 1] as a recording would be."""
    return np.clip(add_noise(wave, snr_db, rng), -1.0, 1.0)


def spoken(text: str, split: str, rng: np.random.Generator, snr_db: float | None = None) -> tuple[np.ndarray, Voice]:
    """One utterance of `text` in a voice of `split`: (16 kHz waveform, the voice)."""
    voice = draw_voice(split, rng)
    wave = speak(text, voice)
    return (noisy(wave, snr_db, rng) if snr_db is not None else wave), voice
