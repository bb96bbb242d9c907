"""Speech recognition: log-mel features -> a conv-subsampled transformer (the `logmel`
encoder) -> per-frame character probabilities, trained with CTC; read by a beam search over
the training transcripts' words and their n-grams (speech/ctc_beam.py), or greedily."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from torch import nn
from tqdm.auto import tqdm

from ..core.config import Config
from ..core.errors import InputError
from ..core.results import Transcript
from ..encoders.registry import build_encoder
from ..layers import to_device
from ..modalities import Audio
from ..speech.ctc_beam import END, START, LexiconBeamSearch, WordNgrams
from ..speech.text import normalize_transcript
from .base import Pretrained
from .registry import MODEL_KINDS

BLANK = 0       # CTC's "no symbol" is index 0; alphabet[i] is index i + 1


@dataclass
class RecognizerConfig(Config):
    audio_encoder: dict                              # {"name": "logmel", "config": {...}}
    alphabet: str = " abcdefghijklmnopqrstuvwxyz'"   # output characters, after normalize_transcript
    chunk_seconds: float = 20.0                      # longer audio is read in windows of this length
    lexicon: list[str] = field(default_factory=list)  # the training transcripts' words; decoding
                                                      # snaps a word it misspells to the nearest one
    # context (the words before) -> next word -> count in the training transcripts, contexts
    # of 0 to 2 words: with a lexicon, decoding is a beam search that spells only its words
    word_ngrams: dict = field(default_factory=dict)
    kind_ngrams: dict = field(default_factory=dict)   # kind of sentence -> its own n-gram counts
    # wider beams keep alternative spellings alive on voices the model never heard; 256 is the
    # widest that decodes in under 0.1 s per utterance on a 2-core CPU (the model card measures it)
    beam_width: int = 256
    lm_weight: float = 0.5            # weight of log P(word | the words before) in the beam's score
    word_bonus: float = 1.0           # added per word (balances the LM's cost of each word)
    task: str = "transcribe"


@MODEL_KINDS.register("recognizer")
class Recognizer(Pretrained):
    kind = "recognizer"
    config_class = RecognizerConfig

    def __init__(self, config: RecognizerConfig):
        super().__init__()
        self.config = config
        self.audio_encoder = build_encoder(config.audio_encoder, "audio_encoder")
        self.to_symbols = nn.Linear(self.audio_encoder.dim, len(config.alphabet) + 1)
        self.index = {c: i + 1 for i, c in enumerate(config.alphabet)}
        self._lexicon = set(config.lexicon)
        self._beam_searches: dict = {}

    def beam_search(self, expect: str | None = None):
        """The lexicon beam search, when the config has a lexicon and word n-grams; with
        `expect`, over that kind of sentence's words and n-grams only."""
        c = self.config
        if expect is not None and expect not in c.kind_ngrams:
            raise InputError(f"expect={expect!r}: this recogniser knows "
                             f"{', '.join(sorted(c.kind_ngrams)) or 'no kinds of sentence'}")
        if expect not in self._beam_searches and c.lexicon and c.word_ngrams:
            counts = c.kind_ngrams[expect] if expect else c.word_ngrams
            lexicon = sorted({w for nexts in counts.values() for w in nexts} - {START, END}) if expect else c.lexicon
            self._beam_searches[expect] = LexiconBeamSearch(c.alphabet, lexicon, WordNgrams(counts), c.beam_width,
                                                            c.lm_weight, c.word_bonus)
        return self._beam_searches.get(expect)

    @property
    def modalities(self) -> list[str]:
        return ["audio"]

    @property
    def rate(self) -> int:
        return self.audio_encoder.processor.cfg.sample_rate

    @property
    def window_seconds(self) -> float:
        """Long audio is read in windows no longer than the encoder takes whole (its processor's
        max_frames: an encoder run elsewhere, e.g. by ONNX Runtime, keeps the processor)."""
        processor = self.audio_encoder.processor
        frames = (processor.max_frames - 1) * processor.cfg.hop_length / processor.cfg.sample_rate
        return min(self.config.chunk_seconds, frames)

    def encode_text(self, text: str) -> list[int]:
        norm = normalize_transcript(text)
        missing = sorted({c for c in norm if c not in self.index})
        if missing or not norm:
            raise InputError(f"{text!r}: cannot be a transcript for this recogniser "
                             f"({'characters ' + repr(''.join(missing)) if missing else 'nothing to say'})")
        return [self.index[c] for c in norm]

    def preprocess(self, values: dict) -> dict:
        """{"audio": values[, "transcript": texts]} -> features, and CTC targets when given."""
        batch = {"audio": self.audio_encoder.processor(values["audio"])}
        if "transcript" in values:
            seqs = [self.encode_text(t) for t in values["transcript"]]
            batch["targets"] = torch.tensor([i for s in seqs for i in s], dtype=torch.long)
            batch["target_lengths"] = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        return batch

    def forward(self, batch: dict) -> dict:
        emb = self.audio_encoder(batch["audio"])
        return {"log_probs": self.to_symbols(emb.tokens).float().log_softmax(-1), "lengths": emb.mask.sum(1)}

    @torch.no_grad()
    def transcribe_audios(self, audios: list[Audio], batch_size: int = 32, expect: str | None = None,
                          progress: bool = False) -> list[Transcript]:
        """One Transcript per audio; long audio is read in windows whose transcripts are
        joined. expect: the kind of sentence said (question, caption, ...), to decode with
        that kind's words and n-grams only."""
        self.eval()
        device = next(self.parameters()).device
        pieces, owner = [], []
        for i, audio in enumerate(audios):
            for piece in audio.windows(self.rate, self.window_seconds):
                pieces.append(piece)
                owner.append(i)
        texts: list[list[Transcript]] = [[] for _ in audios]
        for start in tqdm(range(0, len(pieces), batch_size), disable=not progress, desc="transcribing"):
            batch = self.preprocess({"audio": pieces[start:start + batch_size]})
            for i, heard in zip(owner[start:start + batch_size], self.decode(self(to_device(batch, device)), expect)):
                texts[i].append(heard)
        return [Transcript(" ".join(t.text for t in ts if t.text), float(np.mean([t.score for t in ts])))
                for ts in texts]

    @torch.no_grad()
    def decode(self, out: dict, expect: str | None = None) -> list[Transcript]:
        """The lexicon beam search where the model has one; otherwise greedy CTC: the best
        symbol per frame, repeats merged, blanks dropped, misspelt words snapped to the
        lexicon. Greedy also answers when no beam ends on a whole word, or when the beam
        finds nothing but greedy hears something (words far outside the lexicon). The score is
        the greedy path's mean per-frame probability either way (a rough confidence)."""
        best = out["log_probs"].max(-1)
        search = self.beam_search(expect)
        texts = []
        for k, (ids, logp, n) in enumerate(zip(best.indices.tolist(), best.values, out["lengths"].tolist())):
            chars, previous = [], BLANK
            for i in ids[:n]:
                if i != previous and i != BLANK:
                    chars.append(self.config.alphabet[i - 1])
                previous = i
            heard = "".join(chars).split()
            found = search(out["log_probs"][k, :n].cpu().numpy()) if search and heard else None
            texts.append(Transcript(found or self.spelled(heard), float(logp[:n].exp().mean()) if n else 0.0))
        return texts

    def spelled(self, words: list[str]) -> str:
        """Lexicon decoding: a word outside the lexicon becomes the lexicon's nearest word when
        at most half its letters differ (one, for short words); otherwise it stays as heard.
        Greedy CTC spells letter by letter, and on voices it never heard most word errors
        are one or two letters ("squae")."""
        if not self.config.lexicon:
            return " ".join(words)
        out = []
        for w in words:
            best = None if w in self._lexicon else process.extractOne(w, self.config.lexicon, scorer=Levenshtein.distance)
            out.append(best[0] if best and best[1] <= max(1, len(w) // 2) else w)
        return " ".join(out)
