"""Pretrained speech architectures through transcribe / speak: tiny random Whisper and VITS
(MMS-TTS) models in Hugging Face layout, checked against transformers run directly."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from hf_tiny import build_vits, build_whisper

from polymodal.cli.main import main
from polymodal.inference.pipelines import load
from polymodal.loading import load_model


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-speech")
    return {"whisper": build_whisper(root / "whisper"), "vits": build_vits(root / "vits")}


def test_whisper_transcript_matches_transformers(dirs, tmp_path, capsys):
    wave = (np.sin(np.arange(16000 * 2) / 9.0) * 0.3).astype(np.float32)
    sf.write(tmp_path / "a.wav", wave, 16000)
    capsys.readouterr()
    assert main(["transcribe", str(tmp_path / "a.wav"), "--json", "--model", str(dirs["whisper"])]) == 0
    ours = json.loads(capsys.readouterr().out)["text"]
    adapter = load_model(dirs["whisper"])
    features = adapter.processor.feature_extractor([wave], sampling_rate=16000, return_tensors="pt")
    ids = adapter.model.generate(features["input_features"], max_new_tokens=56)
    assert ours == adapter.processor.tokenizer.batch_decode(ids, skip_special_tokens=True)[0].strip()


def test_whisper_reads_long_audio_in_windows(dirs):
    from polymodal.modalities import Audio
    adapter = load_model(dirs["whisper"])
    long = Audio(np.zeros(16000 * 10, np.float32), 16000)          # 10 s with a 3 s window
    assert len(adapter.transcribe_audios([long])) == 1


def test_whisper_in_bf16_is_whisper_as_transformers_runs_it_in_bf16(dirs):
    """precision="bf16" holds the whole model in bf16 (as a pipeline loaded with that dtype
    does) and gives transformers' bf16 transcript."""
    wave = (np.sin(np.arange(16000 * 2) / 9.0) * 0.3).astype(np.float32)
    pipeline = load("transcribe", str(dirs["whisper"]), precision="bf16")
    assert {p.dtype for p in pipeline.pipeline.model.model.parameters()} == {torch.bfloat16}
    ours = pipeline((wave, 16000)).text
    adapter = load_model(dirs["whisper"])
    adapter.model.to(torch.bfloat16)
    features = adapter.processor.feature_extractor([wave], sampling_rate=16000, return_tensors="pt")
    ids = adapter.model.generate(features["input_features"].to(torch.bfloat16), max_new_tokens=56)
    assert ours == adapter.processor.tokenizer.batch_decode(ids, skip_special_tokens=True)[0].strip()



def test_a_models_own_cap_on_new_tokens_is_kept(dirs, monkeypatch):
    """A generation config that caps new tokens (pipelines read it there) caps polymodal's
    decoding too; without one, the adapter's own cap (the decoder's positions) holds."""
    from polymodal.modalities import Audio
    adapter = load_model(dirs["whisper"])
    from polymodal.hf import whisper_greedy
    asked, generate, loop = [], adapter.model.generate, whisper_greedy.greedy_transcribe
    monkeypatch.setattr(adapter.model, "generate", lambda *a, **k: asked.append(k["max_new_tokens"]) or generate(*a, **k))
    monkeypatch.setattr(whisper_greedy, "greedy_transcribe", lambda m, audio, n: asked.append(n) or loop(m, audio, n))
    audio = Audio((np.sin(np.arange(16000 * 2) / 9.0) * 0.3).astype(np.float32), 16000)
    adapter.transcribe_audios([audio])
    adapter.model.generation_config.max_new_tokens = 7
    adapter.transcribe_audios([audio])
    assert asked == [64 - 8, 7]

def test_vits_speech_matches_transformers(dirs, tmp_path):
    assert main(["speak", "the red circle", "--out", str(tmp_path / "v.wav"), "--model", str(dirs["vits"])]) == 0
    wave, rate = sf.read(tmp_path / "v.wav")
    assert rate == 16000 and len(wave) > 100
    adapter = load_model(dirs["vits"])
    pipe = load("speak", str(dirs["vits"]))            # loading draws random numbers too: before the seed
    torch.manual_seed(3)                               # VITS samples its durations and noise
    ours = pipe("the red circle").waveform
    torch.manual_seed(3)
    with torch.no_grad():
        theirs = adapter.model(**adapter.processor.tokenizer("the red circle", return_tensors="pt")).waveform[0].numpy()
    assert np.allclose(ours, theirs, atol=1e-5)


