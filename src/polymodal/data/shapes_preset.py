"""The `shapes` preset: 64x64 scenes with 1-4 flat objects, captions, referring expressions
with boxes, and prompts; the vision-language world (captioning, grounding, alignment,
generation).

* Six colours (those of sort-of-clevr) x three shapes (circle, square, triangle); the star
  and the cross can be drawn too (`extra_shapes`) for classes that training never shows.
* No two objects in a scene share a colour+shape pair, and object boxes never touch, so
  "the red circle" always names one object and a scene can be read back from its pixels.
* Four colour+shape pairs (COMPOSITIONAL_PAIRS) never appear in train/val/test; every
  scene of the `compositional` split contains at least one of them.
* The caption describes every object, left to right, and how each stands to the next one
  ("a red circle left of a blue square and the blue square above a green triangle"); the
  relation named is the one along the axis where the two centres are further apart, so it
  is never a near tie.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..core.errors import InputError
from . import draw
from .sort_of_clevr import COLOURS

SIZE = 64
SPOKEN_COLUMN = "caption"          # what `data shapes --spoken` speaks
SHAPES = ("circle", "square", "triangle")
EXTRA_SHAPES = ("star", "cross")              # drawable, but only when asked for
# More drawable shapes that alignment training may show (`extra_shapes` in its data), so that
# the aligner learns shape features from seven outlines rather than three; the star and the
# cross stay unseen, as the few-shot classes.
PRETRAINING_SHAPES = ("diamond", "pentagon", "hexagon", "ring")
HALF_RANGE = (5, 8)                           # half a side in pixels: sides of 10-16 px
GAP = 3                                       # least space between two objects' boxes
MAX_OBJECTS = 4
COMPOSITIONAL_PAIRS = (("red", "triangle"), ("green", "circle"), ("blue", "square"), ("orange", "triangle"))
RELATIONS = ("left of", "right of", "above", "below")
OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
CLEAR_MARGIN = 4                              # px between centres for a relation to be stated
# A generator draws objects a pixel or two past their planned boxes: plans leave more room
# between boxes and along the image's edges than the world's scenes do (measured on held-out
# prompts, docs/generation.md), and fall back to the world's own spacing when a prompt's
# relations leave no such room.
PLAN_GAP, PLAN_BORDER = 6, 1


@dataclass
class ShapeObject:
    colour: str
    shape: str
    x: int
    y: int
    half: int

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    def box(self) -> list[int]:
        """[x0, y0, x1, y1] in pixels, x1/y1 exclusive."""
        return [self.x - self.half, self.y - self.half, self.x + self.half, self.y + self.half]


@dataclass
class Phrase:
    text: str
    box: list[int]
    kind: str                                 # "attribute" or "relational"
    target: int                               # index into the scene's objects


@dataclass
class Scene:
    image: np.ndarray                         # uint8 [64, 64, 3]
    objects: list[ShapeObject]
    caption: str
    phrases: list[Phrase]
    prompt: str                               # text-to-image prompt: describes every object
    questions: list = field(default_factory=list)   # no VQA questions in this preset


def relation_holds(a: ShapeObject, relation: str, b: ShapeObject, margin: int = 0) -> bool:
    """Whether `a <relation> b` is true, with centres at least `margin` px apart on that axis."""
    dx, dy = b.x - a.x, b.y - a.y
    return {"left of": dx > margin, "right of": -dx > margin,
            "above": dy > margin, "below": -dy > margin}[relation]


def dominant_relation(a: ShapeObject, b: ShapeObject) -> str:
    dx, dy = b.x - a.x, b.y - a.y
    if abs(dy) > abs(dx):
        return "above" if dy > 0 else "below"
    return "left of" if dx > 0 else "right of"


def allowed_pairs(split: str, shapes: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = [(c, s) for c in COLOURS for s in shapes]
    if split == "compositional":
        return pairs
    return [p for p in pairs if p not in COMPOSITIONAL_PAIRS]


def place(rng: np.random.Generator, pairs: list[tuple[str, str]]) -> list[ShapeObject]:
    """Objects at free positions with boxes at least GAP apart (rejection sampling; a layout
    with no room left for the next object is drawn again)."""
    while True:
        objects = try_place(rng, pairs)
        if objects is not None:
            return objects


def try_place(rng: np.random.Generator, pairs: list[tuple[str, str]], gap: int = GAP, border: int = 0,
              accept: Callable[[list[ShapeObject]], bool] | None = None) -> list[ShapeObject] | None:
    """One attempt at `place`: None when an object found no free spot in 100 draws. `gap`:
    the least space between two boxes; `border`: between a box and the image's edge;
    `accept`: whether the objects placed so far may stand so (a plan's relations). A partial
    layout it refuses ends the attempt: the next starts afresh, so accepted layouts are drawn
    as often as whole-layout rejection would draw them, only sooner."""
    objects: list[ShapeObject] = []
    for colour, shape in pairs:
        for _ in range(100):
            half = int(rng.integers(HALF_RANGE[0], HALF_RANGE[1] + 1))
            x, y = (int(v) for v in rng.integers(half + border, SIZE - half - border + 1, size=2))
            new = ShapeObject(colour, shape, x, y, half)
            if all(apart(new, o, gap) for o in objects):
                objects.append(new)
                break
        else:
            return None
        if accept is not None and not accept(objects):
            return None
    return objects


def plan_layout(prompt: str, rng: np.random.Generator, tries: int = 5000) -> list[ShapeObject]:
    """Where a prompt's objects could stand: the world's own placement (sizes), with boxes
    PLAN_GAP apart and PLAN_BORDER from the edges (else the world's own spacing), drawn again
    until every relation the prompt states is the one its caption would state (the dominant
    axis), with centres CLEAR_MARGIN apart so that a drawing a pixel off still shows it. A
    layout-conditioned generator draws what this plans. "" -> [].
    Refused, with the reason, when the prompt is outside the grammar, names more objects than
    a scene holds, or states relations no layout meets within `tries` draws."""
    if not prompt.strip():
        return []
    facts = parse_caption(prompt)
    if facts.unparsed:
        raise InputError(f"prompt {prompt!r}: {facts.unparsed[0]!r} is not in the shapes grammar "
                         f"('a red circle left of a blue square and ...'), so no layout can be planned")
    if len(facts.objects) > MAX_OBJECTS:
        raise InputError(f"prompt {prompt!r} names {len(facts.objects)} objects; a scene holds at most {MAX_OBJECTS}")

    def stated(objects: list[ShapeObject]) -> bool:
        """Every relation between two objects placed so far is the one the prompt states."""
        at = {o.name: o for o in objects}
        return all(dominant_relation(at[" ".join(a)], at[" ".join(b)]) == relation
                   and relation_holds(at[" ".join(a)], relation, at[" ".join(b)], CLEAR_MARGIN)
                   for a, relation, b in facts.relations if " ".join(a) in at and " ".join(b) in at)
    for gap, border in ((PLAN_GAP, PLAN_BORDER), (GAP, 0)):
        for _ in range(tries):
            objects = try_place(rng, facts.objects, gap, border, stated)
            if objects is not None:
                return objects
    raise InputError(f"prompt {prompt!r}: no layout found in which all its relations hold")


def apart(a: ShapeObject, b: ShapeObject, gap: int = GAP) -> bool:
    reach = a.half + b.half + gap
    return abs(a.x - b.x) >= reach or abs(a.y - b.y) >= reach


def choose_pairs(rng: np.random.Generator, split: str, shapes: tuple[str, ...]) -> list[tuple[str, str]]:
    pool = allowed_pairs(split, shapes)
    n = int(rng.integers(1, MAX_OBJECTS + 1))
    chosen = [pool[i] for i in rng.choice(len(pool), n, replace=False)]
    if split == "compositional" and not any(p in COMPOSITIONAL_PAIRS for p in chosen):
        chosen[int(rng.integers(n))] = COMPOSITIONAL_PAIRS[int(rng.integers(len(COMPOSITIONAL_PAIRS)))]
        if len(set(chosen)) < n:          # the held-out pair was already there: keep it once
            chosen = list(dict.fromkeys(chosen))
    return chosen


def indefinite(name: str) -> str:
    return ("an " if name[0] in "aeiou" else "a ") + name


def caption(objects: list[ShapeObject]) -> str:
    ordered = sorted(objects, key=lambda o: (o.x, o.y))
    if len(ordered) == 1:
        return indefinite(ordered[0].name)
    clauses = []
    for i, (a, b) in enumerate(zip(ordered, ordered[1:])):
        first = indefinite(a.name) if i == 0 else f"the {a.name}"
        clauses.append(f"{first} {dominant_relation(a, b)} {indefinite(b.name)}")
    return " and ".join(clauses)


def relational_phrases(objects: list[ShapeObject], t: int) -> tuple[list[str], list[str]]:
    """Phrases "the <shape> <relation> the <colour> <shape>" that name object t and no other:
    (those where the relation is needed to tell t from another object of its shape, the rest)."""
    target = objects[t]
    needed, redundant = [], []
    same_shape = [o for i, o in enumerate(objects) if i != t and o.shape == target.shape]
    for landmark in objects:
        if landmark is target:
            continue
        for relation in RELATIONS:
            if not relation_holds(target, relation, landmark, CLEAR_MARGIN):
                continue
            # a rival is any other object of the shape not clearly on the far side
            rivals = [o for o in same_shape
                      if o is not landmark and relation_holds(o, relation, landmark, -CLEAR_MARGIN)]
            if rivals:
                continue
            text = f"the {target.shape} {relation} the {landmark.name}"
            (needed if same_shape else redundant).append(text)
    return needed, redundant


def phrases(objects: list[ShapeObject], rng: np.random.Generator) -> list[Phrase]:
    """One attribute phrase per object, and one relational phrase per object where one exists
    (preferring phrases whose relation is needed to single the object out)."""
    out = [Phrase(f"the {o.name}", o.box(), "attribute", i) for i, o in enumerate(objects)]
    for i, o in enumerate(objects):
        needed, redundant = relational_phrases(objects, i)
        options = needed or redundant
        if options:
            out.append(Phrase(options[int(rng.integers(len(options)))], o.box(), "relational", i))
    return out


def make_scene(rng: np.random.Generator, split: str = "train", extra_shapes: tuple[str, ...] = ()) -> Scene:
    objects = place(rng, choose_pairs(rng, split, SHAPES + tuple(extra_shapes)))
    text = caption(objects)
    return Scene(draw.render(objects, SIZE, COLOURS), objects, text, phrases(objects, rng), prompt=text)


def object_scene(rng: np.random.Generator, colour: str, shape: str) -> Scene:
    """A scene of one given object (any of SHAPES + EXTRA_SHAPES) at a random size and place:
    the few-shot episodes' images."""
    objects = place(rng, [(colour, shape)])
    text = caption(objects)
    return Scene(draw.render(objects, SIZE, COLOURS), objects, text, phrases(objects, rng), prompt=text)


def grammar_words() -> list[str]:
    """Every word the preset's captions, phrases and prompts can use (extra shapes included),
    so a tokenizer built from data still knows them."""
    words = {"a", "an", "the", "and", "object", *COLOURS, *SHAPES, *EXTRA_SHAPES, *PRETRAINING_SHAPES}
    for relation in RELATIONS:
        words.update(relation.split())
    return sorted(words)


def rows(scene: Scene, image: str) -> list[dict]:
    """Manifest rows (the columns docs/data.md lists): one per referring expression, each with the
    scene's caption, prompt and objects."""
    objects = [{"colour": o.colour, "shape": o.shape, "box": o.box()} for o in scene.objects]
    return [{"image": image, "caption": scene.caption, "prompt": scene.prompt, "phrase": p.text, "box": p.box,
             "kind": p.kind, "objects": objects} for p in scene.phrases]


_NAME = rf"({'|'.join(COLOURS)}) ({'|'.join(SHAPES + EXTRA_SHAPES + PRETRAINING_SHAPES)})"
_CLAUSE = re.compile(rf"(?:an?|the) {_NAME}(?: ({'|'.join(RELATIONS)}) (?:an?|the) {_NAME})?")


@dataclass
class CaptionFacts:
    """What a caption in the preset's grammar states."""
    objects: list[tuple[str, str]]                        # (colour, shape), in order of mention
    relations: list[tuple[tuple[str, str], str, tuple[str, str]]]
    unparsed: list[str]                                   # clauses outside the grammar


def parse_caption(text: str) -> CaptionFacts:
    """Read a caption back into objects and relations (the inverse of `caption`)."""
    facts = CaptionFacts([], [], [])
    for clause in " ".join(text.lower().replace(".", " ").split()).split(" and "):
        m = _CLAUSE.fullmatch(clause.strip())
        if not m:
            facts.unparsed.append(clause)
            continue
        a = (m.group(1), m.group(2))
        facts.objects.append(a)
        if m.group(3):
            b = (m.group(4), m.group(5))
            facts.objects.append(b)
            facts.relations.append((a, m.group(3), b))
    facts.objects = list(dict.fromkeys(facts.objects))
    return facts
