"""Speech recognition: audio -> its words. Data is the spoken world (`spoken:<split>`: the
embedded world's sentences in that split's voices, synthesised on the fly) or a manifest
with audio + transcript columns. Scored by word and character error rates (jiwer) on
normalised text."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..layers import to_device
from ..speech.espeak import Voice
from ..speech.text import normalize_transcript
from . import TASKS

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
        from ..data.world import parse_spec
        spec = f"spoken:{parse_spec(spec)[1]}"
    if spec.startswith("spoken:"):
        from ..speech.sentences import utterances
        split = spec.split(":", 1)[1]
        if split not in SPLITS:
            raise InputError(f"{spec}: expected spoken:<split> with split one of {', '.join(SPLITS)}")
        return [SpeechExample(None, u.text, u.voice, noise_snr, (split, seed, i), u.kind)
                for i, u in enumerate(utterances(split, seed, n))], None
    from ..data.manifest import read_manifest
    required = ("audio", "transcript") if need_answers else ("audio",)
    manifest = read_manifest(spec, required, columns, on_bad_rows, decode_files=True)
    return [SpeechExample(r["audio"], r.get("transcript"), row=r.get("_row")) for r in manifest.rows], manifest


def vocabulary(examples) -> tuple[list[str], list[str]]:
    return [ex.transcript for ex in examples if ex.transcript], []


def audio_of(ex: SpeechExample):
    """The example's audio as an Audio value (synthesising it if need be)."""
    from ..modalities import Audio
    if ex.audio is not None:
        return Audio.open(ex.audio)
    from ..speech.sentences import sentence_rng
    from ..speech.spoken import RATE, noisy, speak
    wave = speak(ex.transcript, ex.voice)
    if ex.noise_snr is not None:
        wave = noisy(wave, ex.noise_snr, sentence_rng(*ex.key))
    return Audio(wave, RATE, f"<{ex.voice.label()}: {ex.transcript!r}>")


def augmented(audio, rng: np.random.Generator, cfg):
    """Training copies: speed 0.9-1.1x, gain +-6 dB and (cfg.noise_augment of the time)
    white noise at an SNR drawn from cfg.noise_snr."""
    from ..modalities import Audio
    from ..processors.audio import add_noise, change_gain, change_speed
    if not cfg.noise_augment:
        return audio
    wave = change_speed(audio.waveform, float(rng.uniform(0.9, 1.1)))
    wave = change_gain(wave, float(rng.uniform(-6, 6)))
    if rng.random() < cfg.noise_augment:
        wave = add_noise(wave, float(rng.uniform(*cfg.noise_snr)), rng)
    return Audio(np.clip(wave, -1, 1).astype(np.float32), audio.rate, audio.source)


