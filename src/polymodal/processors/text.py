"""A word-level tokenizer whose vocabulary is built from data and saved in the model config.

The embedded world's language is small and closed, so words (not subwords) are the right
unit; an unknown word is an input error rather than a silent <unk>, because a model that
never saw the word cannot answer about it. The exception is a vocabulary built with
`unknown=True` (a question answerer reading what an OCR engine or a captioner wrote, which
may hold misread words): there an unknown word becomes <unk> and keeps its place.
"""
from __future__ import annotations

import re
from typing import Iterable

import torch

from ..core.errors import InputError
from ..modalities import Text

PAD, CLS, UNK = "<pad>", "<cls>", "<unk>"
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def split_words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def join_words(words: Iterable[str]) -> str:
    """The inverse of split_words for display: "top left , green" -> "top left, green"."""
    return re.sub(r" ([^\sa-z0-9<])", r"\1", " ".join(words))


class WordTokenizer:
    def __init__(self, vocab: list[str], max_length: int = 32):
        if vocab[:2] != [PAD, CLS]:
            vocab = [PAD, CLS] + [w for w in vocab if w not in (PAD, CLS)]
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.max_length = max_length

    @classmethod
    def build(cls, texts: Iterable[str], max_length: int = 32, unknown: bool = False) -> "WordTokenizer":
        words = sorted({w for t in texts for w in split_words(t)})
        return cls(words + ([UNK] if unknown else []), max_length)

    def encode(self, text: str) -> list[int]:
        ids = [self.index[CLS]]
        for w in split_words(text):
            if w not in self.index and UNK not in self.index:
                raise InputError(f"{text!r}: unknown word {w!r} (not in this model's vocabulary)")
            ids.append(self.index.get(w, self.index.get(UNK)))
        if len(ids) > self.max_length:
            raise InputError(f"{text!r}: {len(ids)} tokens, more than this model's {self.max_length}")
        return ids

    def __call__(self, texts: list) -> dict[str, torch.Tensor]:
        encoded = [self.encode(t.text if isinstance(t, Text) else t) for t in texts]
        width = max(len(e) for e in encoded)
        ids = torch.zeros(len(encoded), width, dtype=torch.long)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = torch.tensor(e)
        return {"input_ids": ids, "attention_mask": (ids != 0).long()}
