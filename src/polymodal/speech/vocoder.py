"""Log-mel frames back to a waveform: each mel band's power spread back over the FFT bins it
covers gives a linear magnitude spectrogram, and Griffin-Lim finds phases consistent with it
(no trained vocoder)."""
from __future__ import annotations

import numpy as np
import torch

from ..processors.audio import LogMelConfig, mel_filterbank


def mel_to_magnitude(log_mel: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    """[n_mels, frames] natural-log mel power -> [n_fft//2 + 1, frames] linear magnitude.

    Each band's power per bin (its power over its filter's total weight), averaged over the
    bands that cover a bin, weighted by their filters. Not the filterbank's pseudo-inverse:
    that undoes an exact log-mel well, but turns the small errors of a predicted one into
    large alternating bin powers that a recogniser cannot hear through (the tts-spoken-world
    model card gives the figures)."""
    bank = mel_filterbank(cfg).astype(np.float64)
    per_bin = np.exp(log_mel) / np.maximum(bank.sum(1, keepdims=True), 1e-8)
    power = (bank.T @ per_bin) / np.maximum(bank.sum(0)[:, None], 1e-8)
    return np.sqrt(power)


def griffin_lim(magnitude: np.ndarray, cfg: LogMelConfig, iterations: int = 48, seed: int = 0) -> np.ndarray:
    """A waveform whose STFT magnitude approximates `magnitude` (fast Griffin-Lim, momentum 0.99)."""
    window = torch.hann_window(cfg.n_fft, periodic=True)
    mag = torch.from_numpy(magnitude.astype(np.float32))
    rng = np.random.default_rng(seed)
    angles = torch.from_numpy(np.exp(2j * np.pi * rng.random(mag.shape)).astype(np.complex64))
    previous = torch.zeros_like(angles)
    length = (mag.shape[1] - 1) * cfg.hop_length

    def istft(spec):
        return torch.istft(spec, cfg.n_fft, cfg.hop_length, window=window, center=True, length=length)

    for _ in range(iterations):
        wave = istft(mag * angles)
        rebuilt = torch.stft(wave, cfg.n_fft, cfg.hop_length, window=window, center=True, return_complex=True)
        accelerated = rebuilt - 0.99 / (1 + 0.99) * previous
        previous = rebuilt
        angles = accelerated / accelerated.abs().clamp_min(1e-8)
    wave = istft(mag * angles).numpy()
    peak = np.abs(wave).max()
    return (wave / peak * 0.9 if peak > 0 else wave).astype(np.float32)


def vocode(log_mel: np.ndarray, cfg: LogMelConfig, iterations: int = 48) -> np.ndarray:
    return griffin_lim(mel_to_magnitude(log_mel, cfg), cfg, iterations)
