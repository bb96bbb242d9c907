"""Speech recognition: text normalisation, greedy CTC decoding, the lexicon beam search with
word n-grams, windows for long audio, training through the trainer, and the transcribe verb
on awkward audio."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from polymodal.cli.main import main
from polymodal.core.errors import InputError
from polymodal.loading import load_model
from polymodal.modalities import Audio
from polymodal.models.recognizer import Recognizer, RecognizerConfig
from polymodal.speech.text import normalize_transcript
from polymodal.tasks import transcribe

TINY_AUDIO = {"name": "logmel", "config": {"dim": 32, "layers": 1, "heads": 2, "n_mels": 40}}


def test_normalize_transcript():
    assert normalize_transcript("How many objects?  3") == "how many objects three"
    assert normalize_transcript("Is the RED object on the left?") == "is the red object on the left"


def test_greedy_ctc_merges_repeats_and_drops_blanks():
    model = Recognizer(RecognizerConfig(TINY_AUDIO, alphabet=" ab"))
    frames = [0, 2, 2, 0, 2, 3, 3, 1, 0, 3]          # blank a a blank a b b space blank b
    logp = torch.full((1, len(frames), 4), -10.0)
    logp[0, torch.arange(len(frames)), torch.tensor(frames)] = 0.0
    out = model.decode({"log_probs": logp, "lengths": torch.tensor([len(frames)])})
    assert out[0].text == "aab b"
    out = model.decode({"log_probs": logp, "lengths": torch.tensor([3])})       # padding is not read
    assert out[0].text == "a"


def test_lexicon_decoding_repairs_misspelt_words_only():
    plain = Recognizer(RecognizerConfig(TINY_AUDIO))
    assert plain.spelled(["a", "raed", "squae"]) == "a raed squae"          # no lexicon: as heard
    model = Recognizer(RecognizerConfig(TINY_AUDIO, lexicon=["a", "red", "square", "triangle", "blue"]))
    assert model.spelled(["a", "raed", "squae", "triangael"]) == "a red square triangle"
    assert model.spelled(["xyzzy", "qqq"]) == "xyzzy qqq"                 # too far from every word


def test_a_new_recogniser_takes_its_lexicon_from_the_training_transcripts():
    examples = [transcribe.SpeechExample(None, "Is there a red circle?"), transcribe.SpeechExample(None, "3")]
    model = transcribe.TranscribeTask().build_model({"audio_encoder": TINY_AUDIO}, examples)
    assert model.config.lexicon == ["a", "circle", "is", "red", "there", "three"]
    assert model.config.word_ngrams["<s> <s>"] == {"is": 1, "three": 1}
    assert model.config.word_ngrams["a red"] == {"circle": 1} and model.beam_search() is not None
    plain = transcribe.TranscribeTask().build_model({"audio_encoder": TINY_AUDIO, "lexicon": False}, examples)
    assert plain.config.lexicon == [] and plain.beam_search() is None


def test_word_ngrams_are_a_distribution_that_prefers_what_was_seen():
    from polymodal.speech.ctc_beam import END, START, WordNgrams, ngram_counts
    lm = WordNgrams(ngram_counts([["a", "red", "circle"], ["a", "blue", "square"], ["a", "red", "square"]], 3))
    words = ["a", "red", "blue", "circle", "square", END]
    for history in [(START, START), ("a", "red"), ("blue", "circle"), ("never", "seen")]:
        assert sum(lm.p(history, w) for w in words) == pytest.approx(1.0, abs=1e-9)
    assert lm.p(("a", "red"), "circle") > lm.p(("a", "blue"), "circle") > 0
    assert lm.logp((START, "a", "red"), "square") == lm.logp(("a", "red"), "square")   # only the last two count


def frames_spelling(model, text: str, noise: dict[int, str] | None = None) -> torch.Tensor:
    """Log probabilities whose greedy reading is `text` (each symbol then a blank), with the
    frames in `noise` favouring another letter, the true one a close second."""
    logp = torch.full((1, 2 * len(text), len(model.config.alphabet) + 1), -12.0)
    for t, c in enumerate(text):
        wrong = (noise or {}).get(t)
        logp[0, 2 * t, model.index[wrong or c]] = -0.2
        if wrong:
            logp[0, 2 * t, model.index[c]] = -1.8
        logp[0, 2 * t + 1, 0] = -0.05
    return logp


def test_the_beam_search_spells_only_lexicon_words_in_a_likely_order():
    examples = [transcribe.SpeechExample(None, t) for t in
                ["the red circle", "the red square", "a blue square", "a red triangle", "the blue circle"] * 4]
    model = transcribe.TranscribeTask().build_model({"audio_encoder": TINY_AUDIO}, examples)
    text = "the red circle"
    logp = frames_spelling(model, text, noise={5: "d", 9: "x"})         # greedy hears "the rdd cxrcle"
    lengths = torch.tensor([logp.shape[1]])
    greedy = Recognizer(RecognizerConfig(TINY_AUDIO, lexicon=[])).decode({"log_probs": logp, "lengths": lengths})
    assert greedy[0].text == "the rdd cxrcle"
    assert model.decode({"log_probs": logp, "lengths": lengths})[0].text == text
    # a word the lexicon lacks cannot be spelled; with no whole-word reading, greedy + snap answers
    silence = torch.full((1, 4, len(model.config.alphabet) + 1), -12.0)
    silence[0, :, 0] = 0.0
    assert model.decode({"log_probs": silence, "lengths": torch.tensor([4])})[0].text == ""
    zzz = frames_spelling(model, "zzz")
    assert model.decode({"log_probs": zzz, "lengths": torch.tensor([zzz.shape[1]])})[0].text == "zzz"


def test_transcripts_outside_the_alphabet_are_refused():
    model = Recognizer(RecognizerConfig(TINY_AUDIO))
    assert model.encode_text("Yes!") == [model.index[c] for c in "yes"]
    with pytest.raises(InputError, match="characters"):
        model.encode_text("café")
    with pytest.raises(InputError, match="nothing to say"):
        model.encode_text("?!")


def test_long_audio_is_read_in_windows():
    audio = Audio((np.random.default_rng(0).standard_normal(16000 * 65) * 0.1).astype(np.float32), 16000)
    pieces = audio.windows(16000, 20.0)
    assert [round(p.duration) for p in pieces] == [20, 20, 20, 5]
    assert Audio(audio.waveform[:8000], 16000).windows(16000, 20.0)[0].duration == 0.5


def test_spoken_data_is_deterministic_and_uses_the_split_voices():
    a, _ = transcribe.load_examples("spoken:test", 3, 8)
    b, _ = transcribe.load_examples("spoken:test", 3, 8)
    assert [(x.transcript, x.voice) for x in a] == [(x.transcript, x.voice) for x in b]
    assert {x.kind for x in a} == {"question", "caption", "phrase", "answer"}
    wave = transcribe.audio_of(a[0])
    assert wave.rate == 16000 and wave.duration > 0.3
    with pytest.raises(InputError, match="spoken:<split>"):
        transcribe.load_examples("spoken:nowhere", 0, 2)
    # a shapes spec, for speech, is the spoken world of its split
    c, _ = transcribe.load_examples("shapes:shapes:test", 3, 8)
    assert [(x.transcript, x.voice) for x in c] == [(x.transcript, x.voice) for x in a]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny recogniser trained on the four answer words in the training voices."""
    from polymodal.speech.espeak import Voice
    from polymodal.training import run as training_run
    out = tmp_path_factory.mktemp("asr-run")
    manifest = out / "data.jsonl"
    rows = []
    for i, word in enumerate(["yes", "no", "square", "circle"] * 4):
        voice = Voice(("en-us", "en")[i % 2], ("m1", "f1")[(i // 2) % 2], 150 + 10 * (i % 3))
        from polymodal.data.spoken.synthesis import speak
        sf.write(out / f"{i}.wav", speak(word, voice), 16000)
        rows.append(json.dumps({"audio": f"{i}.wav", "transcript": word}))
    manifest.write_text("\n".join(rows) + "\n")
    recipe = {"task": "transcribe", "data": {"spec": str(manifest)},
              "model": {"audio_encoder": {"name": "logmel", "config": {"dim": 64, "layers": 2, "heads": 4,
                                                                      "n_mels": 40}}},
              "train": {"epochs": 120, "batch_size": 16, "lr": 3e-3, "warmup_steps": 10, "seed": 0,
                        "checkpoint_every": 10 ** 6}}
    training_run.run(recipe, out / "run")
    return out / "run" / "model", manifest


def test_training_learns_the_words_it_heard(trained):
    model_dir, manifest = trained
    model = load_model(model_dir)
    examples, _ = transcribe.load_examples(str(manifest))
    m = transcribe.TranscribeTask().evaluate(model, examples)
    assert m["wer"] < 0.5, m             # untrained: 1.0 (it says nothing)


def test_transcribe_cli_and_awkward_audio(trained, tmp_path, capsys):
    model_dir, manifest = trained
    m = ["--model", str(model_dir)]
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "stereo48k.wav", (rng.standard_normal((48000, 2)) * 0.1).astype(np.float32), 48000)
    sf.write(tmp_path / "silence8k.wav", np.zeros(8000, np.float32), 8000)
    sf.write(tmp_path / "clipped.wav", np.clip(rng.standard_normal(16000) * 3, -1, 1).astype(np.float32), 16000)
    (tmp_path / "fake.wav").write_bytes(b"not audio")
    capsys.readouterr()
    for name in ("stereo48k", "silence8k", "clipped"):
        assert main(["transcribe", str(tmp_path / f"{name}.wav"), "--json", *m]) == 0, name
        assert "text" in json.loads(capsys.readouterr().out)
    assert main(["transcribe", str(tmp_path / "fake.wav"), *m]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fake.wav" in err
    assert main(["eval", "transcribe", "--data", str(manifest), "--json", *m]) == 0
    assert {"wer", "cer", "utterances"} <= set(json.loads(capsys.readouterr().out))
    assert main(["eval", "transcribe", "--data", "spoken:test", "--n", "4", "--noise-snr", "10", "--json", *m]) == 0
    assert json.loads(capsys.readouterr().out)["utterances"] == 4


def test_a_caller_that_knows_the_kind_of_sentence_gets_that_kinds_words_only():
    said = [("is the red circle left", "question"), ("what shape is the red object", "question"),
            ("a red circle", "caption"), ("a blue square", "caption")]
    examples = [transcribe.SpeechExample(None, t, kind=k) for t, k in said * 3]
    model = transcribe.TranscribeTask().build_model({"audio_encoder": TINY_AUDIO}, examples)
    assert sorted(model.config.kind_ngrams) == ["caption", "question"]
    logp = frames_spelling(model, "a red circle")
    lengths = torch.tensor([logp.shape[1]])
    assert model.decode({"log_probs": logp, "lengths": lengths})[0].text == "a red circle"
    as_question = model.decode({"log_probs": logp, "lengths": lengths}, expect="question")[0].text
    question_words = {w for t, k in said if k == "question" for w in t.split()}
    assert as_question and set(as_question.split()) <= question_words and "a" not in as_question.split()
    with pytest.raises(InputError, match="knows caption, question"):
        model.decode({"log_probs": logp, "lengths": lengths}, expect="song")
