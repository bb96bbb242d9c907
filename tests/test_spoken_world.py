"""The spoken world: eSpeak NG synthesis, voices kept apart by split, noise at a chosen SNR,
and `data shapes --spoken`."""
import json

import numpy as np
import pytest
import soundfile as sf

from polymodal.cli.main import main
from polymodal.core.errors import InputError
from polymodal.data.spoken import synthesis as spoken_mod
from polymodal.data.spoken.voices import SPLIT_VOICES, all_voices, draw_voice
from polymodal.speech.espeak import Voice, synthesize


def test_synthesis_gives_speech_whose_length_follows_the_text_and_rate():
    short, rate = synthesize("red", Voice())
    long, _ = synthesize("what is the shape of the object furthest from the red object?", Voice())
    slow, _ = synthesize("what is the shape of the object furthest from the red object?", Voice(rate=120))
    assert rate == 22050 and short.dtype == np.float32
    assert 0.2 < len(short) / rate < len(long) / rate < len(slow) / rate < 8
    assert 0.05 < np.abs(long).max() <= 1.0


def test_voices_differ_and_bad_voices_or_texts_are_input_errors():
    a, _ = synthesize("is the red object on the left?", Voice("en-us", "m1"))
    b, _ = synthesize("is the red object on the left?", Voice("en-gb-scotland", "f4"))
    assert len(a) != len(b) or not np.allclose(a, b)
    with pytest.raises(InputError, match="no language"):
        synthesize("hello", Voice("xx-nowhere"))
    with pytest.raises(InputError, match="empty"):
        synthesize("   ", Voice())


def test_test_voices_are_never_heard_in_training():
    train, test, val = (set(all_voices(s)) for s in ("train", "test", "val"))
    assert not train & test and not train & val and not val & test
    # not even the accent or the variant is shared, by any voice set training may use
    for training in ("train", "train-accents"):
        for part in (0, 1):
            assert not set(SPLIT_VOICES[training][part]) & (set(SPLIT_VOICES["test"][part]) | set(SPLIT_VOICES["val"][part]))
    rng = np.random.default_rng(0)
    assert all(draw_voice("test", rng).name in test for _ in range(50))


@pytest.mark.parametrize("snr", [0.0, 10.0, 20.0])
def test_noise_is_added_at_the_requested_snr(snr):
    rng = np.random.default_rng(1)
    clean = (0.3 * np.sin(np.arange(16000 * 3) / 7.0)).astype(np.float32)
    noisy = spoken_mod.noisy(clean, snr, rng)
    measured = 10 * np.log10(np.mean(clean ** 2) / np.mean((noisy - clean) ** 2))
    assert abs(measured - snr) < 0.3


def test_export_spoken_questions(tmp_path):
    assert main(["data", "shapes", "--split", "test", "--seed", "2", "--n", "2", "--out", str(tmp_path),
                 "--spoken", "--noise-snr", "15"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and all(r["transcript"] == r["question"] for r in rows)
    test_voices = set(all_voices("test"))
    assert all(r["voice"].split("@")[0] in test_voices for r in rows)
    wave, rate = sf.read(tmp_path / rows[0]["audio"])
    assert rate == 16000 and wave.ndim == 1 and 1.0 < len(wave) / rate < 6.0


def test_noise_needs_spoken(tmp_path, capsys):
    assert main(["data", "shapes", "--n", "1", "--out", str(tmp_path), "--noise-snr", "10"]) == 2
    assert "--spoken" in capsys.readouterr().err
