"""Image captioning: an image encoder and an autoregressive text decoder that reads the
image tokens through cross-attention; greedy and beam-search decoding."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..core.config import Config
from ..core.errors import ConfigError
from ..core.results import Caption
from ..encoders.registry import build_encoder
from ..processors.text import CLS, PAD, WordTokenizer, join_words
from .base import Pretrained
from .registry import MODEL_KINDS

EOS = "<eos>"


@dataclass
class CaptionerConfig(Config):
    image_encoder: dict          # {"name": registry name, "config": kwargs}
    vocab: list[str]             # caption words (built from data); <pad>, <cls> (start), <eos> first
    dim: int = 128
    layers: int = 3
    heads: int = 4
    max_length: int = 40         # tokens, counting <cls> and <eos>
    dropout: float = 0.1
    image_dropout: float = 0.0   # share of training captions decoded without their image, so
                                 # that the same decoder also knows the captions' word prior
    guidance: float = 0.0        # decoding: how far the image's evidence is pushed past that
                                 # prior (classifier-free guidance; needs image_dropout > 0)
    plausible: float = 0.1       # guided decoding only picks words the image-conditioned decoder
                                 # finds at least this share as likely as its best (contrastive
                                 # decoding's plausibility cut): else a word the words before
                                 # already fix ("the orange ... square", said twice) loses to
                                 # whatever the prior happens to rule out more
    word_dropout: float = 0.0    # share of the words before each prediction hidden in training,
                                 # so that the next word is read from the image more than from them
    task: str = "caption"


@MODEL_KINDS.register("captioner")
class Captioner(Pretrained):
    kind = "captioner"
    config_class = CaptionerConfig

    def __init__(self, config: CaptionerConfig):
        super().__init__()
        words = [w for w in config.vocab if w not in (PAD, CLS, EOS)]
        config.vocab = [PAD, CLS, EOS] + words
        self.config = config
        self.tokenizer = WordTokenizer(config.vocab, config.max_length - 1)   # room for <eos>
        self.eos = self.tokenizer.index[EOS]
        self.image_encoder = build_encoder(config.image_encoder, "image_encoder")
        self.to_memory = nn.Sequential(nn.Linear(self.image_encoder.dim, config.dim), nn.LayerNorm(config.dim))
        self.embed = nn.Embedding(len(config.vocab), config.dim, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(1, config.max_length, config.dim) * 0.02)
        layer = nn.TransformerDecoderLayer(config.dim, config.heads, 4 * config.dim, config.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, config.layers)
        self.norm = nn.LayerNorm(config.dim)
        self.to_words = nn.Linear(config.dim, len(config.vocab))
        if config.image_dropout:
            self.null_memory = nn.Parameter(torch.zeros(1, 1, config.dim))    # "no image"
        elif config.guidance:
            raise ConfigError("captioner: guidance needs a decoder trained with image_dropout")

    @property
    def modalities(self) -> list[str]:
        return ["image"]

    def preprocess(self, values: dict) -> dict:
        """{"image": images[, "caption": texts]} -> tensors; a caption becomes
        input_ids (<cls> w1 .. wn) and targets (w1 .. wn <eos>), padded with 0."""
        batch = {"image": self.image_encoder.processor(values["image"])}
        if "caption" in values:
            seqs = [self.tokenizer.encode(t) + [self.eos] for t in values["caption"]]
            ids = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
            for row, s in enumerate(seqs):
                ids[row, : len(s)] = torch.tensor(s)
            batch["input_ids"], batch["targets"] = ids[:, :-1].clone(), ids[:, 1:].clone()
            batch["input_ids"][batch["input_ids"] == self.eos] = 0
        return batch

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.to_memory(self.image_encoder(pixels).tokens)

    def decode(self, memory: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Next-word logits [B, T, V] for every prefix of ids (causal self-attention)."""
        t = ids.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool, device=ids.device), diagonal=1)
        x = self.embed(ids) + self.pos[:, :t]
        x = self.decoder(x, memory, tgt_mask=causal, tgt_key_padding_mask=ids == 0, tgt_is_causal=True)
        return self.to_words(self.norm(x))

    def forward(self, batch: dict) -> torch.Tensor:
        """Teacher forcing: logits for each next word of batch["input_ids"]."""
        ids = batch["input_ids"].clone()
        if self.training and self.config.word_dropout:
            # hidden as padding: attention skips them (the <cls> at position 0 always stays)
            ids = ids.masked_fill(torch.rand(ids.shape, device=ids.device) < self.config.word_dropout, 0)
        ids[:, 0] = self.tokenizer.index[CLS]          # position 0 is never padding
        memory = self.encode(batch["image"])
        if self.training and self.config.image_dropout:
            dropped = torch.rand(len(memory), 1, 1, device=memory.device) < self.config.image_dropout
            memory = torch.where(dropped, self.null_memory.to(memory.dtype).expand_as(memory), memory)
        return self.decode(memory, ids)

    def next_word_logp(self, memory: torch.Tensor, seqs: torch.Tensor, guidance: float) -> torch.Tensor:
        """[B, V] log-probabilities of the next word. With guidance w, the image's log-odds
        over the prior are scaled by 1 + w: log p(word | image) + w (log p(word | image) -
        log p(word)), among the plausible words only, so a pairing the captions never showed
        (a green circle) is not talked out of by the words before it."""
        logp = self.decode(memory, seqs)[:, -1].float().log_softmax(-1)
        if not guidance:
            return logp
        prior = self.decode(self.null_memory.to(memory.dtype).expand_as(memory), seqs)[:, -1].float().log_softmax(-1)
        guided = logp + guidance * (logp - prior)
        implausible = logp < logp.max(-1, keepdim=True).values + math.log(self.config.plausible)
        return guided.masked_fill(implausible, float("-inf")).log_softmax(-1)

    @torch.no_grad()
    def generate(self, pixels: torch.Tensor, beams: int = 1, max_length: int | None = None,
                 guidance: float | None = None) -> list[Caption]:
        """Beam search (beams=1 is greedy): keeps the `beams` most probable prefixes per image;
        a prefix that has said <eos> stays finished at no further cost. guidance: None = the
        config's."""
        max_length = min(max_length or self.config.max_length, self.config.max_length)
        guidance = self.config.guidance if guidance is None else guidance
        if guidance and not self.config.image_dropout:
            raise ConfigError("captioner: guidance needs a decoder trained with image_dropout")
        memory = self.encode(pixels).repeat_interleave(beams, 0)
        n, vocab = len(pixels), len(self.config.vocab)
        seqs = torch.full((n * beams, 1), self.tokenizer.index[CLS], dtype=torch.long, device=pixels.device)
        scores = torch.full((n, beams), float("-inf"), device=pixels.device)
        scores[:, 0] = 0.0                              # all beams start as one prefix
        done = torch.zeros(n * beams, dtype=torch.bool, device=pixels.device)
        for _ in range(max_length - 1):
            logp = self.next_word_logp(memory, seqs, guidance)
            logp[:, :2] = float("-inf")                 # never <pad> or <cls> mid-caption
            logp[done] = float("-inf")
            logp[done, 0] = 0.0                         # finished: pad for free
            total = (scores.view(-1, 1) + logp).view(n, beams * vocab)
            scores, flat = total.topk(beams, dim=-1)
            rows = (torch.arange(n, device=pixels.device).unsqueeze(1) * beams + flat // vocab).view(-1)
            words = (flat % vocab).view(-1, 1)
            seqs = torch.cat([seqs[rows], words], dim=1)
            done = done[rows] | (words.view(-1) == self.eos)
            if done.all():
                break
        best = scores.argmax(-1)
        out = []
        for i in range(n):
            ids = seqs[i * beams + best[i], 1:].tolist()
            ids = ids[: ids.index(self.eos)] if self.eos in ids else [t for t in ids if t]
            out.append(Caption(join_words(self.config.vocab[t] for t in ids), float(scores[i, best[i]].exp())))
        return out
