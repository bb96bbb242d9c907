"""Speech synthesis: text -> speech. The model learns from a teacher voice (eSpeak NG): its
log-mel frames are the targets, and its word timings give each character's duration.
Training-time scores are mel L1 and duration error; `eval speak` scores intelligibility by
the word error rate of a recogniser listening to the synthesised speech."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from . import TASKS


@dataclass
class TextExample:
    text: str
    row: int | None = None


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    """spoken:<split> (the world's sentences) or a manifest with a text column."""
    if spec.startswith("spoken:"):
        from .transcribe import load_examples as spoken
        examples, _ = spoken(spec, seed, n)
        return [TextExample(ex.transcript) for ex in examples], None
    from ..data.manifest import read_manifest
    manifest = read_manifest(spec, ("text",), columns, on_bad_rows)
    return [TextExample(r["text"], r.get("_row")) for r in manifest.rows], manifest


def char_durations(said: str, words: list[tuple[int, int, int]], frames: int, hop_ms: float) -> list[int]:
    """Frames per character from the teacher's word onsets: the characters from one word's
    start to the next word's start share that stretch of frames evenly; the total is `frames`."""
    starts = [(0, 0)] + [(max(0, a), round(ms / hop_ms)) for a, _, ms in words] + [(len(said), frames)]
    out = [0] * len(said)
    for (a, fa), (b, fb) in zip(starts, starts[1:]):
        if b <= a:
            continue
        span = max(0, min(fb, frames) - fa)
        share, extra = divmod(span, b - a)
        for k in range(a, b):
            out[k] = share + (1 if k - a < extra else 0)
    out[-1] += frames - sum(out)            # whatever timing rounding left over
    return out


def teacher(model, text: str) -> tuple[np.ndarray, list[int]]:
    """The teacher's [frames, n_mels] log-mel for the text and the characters' durations."""
    from ..models.synthesizer import speakable
    from ..processors.audio import log_mel, num_frames
    from ..speech.espeak import Voice, synthesize_with_words
    from ..speech.spoken import RATE, resample
    cfg = model.config
    said = speakable(text)
    wave, rate, words = synthesize_with_words(said, Voice.parse(cfg.teacher_voice, cfg.teacher_rate))
    wave = resample(wave, rate)
    mel = log_mel(wave, cfg.mel).T[: cfg.max_frames]
    durations = char_durations(said, words, min(num_frames(len(wave), cfg.mel), cfg.max_frames), 1000 * cfg.mel.hop_length / RATE)
    return mel, durations


def masked_mel_l1(out, targets) -> torch.Tensor:
    """Mean absolute log-mel error over the frames both have (padding excluded)."""
    mask = out["frame_mask"]
    frames = min(out["mel"].shape[1], targets["mel"].shape[1])
    diff = (out["mel"][:, :frames] - targets["mel"][:, :frames]).abs().mean(-1)
    return (diff * mask[:, :frames]).sum() / mask[:, :frames].sum().clamp_min(1)


@TASKS.register("speak")
class SpeakTask:
    name = "speak"
    curve_metrics = ("mel_l1", "duration_error")
    load_examples = staticmethod(load_examples)

    @staticmethod
    def vocabulary(examples):
        return [ex.text for ex in examples], []

    @staticmethod
    def modalities(examples) -> list[str]:
        return ["text"]

    @staticmethod
    def build_model(spec: dict, examples):
        from ..models.synthesizer import Synthesizer, SynthesizerConfig
        return Synthesizer(SynthesizerConfig.from_dict(spec))

    @staticmethod
    def make_batch(model, examples, rng, cfg):
        batch = model.preprocess({"text": [ex.text for ex in examples]})
        mels, durations = zip(*(teacher(model, ex.text) for ex in examples))
        frames = max(len(m) for m in mels)
        target = torch.zeros(len(mels), frames, model.config.n_mels)
        dur = torch.zeros_like(batch["ids"])
        for b, (m, d) in enumerate(zip(mels, durations)):
            target[b, : len(m)] = torch.from_numpy(m)
            dur[b, : len(d)] = torch.tensor(d)
        batch["durations"] = dur
        return batch, {"mel": target, "durations": dur, "mask": batch["mask"]}

    @staticmethod
    def loss(out, targets):
        mel_l1 = masked_mel_l1(out, targets)
        log_target = torch.log1p(targets["durations"].float())
        dur = ((out["log_durations"] - log_target) ** 2 * targets["mask"]).sum() / targets["mask"].sum()
        return mel_l1 + dur

    @staticmethod
    @torch.no_grad()
    def evaluate(model, examples, batch_size=16, device=None, progress=False) -> dict:
        """Teacher-forced mel L1 and |predicted - true| duration in frames per character."""
        from ..layers import to_device
        model.eval()
        device = device or next(model.parameters()).device
        l1, err = [], []
        for start in range(0, len(examples), batch_size):
            batch, targets = SpeakTask.make_batch(model, examples[start:start + batch_size], None, None)
            batch, targets = to_device(batch, device), to_device(targets, device)
            out = model(batch)
            l1.append(float(masked_mel_l1(out, targets)))
            predicted = out["log_durations"].exp() - 1
            err.append(float(((predicted - targets["durations"]).abs() * targets["mask"]).sum() / targets["mask"].sum()))
        return {"mel_l1": float(np.mean(l1)), "duration_error": float(np.mean(err)), "texts": len(examples)}


def round_trip(synthesizer, recognizer, texts: list[str]) -> dict:
    """Intelligibility: the recogniser's word error rate on the synthesised speech."""
    from .transcribe import SpeechExample, error_rates, transcribe
    if not texts:
        raise InputError("nothing to speak")
    audios = synthesizer.speak_texts(texts)
    heard = transcribe(recognizer, [SpeechExample(a, t) for a, t in zip(audios, texts)])
    return {**error_rates(texts, [h.text for h in heard]), "texts": len(texts)}
