"""Transcripts as recognisers see them: lower case, numbers as words, no punctuation. Both
the reference and the recogniser's output are normalised this way before WER is counted."""
from __future__ import annotations

import re

NUMBERS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
           "7": "seven", "8": "eight", "9": "nine", "10": "ten"}
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")     # words (any script), apostrophes inside


def normalize_transcript(text: str) -> str:
    words = _TOKEN.findall(text.lower())
    return " ".join(NUMBERS.get(w, w) for w in words)
