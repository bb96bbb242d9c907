"""The `signs` preset: words written on a scene, for reading text in images (OCR systems).

160x64 white images with 1-3 words from a fixed list, written left to right (each a little
higher or lower) in black or a world colour, in the sans-serif font Pillow bundles. Five
questions per image about what is written: the first word, the last word, how many words,
and whether a given word is there. The `transcript` is the words in reading order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..processors.text import split_words
from .sort_of_clevr import COLOURS

WIDTH, HEIGHT = 160, 64
FONT_SIZE = 18
SPOKEN_COLUMN = "question"
WORDS = ("cat", "dog", "sun", "tree", "car", "fish", "bird", "book", "cup", "hat", "key", "map",
         "box", "pen", "bus", "egg", "ship", "star", "moon", "lamp", "door", "bell", "cake", "frog")
# yellow and gray are left out: too faint on white to be read reliably, by people or OCR
INKS = {"black": (0, 0, 0), **{c: COLOURS[c] for c in ("red", "green", "blue", "orange")}}
QUESTION_FAMILIES = {
    "first": "what is the first word?",
    "last": "what is the last word?",
    "count": "how many words are written?",
    "has": "is the word {w} written?",
}
QUESTIONS_PER_SCENE = 5


@dataclass
class Word:
    text: str
    ink: str
    x: int
    y: int


@dataclass
class QA:
    question: str
    answer: str
    family: str
    relational: bool = False


@dataclass
class Scene:
    image: np.ndarray                   # uint8 [64, 160, 3]
    words: list[Word]
    transcript: str                     # the words in reading order
    questions: list[QA] = field(default_factory=list)

    @property
    def objects(self) -> list[Word]:
        return self.words


def font():
    from PIL import ImageFont
    return ImageFont.load_default(size=FONT_SIZE)


def render(words: list[Word]) -> np.ndarray:
    from PIL import Image as PILImage
    from PIL import ImageDraw
    canvas = PILImage.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(canvas)
    for w in words:
        draw.text((w.x, w.y), w.text, fill=INKS[w.ink], font=font())
    return np.asarray(canvas)


def ask(words: list[Word], rng: np.random.Generator) -> list[QA]:
    texts = [w.text for w in words]
    qas = []
    for _ in range(QUESTIONS_PER_SCENE):
        family = list(QUESTION_FAMILIES)[int(rng.integers(len(QUESTION_FAMILIES)))]
        if family == "has":
            present = bool(rng.integers(2))
            pool = texts if present else [w for w in WORDS if w not in texts]
            word = pool[int(rng.integers(len(pool)))]
            qas.append(QA(QUESTION_FAMILIES[family].format(w=word), "yes" if word in texts else "no", family))
        else:
            answer = {"first": texts[0], "last": texts[-1], "count": str(len(texts))}[family]
            qas.append(QA(QUESTION_FAMILIES[family], answer, family))
    return qas


def make_scene(rng: np.random.Generator, split: str = "train") -> Scene:
    """Every split is drawn the same way, from its own random stream."""
    n = int(rng.integers(1, 4))
    texts = [WORDS[i] for i in rng.choice(len(WORDS), n, replace=False)]
    slot = WIDTH // 3
    start = int(rng.integers(0, 3 - n + 1))            # which thirds the words take
    words = [Word(t, list(INKS)[int(rng.integers(len(INKS)))], (start + k) * slot + int(rng.integers(2, 10)),
                  int(rng.integers(4, HEIGHT - FONT_SIZE - 6))) for k, t in enumerate(texts)]
    return Scene(render(words), words, " ".join(texts), ask(words, rng))


def rows(scene: Scene, image: str) -> list[dict]:
    """Manifest rows: one per question, each with the transcript."""
    return [{"image": image, "question": qa.question, "answer": qa.answer, "family": qa.family,
             "relational": False, "transcript": scene.transcript} for qa in scene.questions]


def question_vocabulary() -> list[str]:
    words = set(WORDS)
    for template in QUESTION_FAMILIES.values():
        words.update(split_words(template.format(w="cat")))
    return sorted(words)
