"""Log-mel features, the audio processor, the "logmel" encoder and waveform augmentations."""
import math

import numpy as np
import pytest
import torch

from polymodal.core.errors import InputError
from polymodal.encoders.audio import LogMelEncoder
from polymodal.encoders.registry import ENCODERS
from polymodal.modalities import Audio
from polymodal.processors.audio import (
    AudioProcessor,
    LogMelConfig,
    add_noise,
    augment_features,
    change_gain,
    change_speed,
    change_tempo,
    log_mel,
    mask_features,
    mel_centres,
    num_frames,
    warp_frequency,
)


def sine(freq: float, seconds: float, rate: int = 16000, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """A signal with structure (a sweep plus a little noise) so features vary over time."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    x = 0.4 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 0.05 * rng.standard_normal(t.shape)
    return x.astype(np.float32)


def test_sine_energy_peaks_in_nearest_mel_bin():
    cfg = LogMelConfig()
    feats = log_mel(sine(1000.0, 0.5), cfg)
    assert feats.shape[0] == cfg.n_mels
    expected = int(np.argmin(np.abs(mel_centres(cfg) - 1000.0)))
    peaks = feats[:, 2:-2].argmax(axis=0)  # edge frames are half zero padding
    assert (peaks == expected).all()
    # and it is a real peak, far above bins an octave away
    assert feats[expected].mean() - feats[np.argmin(np.abs(mel_centres(cfg) - 4000))].mean() > 5


def test_sine_peak_moves_with_frequency():
    cfg = LogMelConfig(n_mels=40)
    for freq in (300.0, 2500.0, 6000.0):
        peak = int(np.bincount(log_mel(sine(freq, 0.25), cfg).argmax(axis=0)).argmax())
        assert peak == int(np.argmin(np.abs(mel_centres(cfg) - freq))), freq


@pytest.mark.parametrize("n", [16, 159, 160, 161, 400, 16000, 16001])
def test_frame_count_formula(n):
    cfg = LogMelConfig()
    feats = log_mel(np.zeros(n, np.float32), cfg)
    assert feats.shape == (cfg.n_mels, 1 + n // cfg.hop_length) == (cfg.n_mels, num_frames(n, cfg))
    assert np.isfinite(feats).all()  # silence hits the log floor, not -inf
    assert np.allclose(feats, math.log(cfg.log_floor))


def test_processor_pads_masks_and_resamples():
    proc = AudioProcessor(LogMelConfig())
    long = Audio.open((chirp(1.0), 16000))
    short = (chirp(0.5, rate=22050), 22050)  # a tuple, resampled to 8000 samples at 16 kHz
    out = proc([long, short])
    feats, mask = out["features"], out["mask"]
    assert feats.dtype == torch.float32 and mask.dtype == torch.bool
    assert feats.shape == (2, 64, 101) and mask.shape == (2, 101)
    assert mask.sum(1).tolist() == [101, 1 + 8000 // 160]
    assert mask[1, :51].all() and not mask[1, 51:].any()
    assert (feats[1, :, 51:] == 0).all()
    # per-utterance normalisation: each clip's real frames have mean 0, std 1
    real = feats[1, :, :51]
    assert abs(real.mean().item()) < 1e-4 and abs(real.std(unbiased=False).item() - 1) < 1e-3
    # padding does not change a clip's features
    alone = proc([short])["features"][0]
    assert torch.equal(alone, feats[1, :, :51])


def test_processor_rejects_empty_batch():
    with pytest.raises(InputError):
        AudioProcessor()([])


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return ENCODERS.build("logmel", dim=32, layers=2, heads=4, n_mels=64)


def test_encoder_is_registered_with_config(encoder):
    assert isinstance(encoder, LogMelEncoder)
    assert encoder.modality == "audio" and encoder.dim == 32
    assert encoder.config == dict(dim=32, layers=2, heads=4, n_mels=64, sample_rate=16000, max_frames=3000)
    assert isinstance(encoder.processor, AudioProcessor)


def test_encoder_shapes_and_mask_downsampling(encoder):
    inputs = encoder.processor([(chirp(1.0), 16000), (chirp(0.3), 16000)])  # 101 and 31 frames
    emb = encoder.eval()(inputs)
    assert emb.tokens.shape == (2, 26, 32) and emb.pooled.shape == (2, 32)
    assert emb.mask.sum(1).tolist() == [26, 8]  # ceil(ceil(F / 2) / 2)
    assert (emb.tokens[1, 8:] == 0).all()


def test_padding_does_not_leak(encoder):
    encoder.eval()
    short = (chirp(0.37, seed=1), 16000)
    with torch.no_grad():
        batch = encoder(encoder.processor([(chirp(1.2), 16000), short]))
        alone = encoder(encoder.processor([short]))
    n = int(alone.mask.sum())
    assert int(batch.mask[1].sum()) == n
    assert torch.allclose(batch.pooled[1], alone.pooled[0], atol=1e-5)
    assert torch.allclose(batch.tokens[1, :n], alone.tokens[0, :n], atol=1e-5)


def test_forward_backward_has_no_nan(encoder):
    encoder.train()
    inputs = encoder.processor([(chirp(0.8), 16000), (chirp(0.2, seed=3), 16000)])
    emb = encoder(inputs)
    (emb.pooled.pow(2).sum() + emb.tokens.sum()).backward()
    assert torch.isfinite(emb.tokens).all() and torch.isfinite(emb.pooled).all()
    grads = [p.grad for p in encoder.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert encoder.conv1.weight.grad.abs().sum() > 0


def test_all_padding_row_gives_zeros_not_nan(encoder):
    inputs = encoder.processor([(chirp(0.3), 16000), (chirp(0.3), 16000)])
    inputs["mask"][1] = False
    emb = encoder.eval()(inputs)
    assert torch.isfinite(emb.tokens).all()
    assert (emb.pooled[1] == 0).all()


def test_encoder_rejects_wrong_mel_count(encoder):
    with pytest.raises(InputError):
        encoder({"features": torch.zeros(1, 40, 10), "mask": torch.ones(1, 10, dtype=torch.bool)})


def test_add_noise_hits_requested_snr():
    clean = sine(440.0, 1.0)
    noisy = add_noise(clean, 10.0, np.random.default_rng(0))
    noise = noisy.astype(np.float64) - clean
    snr = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise**2))
    assert abs(snr - 10.0) < 0.5
    assert noisy.dtype == np.float32 and noisy.shape == clean.shape


def test_change_speed_two_halves_length():
    x = chirp(1.0)
    fast = change_speed(x, 2.0)
    assert len(fast) == len(x) // 2 and fast.dtype == np.float32
    assert len(change_speed(x, 0.5)) == 2 * len(x)
    with pytest.raises(InputError):
        change_speed(x, 0.0)


def test_change_gain_six_db_doubles_amplitude():
    x = sine(440.0, 0.1)
    louder = change_gain(x, 6.0)
    assert np.abs(louder).max() / np.abs(x).max() == pytest.approx(2.0, rel=0.01)
    assert np.allclose(change_gain(x, -6.0), x / 2, rtol=0.01, atol=1e-6)


def test_frequency_warp_moves_a_tone_to_alpha_times_its_frequency():
    cfg = LogMelConfig(n_mels=80)
    centres = mel_centres(cfg)
    feats = log_mel(sine(1000.0, 0.3), cfg)
    assert np.array_equal(warp_frequency(feats, 1.0, cfg), feats)
    peak = warp_frequency(feats, 1.2, cfg)[:, 10].argmax()
    assert abs(centres[peak] - 1200.0) < (centres[peak + 1] - centres[peak - 1])


def test_tempo_change_and_masks_keep_the_feature_layout():
    cfg = LogMelConfig(n_mels=80)
    feats = AudioProcessor(cfg).features(Audio(chirp(1.0), 16000))
    assert change_tempo(feats, 1.25).shape == (80, round(feats.shape[1] / 1.25))
    assert np.allclose(change_tempo(feats, 1.0), feats)
    masked = mask_features(feats, np.random.default_rng(0), bands=1, band_width=80, spans=0)
    assert (masked == 0).all(axis=1).sum() >= 1 and np.array_equal(feats, AudioProcessor(cfg).features(Audio(chirp(1.0), 16000)))
    out = augment_features(feats, np.random.default_rng(1), cfg)
    # what the processor takes back as its own features: float32 [n_mels, frames]
    assert AudioProcessor(cfg).is_features(out) and not np.allclose(out[:, :feats.shape[1]], feats[:, :out.shape[1]])
