"""The spoken world: every sentence of the embedded world spoken by the split's voices, at
16 kHz, optionally with background noise at a chosen signal-to-noise ratio."""
from __future__ import annotations

import numpy as np

from ...processors.audio import add_noise
from ...speech.espeak import Voice, synthesize
from .voices import draw_voice

RATE = 16000            # what the recognisers take; eSpeak speaks at 22,050 Hz


def resample(wave: np.ndarray, native: int, rate: int = RATE) -> np.ndarray:
    # Imported here: scipy.signal takes ~1 s to import, and every command that loads a model
    # imports this module through the engine registry.
    from scipy.signal import resample_poly
    g = np.gcd(rate, native)
    return resample_poly(wave, rate // g, native // g).astype(np.float32)


MEMO_LIMIT = 60_000      # utterances kept (as 16-bit: ~2.5 s each, 80 kB; ~5 GB at most)
_memo: dict[tuple, np.ndarray] = {}


def speak(text: str, voice: Voice, rate: int = RATE) -> np.ndarray:
    """float32 mono waveform of `text` at `rate` Hz.

    Training speaks the same utterances every epoch, and synthesis costs more than a
    training step of the recogniser on this CPU (about 30 ms each, 1 s per batch of 32), so
    each rendition is kept, as 16-bit samples, for the life of the process."""
    key = (text, voice, rate)
    if key not in _memo:
        wave, native = synthesize(text, voice)
        wave = resample(wave, native, rate)
        if len(_memo) >= MEMO_LIMIT:
            _memo.pop(next(iter(_memo)))
        _memo[key] = (np.clip(wave, -1, 1) * 32767).astype(np.int16)
    return _memo[key].astype(np.float32) / 32767


def noisy(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """White noise at snr_db (speech power over noise power, over the whole utterance),
    clipped to [-1, 1] as a recording would be."""
    return np.clip(add_noise(wave, snr_db, rng), -1.0, 1.0)


def spoken(text: str, split: str, rng: np.random.Generator, snr_db: float | None = None) -> tuple[np.ndarray, Voice]:
    """One utterance of `text` in a voice of `split`: (16 kHz waveform, the voice)."""
    voice = draw_voice(split, rng)
    wave = speak(text, voice)
    return (noisy(wave, snr_db, rng) if snr_db is not None else wave), voice
