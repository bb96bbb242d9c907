"""Speech synthesis: text -> speech. The model learns from a teacher voice (eSpeak NG): its
log-mel frames are the targets, and its phoneme timings give each phoneme's duration.
Training-time scores are mel L1 and duration error; `eval speak` scores intelligibility by
the word error rate of a recogniser listening to the synthesised speech."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import InputError
from ..data.manifest import read_manifest
from ..data.spoken.synthesis import RATE, resample
from ..layers import to_device
from ..loading import load_model
from ..models.synthesizer import (
    Synthesizer,
    SynthesizerConfig,
    speakable,
    teacher_utterance,
)
from ..processors.audio import log_mel
from .base import TrainableTask
from .metrics.speech import error_rates
from .registry import TASKS
from .transcribe import SpeechExample, transcribe
from .transcribe import load_examples as spoken_examples


@dataclass
class TextExample:
    text: str
    row: int | None = None


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    """spoken:<split> (the world's sentences) or a manifest with a text column."""
    if spec.startswith("spoken:"):
        examples, _ = spoken_examples(spec, seed, n)
        return [TextExample(ex.transcript) for ex in examples], None
    manifest = read_manifest(spec, ("text",), columns, on_bad_rows)
    return [TextExample(r["text"], r.get("_row")) for r in manifest.rows], manifest


def phoneme_durations(onsets_ms: list[int], frames: int, hop_ms: float) -> list[int]:
    """Frames per phoneme from the teacher's phoneme onsets: each lasts until the next one
    begins, the last until the end; any silence before the first belongs to the first. The
    total is `frames`."""
    bounds = [min(round(ms / hop_ms), frames) for ms in onsets_ms[1:]]
    bounds = [0] + list(np.maximum.accumulate(bounds)) + [frames] if bounds else [0, frames]
    return [int(b - a) for a, b in zip(bounds, bounds[1:])]


def teacher(model, text: str) -> tuple[np.ndarray, list[int], list[int]]:
    """The teacher's [frames, n_mels] log-mel for the text, its phonemes' ids and their durations."""
    cfg = model.config
    said = teacher_utterance(model.check_text(text), cfg.teacher_voice, cfg.teacher_rate)
    if not said.phonemes:
        raise InputError(f"{text!r}: the teacher voice said no phonemes")
    wave = resample(said.wave, said.rate)
    mel = log_mel(wave, cfg.mel).T[: cfg.max_frames]
    ids = model.token_ids(text, [p for p, _ in said.phonemes])
    durations = phoneme_durations([ms for _, ms in said.phonemes], len(mel), 1000 * cfg.mel.hop_length / RATE)
    return mel, ids, durations


def phoneme_inventory(texts: list[str], teacher_voice: str, teacher_rate: int) -> list[str]:
    """Every phoneme mnemonic the teacher voice uses for these texts, sorted."""
    return sorted({p for text in set(texts)
                   for p, _ in teacher_utterance(speakable(text), teacher_voice, teacher_rate).phonemes})


def masked_mel_l1(out, targets) -> torch.Tensor:
    """Mean absolute log-mel error over the frames both have (padding excluded)."""
    mask = out["frame_mask"]
    frames = min(out["mel"].shape[1], targets["mel"].shape[1])
    diff = (out["mel"][:, :frames] - targets["mel"][:, :frames]).abs().mean(-1)
    return (diff * mask[:, :frames]).sum() / mask[:, :frames].sum().clamp_min(1)


def round_trip(synthesizer, recognizer, texts: list[str]) -> dict:
    """Intelligibility: the recogniser's word error rate on the synthesised speech."""
    if not texts:
        raise InputError("nothing to speak")
    audios = synthesizer.speak_texts(texts)
    heard = transcribe(recognizer, [SpeechExample(a, t) for a, t in zip(audios, texts)])
    return {**error_rates(texts, [h.text for h in heard]), "texts": len(texts)}


@TASKS.register("speak")
class SpeakTask(TrainableTask):
    """Text -> speech (a synthesiser that learns from the eSpeak teacher voice)."""

    model_task = "speak"
    chooses_fusion = False
    default_data = "spoken:train"
    curve_metrics = ("mel_l1", "duration_error")
    eval_options = ("recognizer",)

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers)

    def vocabulary(self, examples):
        return [ex.text for ex in examples], []

    def modalities(self, examples) -> list[str]:
        return ["text"]

    def own_model_spec(self, encoders: dict, hidden: int) -> dict:
        return {"dim": hidden}

    def build_model(self, spec: dict, examples):
        config = SynthesizerConfig.from_dict(spec, "speak model")
        config.phonemes = phoneme_inventory([ex.text for ex in examples], config.teacher_voice, config.teacher_rate)
        return Synthesizer(config)

    def make_batch(self, model, examples, rng):
        mels, ids, durations = zip(*(teacher(model, ex.text) for ex in examples))
        batch = model.batch_of(list(ids))
        frames = max(len(m) for m in mels)
        target = torch.zeros(len(mels), frames, model.config.n_mels)
        dur = torch.zeros_like(batch["ids"])
        for b, (m, d) in enumerate(zip(mels, durations)):
            target[b, : len(m)] = torch.from_numpy(m)
            dur[b, : len(d)] = torch.tensor(d)
        batch["durations"] = dur
        return batch, {"mel": target, "durations": dur, "mask": batch["mask"]}

    def loss(self, out, targets):
        mel_l1 = masked_mel_l1(out, targets)
        log_target = torch.log1p(targets["durations"].float())
        dur = ((out["log_durations"] - log_target) ** 2 * targets["mask"]).sum() / targets["mask"].sum()
        return mel_l1 + dur

    def evaluate(self, model, examples, batch_size=16, device=None, progress=False,
                 recognizer: str | None = None) -> dict:
        """With a recogniser (a model for transcribe), intelligibility: its word error rate on
        the synthesised speech. Without, teacher-forced mel L1 and |predicted - true| duration
        in frames per phoneme (what training validates with)."""
        if recognizer is not None:
            return round_trip(model, load_model(recognizer, task="transcribe"), [ex.text for ex in examples])
        return self.teacher_forced_scores(model, examples, batch_size, device)

    @torch.no_grad()
    def teacher_forced_scores(self, model, examples, batch_size=16, device=None) -> dict:
        model.eval()
        device = device or next(model.parameters()).device
        l1, err = [], []
        for start in range(0, len(examples), batch_size):
            batch, targets = self.make_batch(model, examples[start:start + batch_size], None)
            batch, targets = to_device(batch, device), to_device(targets, device)
            out = model(batch)
            l1.append(float(masked_mel_l1(out, targets)))
            predicted = out["log_durations"].exp() - 1
            err.append(float(((predicted - targets["durations"]).abs() * targets["mask"]).sum() / targets["mask"].sum()))
        return {"mel_l1": float(np.mean(l1)), "duration_error": float(np.mean(err)), "texts": len(examples)}
