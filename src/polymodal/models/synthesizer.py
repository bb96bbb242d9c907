"""Speech synthesis: text -> log-mel frames, non-autoregressive (FastSpeech-style).

eSpeak NG is the front end, as in most small neural TTS systems: it turns the text into
phonemes (its grapheme-to-phoneme rules). The trained part is everything after that: a
transformer over the phonemes, a predicted duration (in frames) for each, the phonemes
repeated by their durations, a transformer over the frames that knows where in its phoneme
each frame lies, a convolutional post-net, and Griffin-Lim for the waveform. It learns from a
teacher voice (eSpeak NG again), whose phoneme timings give the target durations."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..core.config import Config
from ..core.errors import InputError
from ..layers import mlp, padding_mask, to_device, transformer
from ..modalities import Audio
from ..processors.audio import LogMelConfig
from ..speech.espeak import Voice, utter
from ..speech.text import NUMBERS
from ..speech.vocoder import vocode
from .base import Pretrained
from .registry import MODEL_KINDS

MAX_LOG_DURATION = 5.0        # a phoneme lasts at most e^5 - 1 = 147 frames (1.5 s)
PLACES = 32                   # frames from a phoneme's start (and to its end) told apart; beyond, "far"
STRESS_MARKS = "',"           # eSpeak's primary and secondary stress, written before a vowel


@dataclass
class SynthesizerConfig(Config):
    alphabet: str = " abcdefghijklmnopqrstuvwxyz'?,.!"   # what it can say (after numbers become words)
    phonemes: list = field(default_factory=list)          # eSpeak phoneme mnemonics seen in training
    n_mels: int = 80
    dim: int = 128
    encoder_layers: int = 3
    decoder_layers: int = 3
    heads: int = 2
    postnet_kernel: int = 5
    max_chars: int = 200
    max_phonemes: int = 200
    max_frames: int = 1500               # 15 s at a 10 ms hop
    teacher_voice: str = "en-us+m1"      # the eSpeak voice it learns to speak like (and phonemise with)
    teacher_rate: int = 160
    task: str = "speak"

    @property
    def mel(self) -> LogMelConfig:
        return LogMelConfig(n_mels=self.n_mels)


def speakable(text: str) -> str:
    """Lower case, numbers as words, single spaces (what the model and its teacher read)."""
    words = text.lower().split()
    return " ".join(NUMBERS.get(w.strip("?,.!"), w.strip("?,.!")) + w[len(w.rstrip("?,.!")):] for w in words)


def teacher_utterance(said: str, voice: str, rate: int):
    """eSpeak NG speaking already-speakable text in the teacher's voice (audio and phoneme timings)."""
    return utter(said, Voice.parse(voice, rate))