def test_vits_refuses_characters_it_cannot_speak(dirs, tmp_path, capsys):
    assert main(["speak", "un café", "--out", str(tmp_path / "x.wav"), "--model", str(dirs["vits"])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot speak" in err


def test_eval_speak_with_hf_synthesiser_and_recogniser(dirs, capsys):
    capsys.readouterr()
    assert main(["eval", "speak", "--data", "spoken:test", "--n", "2", "--json", "--model", str(dirs["vits"]),
                 "--recognizer", str(dirs["whisper"])]) == 0
    assert json.loads(capsys.readouterr().out)["texts"] == 2


def test_whisper_encoder_mlp_runs_in_chunks_with_transformers_values(dirs, monkeypatch):
    """Whisper's encoder layers run their MLP a few windows at a time where the hidden
    activations would pass CHUNK_BYTES (hf/fast_layers.py): the encoder output of transformers'
    own unswitched model, the fewest chunks within it (5 windows, room for 2: 2 + 2 + 1), and
    the original forward when training."""
    from transformers import WhisperForConditionalGeneration

    from polymodal.hf import fast_layers
    adapter = load_model(dirs["whisper"])
    layers = adapter.model.get_encoder().layers
    assert all(hasattr(layer, "eager_forward") for layer in layers)
    plain = WhisperForConditionalGeneration.from_pretrained(dirs["whisper"]).eval()
    assert not any(hasattr(m, "eager_forward") for m in plain.modules())
    features = torch.randn(5, plain.config.num_mel_bins, 2 * plain.config.max_source_positions)
    tokens, width = plain.config.max_source_positions, layers[0].fc1.out_features
    sizes = []
    for layer in layers:
        fc1 = layer.fc1.forward
        monkeypatch.setattr(layer.fc1, "forward", lambda x, f=fc1: sizes.append(len(x)) or f(x))
    with torch.no_grad():
        expected = plain.get_encoder()(features).last_hidden_state
        monkeypatch.setattr(fast_layers, "CHUNK_BYTES", 2 * tokens * width * 4)      # two windows' activations
        chunked = adapter.model.get_encoder()(features).last_hidden_state
    assert sizes == [2, 2, 1] * len(layers)
    assert torch.allclose(chunked, expected, atol=1e-5)
    eager = []
    monkeypatch.setattr(layers[0], "eager_forward", lambda *a, **k: eager.append(1) or a[0])
    layers[0].train()
    layers[0](torch.randn(5, tokens, plain.config.d_model), None)
    assert eager == [1]


def test_whisper_cross_attention_folded_gives_transformers_values_and_transcripts(dirs, monkeypatch):
    """Whisper's decoder cross-attention runs from the encoder's output itself
    (hf/fast_layers.py folded_attention): the eager layer's output; in fp32, where it folds
    from one window, transformers' own transcripts from its unswitched model, greedy and with
    beams (tests/test_packed_linear.py: pm.load leaves its key and value projections unpacked)."""
    from transformers import WhisperForConditionalGeneration

    from polymodal.hf import fast_layers
    adapter = load_model(dirs["whisper"])
    layer = adapter.model.get_decoder().layers[0].encoder_attn
    assert hasattr(layer, "eager_forward")
    x, audio = torch.randn(3, 4, layer.embed_dim), torch.randn(3, 9, layer.embed_dim)
    calls = []
    monkeypatch.setattr(fast_layers, "folded_attention",
                        lambda *a, f=fast_layers.folded_attention, **k: calls.append(1) or f(*a, **k))
    with torch.no_grad():
        folded = layer(x, key_value_states=audio)[0]
        eager = layer.eager_forward(x, key_value_states=audio)[0]
        assert torch.allclose(folded, eager, atol=1e-5) and calls == [1]
        assert torch.equal(layer(x)[0], layer.eager_forward(x)[0]) and calls == [1]      # self-attention: eager
    plain = WhisperForConditionalGeneration.from_pretrained(dirs["whisper"]).eval()
    waves = [(np.sin(np.arange(16000 * 2) / (7.0 + i)) * 0.3).astype(np.float32) for i in range(3)]
    features = adapter.processor.feature_extractor(waves, sampling_rate=16000, return_tensors="pt")["input_features"]
    with torch.no_grad():
        for beams in (1, 2):
            ours = adapter.model.generate(features, max_new_tokens=12, num_beams=beams)
            assert torch.equal(ours, plain.generate(features, max_new_tokens=12, num_beams=beams))
    assert len(calls) > 12


def test_whisper_features_from_the_audio_alone_equal_the_extractors(dirs):
    """hf/speech_features.py transforms only the frames that touch the audio: the extractor's
    features bit for bit, for audio from one sample to the last length it takes (the window's
    end minus half a transform), alone and in a batch; longer audio and other extractor
    settings are left to the extractor (None)."""
    from polymodal.hf.speech_features import log_mel_features
    extractor = load_model(dirs["whisper"]).processor.feature_extractor
    rng = np.random.default_rng(0)
    # from this length, the last frame that touches the audio reaches past the window's end
    left = extractor.n_samples - extractor.n_fft // 2 - extractor.hop_length + 1
    lengths = [1, 199, 200, 201, 16000, left - 1]
    waves = [(rng.standard_normal(n) * 0.1).astype(np.float32) for n in lengths] + [np.zeros(800, np.float32)]
    for batch in [[w] for w in waves] + [waves]:
        expected = extractor(batch, sampling_rate=16000, return_tensors="pt")["input_features"]
        assert torch.equal(log_mel_features(extractor, batch), expected)
    for n in (left, extractor.n_samples, extractor.n_samples + 5):
        assert log_mel_features(extractor, [np.zeros(n, np.float32)]) is None
    extractor.dither = 1e-4
    assert log_mel_features(extractor, waves[:1]) is None


def test_whisper_stem_convolutions_as_products_in_bf16(dirs):
    """Whisper's encoder convolutions (and no other Conv1d) run as products over time-major
    windows in bf16: torch's convolution's values within bf16 rounding, returned as a
    [B, C, T] view of time-major memory; fp32 goes to torch's convolution itself."""
    adapter = load_model(dirs["whisper"])
    encoder = adapter.model.get_encoder()
    switched = [m for m in adapter.model.modules() if isinstance(m, torch.nn.Conv1d) and hasattr(m, "eager_forward")]
    assert switched == [encoder.conv1, encoder.conv2]
    x = torch.randn(3, encoder.conv1.in_channels, 2 * encoder.config.max_source_positions)
    with torch.no_grad():
        assert torch.equal(encoder.conv1(x), encoder.conv1.eager_forward(x))                  # fp32: the convolution
        encoder.to(torch.bfloat16)
        for conv, inputs in ((encoder.conv1, x.bfloat16()), (encoder.conv2, torch.randn(3, 32, 100).bfloat16())):
            ours, theirs = conv(inputs), conv.eager_forward(inputs)
            assert ours.shape == theirs.shape and ours.transpose(1, 2).is_contiguous()
            assert torch.allclose(ours.float(), theirs.float(), atol=0.05, rtol=0.02)
        features = torch.randn(2, encoder.config.num_mel_bins, x.shape[2]).bfloat16()
        fast = encoder(features).last_hidden_state
        for conv in (encoder.conv1, encoder.conv2):
            conv.forward = conv.eager_forward
        assert torch.allclose(fast.float(), encoder(features).last_hidden_state.float(), atol=0.1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_whisper_greedy_loop_gives_generates_tokens(dirs, dtype, monkeypatch):
    """hf/whisper_greedy.py: the tokens of Whisper's own generate for the same encoder output,
    at batch sizes below and above where the cross-attention folds, with tokens suppressed at
    every step and at the first, and with an end token that stops some transcripts early; the
    adapter transcribes through it; a config it does not reproduce goes to generate."""
    from polymodal.hf import whisper_greedy
    adapter = load_model(dirs["whisper"])
    model = adapter.model.to(dtype)
    generation = model.generation_config
    extractor = adapter.processor.feature_extractor
    for batch in (1, 3, 9):
        waves = [(np.sin(np.arange(16000 * 2) / (5.0 + i)) * 0.3).astype(np.float32) for i in range(batch)]
        features = extractor(waves, sampling_rate=16000, return_tensors="pt")["input_features"].to(dtype)
        with torch.no_grad():
            heard = model.get_encoder()(features)
            plain = model.generate(encoder_outputs=heard, max_new_tokens=12)
        first, later = plain[0, 0].item(), plain[-1, 5].item()
        task, language = generation.task_to_id["transcribe"], next(iter(generation.lang_to_id.values()))
        # the published checkpoints' prompt form: a forced task, the language detected or forced,
        # an English-only model's forced no-timestamps; one not from position 1 is ignored
        forced = [{"forced_decoder_ids": ids} for ids in ([[1, None], [2, task]], [[1, language], [2, task]],
                                                          [[1, generation.no_timestamps_token_id]], [[2, task]])]
        for settings in ({}, {"suppress_tokens": [later], "begin_suppress_tokens": [first]}, {"eos_token_id": later},
                         *forced):
            with monkeypatch.context() as m:
                for name, value in settings.items():
                    m.setattr(generation, name, value, raising=False)
                assert whisper_greedy.serves(model, 12)
                with torch.no_grad():
                    expected = model.generate(encoder_outputs=heard, max_new_tokens=12)
                    ours = whisper_greedy.greedy_transcribe(model, heard.last_hidden_state, 12)
                assert torch.equal(ours, expected), (batch, settings)
    calls = []
    monkeypatch.setattr(whisper_greedy, "greedy_transcribe",
                        lambda *a, f=whisper_greedy.greedy_transcribe: calls.append(1) or f(*a))
    from polymodal.modalities import Audio
    adapter.transcribe_audios([Audio(waves[0], 16000)])
    assert calls == [1]
    for name, value in (("language", "en"), ("num_beams", 2), ("return_timestamps", True), ("no_speech_threshold", 0.6),
                        ("repetition_penalty", 1.2)):
        with monkeypatch.context() as m:
            m.setattr(generation, name, value, raising=False)
            assert not whisper_greedy.serves(model, 12)
    assert not whisper_greedy.serves(model, model.config.max_target_positions) and not whisper_greedy.serves(model, 0)
    for refused in ([[1, None], [3, 7]], [[1]], "task"):      # generate raises on a gap; not pairs
        with monkeypatch.context() as m:
            m.setattr(generation, "forced_decoder_ids", refused, raising=False)
            assert not whisper_greedy.serves(model, 12)
    with monkeypatch.context() as m:               # what timestamps would read: not used by this loop
        m.setattr(generation, "alignment_heads", [[0, 0]], raising=False)
        assert whisper_greedy.serves(model, 12)