def chunks(audio, rate: int, seconds: float) -> list:
    """The audio at `rate`, cut into windows of at most `seconds` (the encoder's positions are
    finite; a 10-minute file becomes 30 windows whose transcripts are joined)."""
    from ..modalities import Audio
    audio = audio.resampled(rate)
    step = int(seconds * rate)
    waves = [audio.waveform[i:i + step] for i in range(0, len(audio.waveform), step)]
    return [Audio(np.ascontiguousarray(w), rate, audio.source) for w in waves if len(w) >= rate // 10] or [audio]


@torch.no_grad()
def transcribe(model, examples: list, batch_size: int = 32, device=None, progress: bool = False,
               expect: str | None = None):
    """-> one Transcript per example (long audio read in windows and joined). expect: the
    kind of sentence said (e.g. question), for a recogniser with a language model per kind;
    engines and Hugging Face models do without it."""
    from tqdm.auto import tqdm

    from ..models.recognizer import Transcript
    model.eval()
    if hasattr(model, "transcribe_audios"):         # an engine (pocketsphinx): audio in, text out
        return model.transcribe_audios([audio_of(ex) for ex in examples], batch_size=batch_size)
    device = device or next(model.parameters()).device
    pieces, owner = [], []
    for i, ex in enumerate(examples):
        for piece in chunks(audio_of(ex), model.rate, model.window_seconds):
            pieces.append(piece)
            owner.append(i)
    texts: list[list] = [[] for _ in examples]
    for start in tqdm(range(0, len(pieces), batch_size), disable=not progress, desc="transcribing"):
        batch = model.preprocess({"audio": pieces[start:start + batch_size]})
        heard = model.decode(model(to_device(batch, device)), expect=expect) if expect else \
            model.decode(model(to_device(batch, device)))
        for i, t in zip(owner[start:start + batch_size], heard):
            texts[i].append(t)
    return [Transcript(" ".join(t.text for t in ts if t.text), float(np.mean([t.score for t in ts]))) for ts in texts]


def error_rates(references: list[str], hypotheses: list[str]) -> dict:
    import jiwer
    refs = [normalize_transcript(r) for r in references]
    hyps = [normalize_transcript(h) for h in hypotheses]
    keep = [i for i, r in enumerate(refs) if r]
    refs, hyps = [refs[i] for i in keep], [hyps[i] for i in keep]
    return {"wer": float(jiwer.wer(refs, hyps)), "cer": float(jiwer.cer(refs, hyps)), "utterances": len(refs),
            "exact": float(np.mean([r == h for r, h in zip(refs, hyps)]))}


def language_model(examples, order: int = 3) -> dict:
    """What decoding knows of the training transcripts: their words (the lexicon) and which
    words follow which (n-gram counts), over all of them and per kind of sentence (question,
    caption, ...) for a caller that knows what to expect."""
    from ..speech.ctc_beam import ngram_counts
    said = [(ex.kind, normalize_transcript(ex.transcript).split()) for ex in examples if ex.transcript]
    kinds = sorted({k for k, _ in said if k})
    return {"lexicon": sorted({w for _, s in said for w in s}),
            "word_ngrams": ngram_counts([s for _, s in said], order),
            "kind_ngrams": {k: ngram_counts([s for kind, s in said if kind == k], order) for k in kinds}}


@TASKS.register("transcribe")
class TranscribeTask:
    name = "transcribe"
    curve_metrics = ("wer", "cer", "exact")
    load_examples = staticmethod(load_examples)
    vocabulary = staticmethod(vocabulary)

    @staticmethod
    def modalities(examples) -> list[str]:
        return ["audio"]

    @staticmethod
    def build_model(spec: dict, examples):
        from ..models.recognizer import Recognizer, RecognizerConfig
        spec.setdefault("audio_encoder", {"name": "logmel", "config": {}})
        if spec.pop("lexicon", True) is not False:       # the recipe may say lexicon: false
            spec.update(language_model(examples))
        return Recognizer(RecognizerConfig.from_dict(spec))

    @staticmethod
    def make_batch(model, examples, rng, cfg):
        if any(not ex.transcript for ex in examples):
            raise InputError("training needs a transcript for every utterance")
        audios = [audio_of(ex) for ex in examples]
        if rng is not None:
            audios = [augmented(a, rng, cfg) for a in audios]
        batch = model.preprocess({"audio": audios, "transcript": [ex.transcript for ex in examples]})
        return batch, {"targets": batch.pop("targets"), "target_lengths": batch.pop("target_lengths")}

    @staticmethod
    def loss(out, targets):
        return torch.nn.functional.ctc_loss(out["log_probs"].transpose(0, 1), targets["targets"], out["lengths"],
                                            targets["target_lengths"], blank=0, zero_infinity=True)

    @staticmethod
    def evaluate(model, examples, batch_size=32, device=None, progress=False) -> dict:
        found = transcribe(model, examples, batch_size, device, progress)
        out = error_rates([ex.transcript for ex in examples], [t.text for t in found])
        kinds = sorted({ex.kind for ex in examples if ex.kind})
        for kind in kinds:
            chosen = [i for i, ex in enumerate(examples) if ex.kind == kind]
            out[f"wer_{kind}"] = error_rates([examples[i].transcript for i in chosen],
                                             [found[i].text for i in chosen])["wer"]
        return out
