"""CTC prefix beam search over a closed lexicon, scored with a word n-gram language model.

Greedy CTC reads the best symbol of each frame, so on a voice it never heard it spells
("squae") and sometimes drops or splits a word. The beam search instead keeps the `width`
best transcripts so far, frame by frame (Hannun et al., 2014, "First-pass large vocabulary
continuous speech recognition using bi-directional recurrent DNNs"): each may only spell
words of the lexicon (a letter must continue some lexicon word; a space must end one), and
each finished word adds `lm_weight * log P(word | the words before it) + word_bonus` to its
score. The n-gram counts come from the training transcripts, so the recogniser knows which
words follow which in the world it was trained on, as pocketsphinx knows from its grammar.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

BLANK = 0
NEG = -1e30          # log of zero
START, END = "<s>", "</s>"


def logadd(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    return a if b <= NEG else a + math.log1p(math.exp(b - a))


def ngram_counts(sentences: list[list[str]], order: int = 3) -> dict[str, dict[str, int]]:
    """context -> next word -> count, for every context of 0 to order-1 words (space-joined;
    START pads the beginning, END closes each sentence)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for words in sentences:
        padded = [START] * (order - 1) + words + [END]
        for i in range(order - 1, len(padded)):
            for n in range(order):
                counts[" ".join(padded[i - n:i])][padded[i]] += 1
    return {context: dict(nexts) for context, nexts in counts.items()}


@dataclass
class WordNgrams:
    """Interpolated n-grams: P(w | u v) = (c(u v, w) + k P(w | v)) / (c(u v) + k), down to the
    add-one unigram; the order is that of the longest context in the counts."""

    counts: dict[str, dict[str, int]]
    k: float = 1.0
    totals: dict[str, int] = field(init=False)

    def __post_init__(self):
        self.totals = {c: sum(nexts.values()) for c, nexts in self.counts.items()}
        self.order = 1 + max((len(c.split()) for c in self.counts), default=0)
        self.vocabulary = len(self.counts.get("", {}))      # distinct words seen, END included
        self._cache: dict[tuple, float] = {}

    def p(self, history: tuple[str, ...], word: str) -> float:
        key = (history, word)
        if key not in self._cache:
            if not history:
                # add-one over the words seen (END included): the lexicon is closed
                self._cache[key] = (self.counts.get("", {}).get(word, 0) + 1) / (self.totals.get("", 0) + self.vocabulary)
            else:
                context = " ".join(history)
                lower = self.p(history[1:], word)
                self._cache[key] = (self.counts.get(context, {}).get(word, 0) + self.k * lower) / \
                    (self.totals.get(context, 0) + self.k)
        return self._cache[key]

    def logp(self, history: tuple[str, ...], word: str) -> float:
        return math.log(self.p(history[len(history) - (self.order - 1):] if self.order > 1 else (), word))


@dataclass
class Beam:
    blank: float = NEG          # log P(the prefix, its last frame a blank)
    symbol: float = NEG         # log P(the prefix, its last frame its last symbol)

    @property
    def total(self) -> float:
        return logadd(self.blank, self.symbol)


class LexiconBeamSearch:
    def __init__(self, alphabet: str, lexicon: list[str], lm: WordNgrams, width: int = 16,
                 lm_weight: float = 0.5, word_bonus: float = 1.0, prune: float = -12.0):
        self.alphabet, self.lexicon, self.lm = alphabet, set(lexicon), lm
        self.width, self.lm_weight, self.word_bonus, self.prune = width, lm_weight, word_bonus, prune
        self.prefixes = {w[:i] for w in lexicon for i in range(1, len(w) + 1)}
        self.start = (START,) * max(lm.order - 1, 0)

    def word_score(self, history: tuple[str, ...], word: str) -> float:
        return self.lm_weight * self.lm.logp(history, word) + self.word_bonus

    def after(self, history: tuple[str, ...], word: str) -> tuple[str, ...]:
        return (history + (word,))[len(history) + 1 - len(self.start):] if self.start else ()

    def __call__(self, log_probs: np.ndarray) -> str | None:
        """[frames, symbols] log probabilities -> the best transcript of lexicon words, or
        None when no beam ends on a whole word."""
        beams = {"": Beam(blank=0.0)}
        context = {"": (0.0, self.start)}      # prefix -> (LM score of its finished words, the last of them)
        for frame in log_probs:
            candidates = [i for i in np.flatnonzero(frame > self.prune) if i != BLANK]
            following: dict[str, Beam] = defaultdict(Beam)
            for text, beam in beams.items():
                stay = following[text]
                stay.blank = logadd(stay.blank, beam.total + frame[BLANK])
                word = text[text.rfind(" ") + 1:]
                for i in candidates:
                    c, p = self.alphabet[i - 1], float(frame[i])
                    if text and c == text[-1]:          # a repeat merges unless a blank came between
                        stay.symbol = logadd(stay.symbol, beam.symbol + p)
                        start = beam.blank
                    else:
                        start = beam.total
                    if c == " " and word not in self.lexicon or c != " " and word + c not in self.prefixes:
                        continue
                    longer = text + c
                    following[longer].symbol = logadd(following[longer].symbol, start + p)
                    if longer not in context:
                        score, history = context[text]
                        context[longer] = (score + self.word_score(history, word), self.after(history, word)) \
                            if c == " " else (score, history)
            beams = dict(sorted(following.items(), key=lambda kv: -(kv[1].total + context[kv[0]][0]))[:self.width])
        return self.finish(beams, context)

    def finish(self, beams: dict[str, Beam], context: dict) -> str | None:
        best, best_score = None, NEG
        for text, beam in beams.items():
            score, history = context[text]
            word = text[text.rfind(" ") + 1:]
            if word:                                   # the last word, unless a space closed it
                if word not in self.lexicon:
                    continue
                score += self.word_score(history, word)
                history = self.after(history, word)
            if not text.strip():                       # nothing said
                total = beam.total
            else:
                total = beam.total + score + self.lm_weight * self.lm.logp(history, END)
            if total > best_score:
                best, best_score = text.strip(), total
        return best
