"""The `sort-of-clevr` preset: the Relation Networks paper's diagnostic set (Santoro et al. 2017).

75x75 white images with 6 objects, one of each colour, each a square (10 px side) or a
circle (radius 5), centres never closer than 10 px. Per image 10 non-relational and 10
relational questions, phrased as English sentences. Answers: yes, no, square, circle, 1..6.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..processors.text import split_words

SIZE = 75
SPOKEN_COLUMN = "question"          # what `data shapes --spoken` speaks
OBJECT_HALF = 5          # half a square's side = a circle's radius
MIN_CENTRE_DISTANCE = 10
COLOURS = {
    "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
    "orange": (255, 156, 0), "yellow": (255, 255, 0), "gray": (128, 128, 128),
}
SHAPES = ("square", "circle")
ANSWERS = ("yes", "no", "square", "circle", "1", "2", "3", "4", "5", "6")

# family -> (template, relational?)
QUESTION_FAMILIES = {
    "shape": ("what is the shape of the {c} object?", False),
    "left": ("is the {c} object on the left?", False),
    "top": ("is the {c} object at the top?", False),
    "closest": ("what is the shape of the object closest to the {c} object?", True),
    "furthest": ("what is the shape of the object furthest from the {c} object?", True),
    "count": ("how many objects have the same shape as the {c} object?", True),
}
# Two-turn dialogues (the vlm's chat test): the opener names an object by its relation to
# another and is answered with that object's colour; the follow-up asks about "it", so only
# the first answer says which object it means.
DIALOGUE_OPENERS = {"closest": "what is the colour of the object closest to the {c} object?",
                    "furthest": "what is the colour of the object furthest from the {c} object?"}
FOLLOW_UPS = {"shape": "what is its shape?", "left": "is it on the left?", "top": "is it at the top?"}
NON_RELATIONAL = [f for f, (_, rel) in QUESTION_FAMILIES.items() if not rel]
RELATIONAL = [f for f, (_, rel) in QUESTION_FAMILIES.items() if rel]
QUESTIONS_PER_KIND = 10


@dataclass
class SceneObject:
    colour: str
    shape: str
    x: int
    y: int

    def box(self) -> list[float]:
        h = OBJECT_HALF
        return [self.x - h, self.y - h, self.x + h, self.y + h]


@dataclass
class QA:
    question: str
    answer: str
    family: str
    relational: bool


@dataclass
class Scene:
    image: np.ndarray                 # uint8 [75, 75, 3]
    objects: list[SceneObject]
    questions: list[QA] = field(default_factory=list)
    caption: str = ""                 # describe(objects)


def place_objects(rng: np.random.Generator) -> list[SceneObject]:
    while True:
        centres: list[np.ndarray] = []
        while len(centres) < len(COLOURS):
            c = rng.integers(OBJECT_HALF, SIZE - OBJECT_HALF, size=2)
            if all(np.hypot(*(c - o)) >= MIN_CENTRE_DISTANCE for o in centres):
                centres.append(c)
        if not has_distance_ties(centres):
            break
    return [SceneObject(colour, SHAPES[rng.integers(2)], int(c[0]), int(c[1]))
            for colour, c in zip(COLOURS, centres)]


def has_distance_ties(centres: list[np.ndarray]) -> bool:
    """True if some object has two equally close (or equally far) neighbours: then
    "closest"/"furthest" would have no single answer. Such layouts (about 3%) are redrawn."""
    for i, c in enumerate(centres):
        d = sorted(int(((c - o) ** 2).sum()) for j, o in enumerate(centres) if j != i)
        if d[0] == d[1] or d[-1] == d[-2]:
            return True
    return False


def render(objects: list[SceneObject]) -> np.ndarray:
    img = np.full((SIZE, SIZE, 3), 255, np.uint8)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    for o in objects:
        if o.shape == "square":
            # half-open range: exactly 10 px per side
            inside = ((xs >= o.x - OBJECT_HALF) & (xs < o.x + OBJECT_HALF)
                      & (ys >= o.y - OBJECT_HALF) & (ys < o.y + OBJECT_HALF))
        else:   # the paper's circle: radius 5 around the centre pixel, so 11 px across
            inside = (xs - o.x) ** 2 + (ys - o.y) ** 2 <= OBJECT_HALF ** 2
        img[inside] = COLOURS[o.colour]
    return img


def related(objects: list[SceneObject], target: SceneObject, relation: str) -> SceneObject:
    """The object closest to or furthest from the target."""
    others = [o for o in objects if o is not target]
    dist = [np.hypot(o.x - target.x, o.y - target.y) for o in others]
    return others[int(np.argmin(dist) if relation == "closest" else np.argmax(dist))]


def answer(objects: list[SceneObject], family: str, colour: str) -> str:
    target = next(o for o in objects if o.colour == colour)
    if family == "shape":
        return target.shape
    if family == "left":
        return "yes" if target.x < SIZE / 2 else "no"
    if family == "top":
        return "yes" if target.y < SIZE / 2 else "no"
    if family in ("closest", "furthest"):
        return related(objects, target, family).shape
    if family == "count":
        return str(sum(o.shape == target.shape for o in objects))
    raise ValueError(family)


def ask(objects: list[SceneObject], rng: np.random.Generator) -> list[QA]:
    qas = []
    for families in (NON_RELATIONAL, RELATIONAL):
        for _ in range(QUESTIONS_PER_KIND):
            family = families[rng.integers(len(families))]
            colour = list(COLOURS)[rng.integers(len(COLOURS))]
            template, relational = QUESTION_FAMILIES[family]
            qas.append(QA(template.format(c=colour), answer(objects, family, colour), family, relational))
    return qas


def dialogue(objects: list[SceneObject], rng: np.random.Generator) -> tuple[QA, QA]:
    """An opener and its follow-up (see DIALOGUE_OPENERS)."""
    relation = list(DIALOGUE_OPENERS)[rng.integers(len(DIALOGUE_OPENERS))]
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    it = related(objects, next(o for o in objects if o.colour == colour), relation)
    follow = list(FOLLOW_UPS)[rng.integers(len(FOLLOW_UPS))]
    return (QA(DIALOGUE_OPENERS[relation].format(c=colour), it.colour, f"{relation} colour", True),
            QA(FOLLOW_UPS[follow], answer(objects, follow, it.colour), f"its {follow}", True))


# Captions, for the captioner -> text question answerer system: every object, in colour
# order, with the ninth of the image it sits in ("red square top left, green circle centre,
# ..."), as a person would describe the scene. What a 3x3 position cannot say (which of two
# objects is closer, which side of the middle) is what that system loses.
ROW_WORDS, COLUMN_WORDS = ("top", "", "bottom"), ("left", "", "right")


def region(x: float, y: float) -> str:
    row, col = min(int(3 * y // SIZE), 2), min(int(3 * x // SIZE), 2)
    return " ".join(w for w in (ROW_WORDS[row], COLUMN_WORDS[col]) if w) or "centre"


def describe(objects: list[SceneObject]) -> str:
    by_colour = {o.colour: o for o in objects}
    return ", ".join(f"{c} {by_colour[c].shape} {region(by_colour[c].x, by_colour[c].y)}"
                     for c in COLOURS if c in by_colour)


def read_description(text: str) -> dict[str, tuple[str, str]]:
    """describe()'s text back into colour -> (shape, region); clauses outside it are left out."""
    out = {}
    for clause in text.lower().split(","):
        words = clause.split()
        if len(words) >= 3 and words[0] in COLOURS and words[1] in SHAPES:
            out[words[0]] = (words[1], " ".join(words[2:]))
    return out


def make_scene(rng: np.random.Generator, split: str = "train") -> Scene:
    """Every split is drawn the same way (from its own random stream)."""
    objects = place_objects(rng)
    return Scene(render(objects), objects, ask(objects, rng), describe(objects))


def rows(scene: Scene, image: str) -> list[dict]:
    """Manifest rows (the columns docs/data.md lists): one per question, each with the scene's caption."""
    return [{"image": image, "question": qa.question, "answer": qa.answer, "family": qa.family,
             "relational": qa.relational, "caption": scene.caption} for qa in scene.questions]


def question_vocabulary() -> list[str]:
    """Every word any sort-of-clevr question can use (so a tokenizer can be built without data)."""
    words = set()
    for template, _ in QUESTION_FAMILIES.values():
        for colour in COLOURS:
            words.update(split_words(template.format(c=colour)))
    return sorted(words)
