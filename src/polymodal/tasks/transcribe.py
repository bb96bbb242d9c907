"""Speech recognition: audio -> its words. Data is the spoken world (`spoken:<split>`: the
embedded world's sentences in that split's voices, synthesised on the fly) or a manifest
with audio + transcript columns. Scored by word and character error rates (jiwer) on
normalised text.

Every transcribe model, polymodal's own, a Hugging Face adapter or an engine, answers
`transcribe_audios(audios, batch_size, expect, progress) -> [Transcript]`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import InputError
from ..core.results import Transcript
from ..data.manifest import read_manifest
from ..data.spoken.sentences import sentence_rng, utterances
from ..data.spoken.synthesis import RATE, noisy, speak
from ..data.world import parse_spec
from ..modalities import Audio
from ..models.recognizer import Recognizer, RecognizerConfig
from ..processors.audio import add_noise, change_gain, change_speed
from ..speech.ctc_beam import ngram_counts
from ..speech.espeak import Voice
from ..speech.text import normalize_transcript
from .base import TaskOptions, TrainableTask
from .metrics.speech import error_rates
from .registry import TASKS

SPLITS = ("train", "val", "test")


@dataclass
class SpeechExample:
    audio: object | None               # path, Audio or (waveform, rate); None: spoken from the text
    transcript: str | None
    voice: Voice | None = None         # who speaks it, when synthesised
    noise_snr: float | None = None     # white noise at this SNR (dB), when synthesised
    key: tuple | None = None           # (split, seed, index): the utterance's own random stream
    kind: str | None = None            # question / caption / phrase / answer
    row: int | None = None


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True, noise_snr: float | None = None):
    if spec.startswith("shapes:"):
        # the world's speech: its sentences (of every preset), spoken in the split's voices
        spec = f"spoken:{parse_spec(spec)[1]}"
    if spec.startswith("spoken:"):
        split = spec.split(":", 1)[1]
        if split not in SPLITS:
            raise InputError(f"{spec}: expected spoken:<split> with split one of {', '.join(SPLITS)}")
        return [SpeechExample(None, u.text, u.voice, noise_snr, (split, seed, i), u.kind)
                for i, u in enumerate(utterances(split, seed, n))], None
    if noise_snr is not None:
        raise InputError("noise_snr applies to spoken:<split> data (speech synthesised here)")
    required = ("audio", "transcript") if need_answers else ("audio",)
    manifest = read_manifest(spec, required, columns, on_bad_rows, decode_files=True)
    return [SpeechExample(r["audio"], r.get("transcript"), row=r.get("_row")) for r in manifest.rows], manifest


def audio_of(ex: SpeechExample) -> Audio:
    """The example's audio as an Audio value (synthesising it if need be)."""
    if ex.audio is not None:
        return Audio.open(ex.audio)
    wave = speak(ex.transcript, ex.voice)
    if ex.noise_snr is not None:
        wave = noisy(wave, ex.noise_snr, sentence_rng(*ex.key))
    return Audio(wave, RATE, f"<{ex.voice.label()}: {ex.transcript!r}>")


@dataclass
class TranscribeOptions(TaskOptions):
    noise_augment: float = 0.0        # probability of added noise (all get speed and gain jitter when > 0)
    noise_snr: tuple = (5.0, 30.0)    # its SNR in dB, drawn uniformly from this range


def augmented(audio: Audio, rng: np.random.Generator, options: TranscribeOptions) -> Audio:
    """Training copies: speed 0.9-1.1x, gain +-6 dB and (options.noise_augment of the time)
    white noise at an SNR drawn from options.noise_snr."""
    if not options.noise_augment:
        return audio
    wave = change_speed(audio.waveform, float(rng.uniform(0.9, 1.1)))
    wave = change_gain(wave, float(rng.uniform(-6, 6)))
    if rng.random() < options.noise_augment:
        wave = add_noise(wave, float(rng.uniform(*options.noise_snr)), rng)
    return Audio(np.clip(wave, -1, 1).astype(np.float32), audio.rate, audio.source)


def transcribe(model, examples: list, batch_size: int = 32, progress: bool = False,
               expect: str | None = None) -> list[Transcript]:
    """One Transcript per example. expect: the kind of sentence said (e.g. question), for a
    recogniser with a language model per kind; others do without it."""
    return model.transcribe_audios([audio_of(ex) for ex in examples], batch_size=batch_size, expect=expect,
                                   progress=progress)


def language_model(examples, order: int = 3) -> dict:
    """What decoding knows of the training transcripts: their words (the lexicon) and which
    words follow which (n-gram counts), over all of them and per kind of sentence (question,
    caption, ...) for a caller that knows what to expect."""
    said = [(ex.kind, normalize_transcript(ex.transcript).split()) for ex in examples if ex.transcript]
    kinds = sorted({k for k, _ in said if k})
    return {"lexicon": sorted({w for _, s in said for w in s}),
            "word_ngrams": ngram_counts([s for _, s in said], order),
            "kind_ngrams": {k: ngram_counts([s for kind, s in said if kind == k], order) for k in kinds}}


@TASKS.register("transcribe")
class TranscribeTask(TrainableTask):
    """Speech -> its words (a recogniser trained with CTC)."""

    model_task = "transcribe"
    chooses_fusion = False
    default_data = "spoken:train"
    curve_metrics = ("wer", "cer", "exact")
    data_options = ("noise_snr",)
    Options = TranscribeOptions

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True,
                      noise_snr: float | None = None):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers, noise_snr)

    def vocabulary(self, examples) -> tuple[list[str], list[str]]:
        return [ex.transcript for ex in examples if ex.transcript], []

    def modalities(self, examples) -> list[str]:
        return ["audio"]

    def own_model_spec(self, encoders: dict, hidden: int) -> dict:
        return {"audio_encoder": encoders.get("audio", {"name": "logmel", "config": {}})}

    def build_model(self, spec: dict, examples):
        """spec's `lexicon: false` leaves the lexicon and n-grams out (greedy decoding)."""
        spec = {"audio_encoder": {"name": "logmel", "config": {}}, **spec}
        if spec.pop("lexicon", True) is not False:
            spec.update(language_model(examples))
        return Recognizer(RecognizerConfig.from_dict(spec, "transcribe model"))

    def make_batch(self, model, examples, rng):
        if any(not ex.transcript for ex in examples):
            raise InputError("training needs a transcript for every utterance")
        audios = [audio_of(ex) for ex in examples]
        if rng is not None:
            audios = [augmented(a, rng, self.options) for a in audios]
        batch = model.preprocess({"audio": audios, "transcript": [ex.transcript for ex in examples]})
        return batch, {"targets": batch.pop("targets"), "target_lengths": batch.pop("target_lengths")}

    def loss(self, out, targets):
        return torch.nn.functional.ctc_loss(out["log_probs"].transpose(0, 1), targets["targets"], out["lengths"],
                                            targets["target_lengths"], blank=0, zero_infinity=True)

    def evaluate(self, model, examples, batch_size=32, device=None, progress=False) -> dict:
        found = transcribe(model, examples, batch_size, progress)
        out = error_rates([ex.transcript for ex in examples], [t.text for t in found])
        kinds = sorted({ex.kind for ex in examples if ex.kind})
        for kind in kinds:
            chosen = [i for i, ex in enumerate(examples) if ex.kind == kind]
            out[f"wer_{kind}"] = error_rates([examples[i].transcript for i in chosen],
                                             [found[i].text for i in chosen])["wer"]
        return out

