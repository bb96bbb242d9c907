"""A multimodal model whose speech is read into another modality's token space.

One modality's encoder (a speech reader, encoders/speech_reader.py) writes the tokens another
modality's encoder gives (`read_as: {audio: text}`), so the fusion that answers typed
questions answers spoken ones from the same kind of tokens. It is trained by distillation:
the typed question is the teacher of the spoken one (`teach`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..core.errors import ConfigError
from ..encoders.base import Embedding
from ..encoders.speech_reader import SpeechReader, distillation_loss
from ..encoders.text import TextTransformer
from .multimodal import ModelConfig, MultimodalModel
from .registry import MODEL_KINDS


@dataclass
class ReaderModelConfig(ModelConfig):
    read_as: dict[str, str] = field(default_factory=dict)   # e.g. {"audio": "text"}: that modality's
                                         # encoder (a speech reader) writes the other's tokens
    read_words: bool = False             # answering, the reader's named words (its word head) enter the
                                         # written modality's encoder as typed words do, in place of the
                                         # reader's own tokens (training still answers through those)


@MODEL_KINDS.register("multimodal-reader")
class ReaderModel(MultimodalModel):
    kind = "multimodal-reader"
    config_class = ReaderModelConfig

    def __init__(self, config: ReaderModelConfig):
        self.check_readers(config)
        super().__init__(config)
        for src, dst in config.read_as.items():
            reader, written = self.encoders[src], self.encoders[dst]
            if not isinstance(reader, SpeechReader) or reader.dim != written.dim:
                raise ConfigError(f"read_as {src} -> {dst}: {src} needs a speech-reader encoder writing {dst}'s "
                                  f"width ({written.dim})")
            words = reader.config["words"]
            if words and isinstance(written, TextTransformer) and words != len(written.processor.vocab):
                raise ConfigError(f"read_as {src} -> {dst}: the reader names {words} words, the {dst} "
                                  f"tokenizer has {len(written.processor.vocab)}")
            if config.read_words and not (words and isinstance(written, TextTransformer)):
                raise ConfigError(f"read_words: the {src} reader needs a word head (words) and the {dst} "
                                  f"encoder a word input (a transformer)")

    def encoders_in_torch(self) -> set[str]:
        """With read_words, the written modality's encoder also takes the reader's word
        probabilities (encode_words), which its ONNX graph does not."""
        return {f"encoders.{dst}" for dst in self.config.read_as.values()} if self.config.read_words else set()

    @staticmethod
    def check_readers(config: ReaderModelConfig) -> None:
        if not config.read_as:
            raise ConfigError("a multimodal-reader model needs read_as (e.g. {audio: text})")
        for src, dst in config.read_as.items():
            if src not in config.encoders or dst not in config.encoders:
                raise ConfigError(f"read_as {src} -> {dst}: both need encoders")

    def fused_dims(self) -> dict[str, int]:
        """A read modality joins the one it writes: the fusion takes only the latter."""
        return {m: e.dim for m, e in self.encoders.items() if m not in self.config.read_as}

    def fused_modality(self, modality: str) -> str:
        return self.config.read_as.get(modality, modality)

    def forward(self, batch: dict):
        """With batch["teach"], see teach(); otherwise the answer logits."""
        self.check_inputs(batch)
        if batch.get("teach"):
            return self.teach(batch)
        return self.answer(self.read_into(self.encode(batch)))

    def encode_modality(self, modality: str, inputs) -> Embedding:
        return self.written(modality, inputs) if modality in self.config.read_as else self.encoders[modality](inputs)

    def written(self, src: str, inputs: dict) -> Embedding:
        """What a reader writes for the modality it reads as: its tokens, or with read_words
        the tokens that modality's encoder makes of the words it names (each slot's word
        probabilities weighting the encoder's word embeddings)."""
        reader = self.encoders[src]
        tokens, presence, words = reader.read(inputs, words=True)
        own = reader.embedding(tokens, presence)
        if not self.config.read_words:
            return own
        return self.encoders[self.config.read_as[src]].encode_words(words.softmax(-1), own.mask)

    def read_into(self, embs: dict) -> dict:
        """Read modalities join the tokens of the one they write (typed and spoken together)."""
        for src, dst in self.config.read_as.items():
            if src not in embs:
                continue
            read = embs.pop(src).expanded()
            if dst in embs:
                own = embs[dst].expanded()
                read = Embedding(torch.cat([own.tokens, read.tokens], 1), torch.cat([own.mask, read.mask], 1),
                                 own.pooled)
            embs[dst] = read
        return embs

    def teach(self, batch: dict) -> dict:
        """Training a reader: the batch holds each question typed and spoken; the fusion
        answers from the spoken one read alone, and the read tokens are pulled towards the
        typed one's (the teacher) -> {"logits", "read_loss"}. The answer learns through the
        reader's own tokens even with read_words: the word head learns from the typed words
        alone (the model card of vqa-spoken gives the figures)."""
        embs = self.encode(batch, skip=self.config.read_as)
        loss = 0.0
        for src, dst in self.config.read_as.items():
            tokens, presence, words = self.encoders[src].read(batch[src], words=True)
            loss = loss + distillation_loss(tokens, presence, embs.pop(dst).expanded(), words,
                                            batch[dst].get("input_ids") if words is not None else None)
            embs[dst] = self.encoders[src].embedding(tokens, presence)
        return {"logits": self.answer(embs), "read_loss": loss}