def frame_places(durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For one row of per-phoneme frame counts -> (phoneme index of each frame, frames since
    that phoneme began, frames until it ends), the latter two capped at PLACES - 1."""
    index = torch.repeat_interleave(torch.arange(len(durations), device=durations.device), durations)
    starts = torch.cumsum(durations, 0) - durations
    since = torch.arange(len(index), device=durations.device) - starts[index]
    until = durations[index] - 1 - since
    return index, since.clamp(max=PLACES - 1), until.clamp(max=PLACES - 1)


@MODEL_KINDS.register("synthesizer")
class Synthesizer(Pretrained):
    kind = "synthesizer"
    config_class = SynthesizerConfig

    def __init__(self, config: SynthesizerConfig):
        super().__init__()
        self.config = config
        self.letters = set(config.alphabet)
        self.index = {p: i + 1 for i, p in enumerate(config.phonemes)}     # 0 = padding
        self.embed = nn.Embedding(len(config.phonemes) + 1, config.dim, padding_idx=0)
        self.phoneme_pos = nn.Parameter(torch.randn(1, config.max_phonemes, config.dim) * 0.02)
        self.frame_pos = nn.Parameter(torch.randn(1, config.max_frames, config.dim) * 0.02)
        self.since_start = nn.Embedding(PLACES, config.dim)
        self.until_end = nn.Embedding(PLACES, config.dim)
        self.encoder = transformer(config.dim, config.encoder_layers, config.heads)
        self.duration = mlp([config.dim, config.dim, 1])
        self.decoder = transformer(config.dim, config.decoder_layers, config.heads)
        self.norm = nn.LayerNorm(config.dim)
        self.to_mel = nn.Linear(config.dim, config.n_mels)
        nn.init.constant_(self.to_mel.bias, -6.0)    # near speech's mean log-mel power: skips a slow first phase
        k = config.postnet_kernel
        self.postnet = nn.Sequential(nn.Conv1d(config.n_mels, config.dim, k, padding=k // 2), nn.GELU(),
                                     nn.Conv1d(config.dim, config.n_mels, k, padding=k // 2))

    def check_text(self, text: str) -> str:
        """The text as the teacher reads it, or a one-line error saying why it cannot be spoken."""
        said = speakable(text)
        missing = sorted({c for c in said if c not in self.letters})
        if missing or not said.strip():
            what = f"characters it cannot speak: {''.join(missing)!r}" if missing else "nothing to say"
            raise InputError(f"{text!r}: {what}")
        if len(said) > self.config.max_chars:
            raise InputError(f"{text!r}: {len(said)} characters, more than this synthesiser's {self.config.max_chars}")
        return said

    def phonemize(self, text: str) -> list[str]:
        """eSpeak's phonemes for the text, in the teacher's voice."""
        said = teacher_utterance(self.check_text(text), self.config.teacher_voice, self.config.teacher_rate)
        return [p for p, _ in said.phonemes]

    def token_ids(self, text: str, phonemes: list[str]) -> list[int]:
        """Phoneme mnemonics -> ids; one never seen in training falls back to its unstressed
        form if that was seen, else the text is refused."""
        ids, unknown = [], set()
        for p in phonemes:
            i = self.index.get(p) or self.index.get(p.lstrip(STRESS_MARKS))
            unknown.update([] if i else [p])
            ids.append(i or 0)
        if unknown:
            raise InputError(f"{text!r}: sounds this synthesiser never learned: {' '.join(sorted(unknown))}")
        if len(ids) > self.config.max_phonemes:
            raise InputError(f"{text!r}: {len(ids)} phonemes, more than this synthesiser's {self.config.max_phonemes}")
        return ids

    def batch_of(self, seqs: list[list[int]]) -> dict:
        ids = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = torch.tensor(s)
        return {"ids": ids, "mask": ids != 0}

    def preprocess(self, values: dict) -> dict:
        return self.batch_of([self.token_ids(t, self.phonemize(t)) for t in values["text"]])

    def encode(self, batch: dict) -> torch.Tensor:
        ids, mask = batch["ids"], batch["mask"]
        x = self.embed(ids) + self.phoneme_pos[:, : ids.shape[1]]
        return self.encoder(x, src_key_padding_mask=padding_mask(mask))

    def expand(self, phonemes: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Repeat each phoneme's vector by its duration, marking where in the phoneme each
        frame lies -> (frames [B, F, D], frame mask)."""
        durations = durations.clamp(min=0, max=self.config.max_frames)     # never build a huge index
        lengths = durations.sum(1).clamp(max=self.config.max_frames)
        frames = phonemes.new_zeros(len(phonemes), max(int(lengths.max()), 1), phonemes.shape[-1])
        for b in range(len(phonemes)):
            index, since, until = (t[: self.config.max_frames] for t in frame_places(durations[b]))
            frames[b, : len(index)] = phonemes[b, index] + self.since_start(since) + self.until_end(until)
        mask = torch.arange(frames.shape[1], device=phonemes.device) < lengths.unsqueeze(1)
        return frames, mask

    def decode(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = frames + self.frame_pos[:, : frames.shape[1]]
        mel = self.to_mel(self.norm(self.decoder(x, src_key_padding_mask=padding_mask(mask))))
        return mel + self.postnet(mel.transpose(1, 2)).transpose(1, 2)

    def forward(self, batch: dict) -> dict:
        """Teacher-forced: batch["durations"] [B, T] frames per phoneme."""
        encoded = self.encode(batch)
        log_durations = self.duration(encoded).squeeze(-1)
        frames, frame_mask = self.expand(encoded, batch["durations"])
        return {"mel": self.decode(frames, frame_mask), "frame_mask": frame_mask, "log_durations": log_durations}

    @torch.no_grad()
    def mels(self, texts: list[str], batch_size: int = 16) -> list[np.ndarray]:
        """[n_mels, frames] natural-log mel power per text, with predicted durations."""
        self.eval()
        device = next(self.parameters()).device
        out = []
        for start in range(0, len(texts), batch_size):
            batch = to_device(self.preprocess({"text": texts[start:start + batch_size]}), device)
            encoded = self.encode(batch)
            predicted = self.duration(encoded).squeeze(-1).clamp(max=MAX_LOG_DURATION).exp() - 1
            durations = predicted.round().clamp(min=0).long() * batch["mask"]
            frames, mask = self.expand(encoded, durations)
            mel = self.decode(frames, mask).float().cpu()
            out += [mel[b, : int(mask[b].sum())].T.numpy() for b in range(len(mel))]
        return out

    def speak_texts(self, texts: list[str], voice: str | None = None) -> list:
        """texts -> Audio (16 kHz), vocoded by Griffin-Lim, in the one voice it learnt."""
        if voice not in (None, self.config.teacher_voice):
            raise InputError(f"voice {voice!r}: this synthesiser has one voice, {self.config.teacher_voice} "
                             f"(other voices: --model espeak)")
        cfg = self.config.mel
        out = []
        for text, mel in zip(texts, self.mels(texts)):
            if mel.shape[1] < 2:
                raise InputError(f"{text!r}: the synthesiser produced no sound")
            out.append(Audio(vocode(mel, cfg), cfg.sample_rate, "<synthesizer>"))
        return out
