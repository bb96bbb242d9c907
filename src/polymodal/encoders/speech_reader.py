"""Reading speech into a text encoder's token space, so that the fusion that answers typed
questions answers spoken ones from the same kind of tokens.

A SpeechReader is an audio encoder (log-mel + transformer; in practice the recogniser's,
kept as trained) and `slots` learned queries that attend to its frames: slot i becomes the
i-th token of the text the clip says, as the typed model's text encoder would give it, and
says whether that token is there at all. A model trains it by distillation, the typed
question being the teacher (models/reader.py, ReaderModel.teach): the answer alone is a
weak signal of which question was asked.
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import ConfigError
from .audio import LogMelEncoder
from .base import Embedding, Encoder
from .registry import ENCODERS


@ENCODERS.register("speech-reader")
class SpeechReader(Encoder):
    modality = "audio"

    def __init__(self, audio: dict, dim: int = 64, slots: int = 16, width: int = 128, layers: int = 2,
                 heads: int = 4, train_audio: bool = False, words: int = 0):
        """audio: the LogMelEncoder's config; dim: the text encoder's width (what is written);
        slots: the longest text read, in tokens; train_audio: False keeps the audio encoder as
        it starts (taken from a recogniser by `init`), eval mode included; words: the text
        tokenizer's vocabulary size, for a head that also names each slot's word in training
        (0: none)."""
        super().__init__()
        self.config = dict(audio=dict(audio), dim=dim, slots=slots, width=width, layers=layers, heads=heads,
                           train_audio=train_audio, words=words)
        self.audio = LogMelEncoder(**audio)
        self.processor = self.audio.processor
        self.dim = dim
        self.frames = nn.Linear(self.audio.dim, width)
        self.slots = nn.Parameter(torch.randn(1, slots, width) * 0.02)
        layer = nn.TransformerDecoderLayer(width, heads, 4 * width, dropout=0.1, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers, norm=nn.LayerNorm(width))
        self.token = nn.Linear(width, dim)
        self.present = nn.Linear(width, 1)       # logit: does slot i hold a token of the text?
        self.word = nn.Linear(width, words) if words else None
        self.audio.requires_grad_(train_audio)

    @property
    def pretrained_part(self) -> nn.Module:
        """What a recipe's `init` for this encoder loads: the audio encoder it reads from."""
        return self.audio

    @property
    def exported_part(self) -> Encoder:
        """ONNX export runs the audio encoder; the slots read its frames in PyTorch, as the
        reading model asks for their word logits too (models/reader.py)."""
        return self.audio

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.config["train_audio"]:
            self.audio.eval()               # its dropout off, as when it was a recogniser's
        return self

    def read(self, inputs: dict, words: bool = False) -> tuple:
        """-> (tokens [B, slots, dim], presence logits [B, slots]), and with `words` the word
        logits [B, slots, vocabulary] (None without a word head)."""
        frames = self.audio(inputs)
        ignore = ~frames.mask
        ignore[:, 0] &= frames.mask.any(1)        # an empty clip would give NaN attention
        x = self.decoder(self.slots.expand(len(frames.tokens), -1, -1), self.frames(frames.tokens),
                         memory_key_padding_mask=ignore)
        out = (self.token(x), self.present(x).squeeze(-1))
        return out + (self.word(x) if self.word is not None else None,) if words else out

    @staticmethod
    def embedding(tokens: torch.Tensor, presence: torch.Tensor) -> Embedding:
        mask = presence > 0
        mask[:, 0] = True                          # a text has at least its first token
        return Embedding(tokens, mask, tokens[:, 0])

    def forward(self, inputs: dict) -> Embedding:
        return self.embedding(*self.read(inputs))


def distillation_loss(tokens: torch.Tensor, presence: torch.Tensor, teacher: Embedding,
                      word_logits: torch.Tensor | None = None, word_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error to the teacher's tokens where the teacher has them, plus the
    cross-entropy of saying which slots hold a token, plus (with a word head) that of naming
    each slot's word: a sharper signal than the squared error of which question was said."""
    slots = tokens.shape[1]
    if teacher.tokens.shape[1] > slots:
        raise ConfigError(f"speech-reader: a text of {teacher.tokens.shape[1]} tokens needs slots >= that "
                          f"(has {slots})")
    pad = slots - teacher.tokens.shape[1]
    target = nn.functional.pad(teacher.tokens.detach(), (0, 0, 0, pad))
    there = nn.functional.pad(teacher.mask, (0, pad)).to(tokens.dtype)
    squared = ((tokens - target) ** 2).mean(-1)
    loss = (squared * there).sum() / there.sum() + nn.functional.binary_cross_entropy_with_logits(presence, there)
    if word_logits is not None:
        ids = nn.functional.pad(word_ids, (0, pad)).masked_fill(there == 0, -100)
        loss = loss + nn.functional.cross_entropy(word_logits.flatten(0, 1), ids.flatten(), ignore_index=-100)
    return loss
