"""Speech synthesis: characters -> log-mel frames, non-autoregressive (FastSpeech-style):
a transformer over the characters, a predicted duration (in frames) for each, the characters
repeated by their durations, a transformer over the frames, and Griffin-Lim for the waveform.
Trained on a teacher voice (eSpeak NG) whose word timings give the durations."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..layers import mlp, padding_mask, transformer
from ..pretrained import MODEL_KINDS, Pretrained, SavedConfig
from ..processors.audio import LogMelConfig


MAX_LOG_DURATION = 5.0        # a character lasts at most e^5 - 1 = 147 frames (1.5 s)


@dataclass
class SynthesizerConfig(SavedConfig):
    alphabet: str = " abcdefghijklmnopqrstuvwxyz'?,.!"   # what it can say (after numbers become words)
    n_mels: int = 80
    dim: int = 128
    encoder_layers: int = 3
    decoder_layers: int = 3
    heads: int = 2
    max_chars: int = 200
    max_frames: int = 1500               # 15 s at a 10 ms hop
    teacher_voice: str = "en-us+m1"      # the eSpeak voice it learns to speak like
    teacher_rate: int = 160
    task: str = "speak"

    @property
    def mel(self) -> LogMelConfig:
        return LogMelConfig(n_mels=self.n_mels)


def speakable(text: str) -> str:
    """Lower case, numbers as words, single spaces (what the model and its teacher read)."""
    from ..speech.text import NUMBERS
    words = text.lower().split()
    return " ".join(NUMBERS.get(w.strip("?,.!"), w.strip("?,.!")) + w[len(w.rstrip("?,.!")):] for w in words)


@MODEL_KINDS.register("synthesizer")
class Synthesizer(Pretrained):
    kind = "synthesizer"
    config_class = SynthesizerConfig

    def __init__(self, config: SynthesizerConfig):
        super().__init__()
        self.config = config
        self.index = {c: i + 1 for i, c in enumerate(config.alphabet)}     # 0 = padding
        self.embed = nn.Embedding(len(config.alphabet) + 1, config.dim, padding_idx=0)
        self.char_pos = nn.Parameter(torch.randn(1, config.max_chars, config.dim) * 0.02)
        self.frame_pos = nn.Parameter(torch.randn(1, config.max_frames, config.dim) * 0.02)
        self.encoder = transformer(config.dim, config.encoder_layers, config.heads)
        self.duration = mlp([config.dim, config.dim, 1])
        self.decoder = transformer(config.dim, config.decoder_layers, config.heads)
        self.norm = nn.LayerNorm(config.dim)
        self.to_mel = nn.Linear(config.dim, config.n_mels)
        nn.init.constant_(self.to_mel.bias, -6.0)    # near speech's mean log-mel power: skips a slow first phase

    def encode_text(self, text: str) -> list[int]:
        said = speakable(text)
        missing = sorted({c for c in said if c not in self.index})
        if missing or not said.strip():
            what = f"characters it cannot speak: {''.join(missing)!r}" if missing else "nothing to say"
            raise InputError(f"{text!r}: {what}")
        if len(said) > self.config.max_chars:
            raise InputError(f"{text!r}: {len(said)} characters, more than this synthesiser's {self.config.max_chars}")
        return [self.index[c] for c in said]

    def preprocess(self, values: dict) -> dict:
        seqs = [self.encode_text(t) for t in values["text"]]
        ids = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
        for row, s in enumerate(seqs):
            ids[row, : len(s)] = torch.tensor(s)
        return {"ids": ids, "mask": ids != 0}

    def encode(self, batch: dict) -> torch.Tensor:
        ids, mask = batch["ids"], batch["mask"]
        x = self.embed(ids) + self.char_pos[:, : ids.shape[1]]
        return self.encoder(x, src_key_padding_mask=padding_mask(mask))

    def expand(self, chars: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Repeat each character's vector by its duration -> (frames [B, F, D], frame mask)."""
        lengths = durations.sum(1).clamp(max=self.config.max_frames)
        frames = chars.new_zeros(len(chars), max(int(lengths.max()), 1), chars.shape[-1])
        for b in range(len(chars)):
            kept = durations[b].clamp(max=self.config.max_frames)     # never build a huge index
            idx = torch.repeat_interleave(torch.arange(chars.shape[1], device=chars.device), kept)
            idx = idx[: self.config.max_frames]
            frames[b, : len(idx)] = chars[b, idx]
        mask = torch.arange(frames.shape[1], device=chars.device) < lengths.unsqueeze(1)
        return frames, mask

    def decode(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = frames + self.frame_pos[:, : frames.shape[1]]
        return self.to_mel(self.norm(self.decoder(x, src_key_padding_mask=padding_mask(mask))))

    def forward(self, batch: dict) -> dict:
        """Teacher-forced: batch["durations"] [B, T] frames per character."""
        chars = self.encode(batch)
        log_durations = self.duration(chars).squeeze(-1)
        frames, frame_mask = self.expand(chars, batch["durations"])
        return {"mel": self.decode(frames, frame_mask), "frame_mask": frame_mask, "log_durations": log_durations}

    @torch.no_grad()
    def mels(self, texts: list[str], batch_size: int = 16) -> list[np.ndarray]:
        """[n_mels, frames] natural-log mel power per text, with predicted durations."""
        from ..layers import to_device
        self.eval()
        device = next(self.parameters()).device
        out = []
        for start in range(0, len(texts), batch_size):
            batch = to_device(self.preprocess({"text": texts[start:start + batch_size]}), device)
            chars = self.encode(batch)
            predicted = self.duration(chars).squeeze(-1).clamp(max=MAX_LOG_DURATION).exp() - 1
            durations = predicted.round().clamp(min=0).long() * batch["mask"]
            frames, mask = self.expand(chars, durations)
            mel = self.decode(frames, mask).float().cpu()
            out += [mel[b, : int(mask[b].sum())].T.numpy() for b in range(len(mel))]
        return out

    def speak_texts(self, texts: list[str], voice: str | None = None) -> list:
        """texts -> Audio (16 kHz), vocoded by Griffin-Lim. `voice` is not used: one voice."""
        from ..modalities import Audio
        from ..speech.vocoder import vocode
        cfg = self.config.mel
        out = []
        for text, mel in zip(texts, self.mels(texts)):
            if mel.shape[1] < 2:
                raise InputError(f"{text!r}: the synthesiser produced no sound")
            out.append(Audio(vocode(mel, cfg), cfg.sample_rate, "<synthesizer>"))
        return out
