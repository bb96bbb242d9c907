"""The `motion` preset: the embedded world in motion. Short clips (16 frames of 64x64 at 8
frames a second) in which 2-3 of the `shapes` objects slide, bounce off the walls, hit each
other and stop, with questions, a caption and a sound track.

* Each object has its own colour. An object either starts still or slides along one axis
  (left, right, up or down) at 1.5-2.5 px a frame; some sliding objects come to a stop at a
  drawn frame. Objects bounce off the walls, and two that meet collide as equal discs do:
  they swap the parts of their velocities along the line between their centres (so a
  moving object that hits a still one head-on stops, and sets it going).
* Questions: the temporal ones (which way an object moves first, whether it moves, how many
  move, whether two objects hit each other, how many collisions there are, which object
  stops first) and controls that one frame answers (an object's shape, the colour of a
  shape). The direction of motion is what a model that pools its frames without order
  cannot know: a clip played backwards has the same frames.
* The caption tells what happens, in order ("the red circle moves left, the blue square
  stays still, the red circle hits the blue square, the red circle stops").
* The sound track is silence with a click at each collision (the audio's own evidence for
  the collision questions; walls make no sound).
* Splits as for `shapes`: the compositional split holds colour+shape pairs the other splits
  never show.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from . import draw
from .shapes_preset import COMPOSITIONAL_PAIRS, SHAPES
from .sort_of_clevr import COLOURS

SIZE, FRAMES, FPS = 64, 16, 8
AUDIO_RATE = 16_000
HALF_RANGE = (4, 6)                      # half a side in pixels
SPEEDS = (1.5, 2.0, 2.5)                 # px a frame
DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
OBJECTS = (2, 3)
P_STILL = 0.3                            # an object starts still
P_STOPS = 0.4                            # a sliding object stops at a drawn frame
STOP_FRAMES = (4, FRAMES - 3)            # ... within these frames
SPOKEN_COLUMN = "caption"
CLICK_SECONDS = 0.012
KEEP_QUIET = 0.3                         # share of clips without a collision kept (then about half collide)


@dataclass
class Mover:
    colour: str
    shape: str
    half: int
    x: float
    y: float
    vx: float
    vy: float
    stop_at: int | None = None           # the frame at which it stops of itself

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass
class Event:
    frame: int
    kind: str                            # "hit" (a, the faster, hits b), "stop" (a stops) or "start" (a, still
                                         # until then, is set going)
    a: int
    b: int | None = None


@dataclass
class MotionQA:
    question: str
    answer: str
    family: str
    temporal: bool


@dataclass
class Clip:
    frames: np.ndarray                   # uint8 [FRAMES, SIZE, SIZE, 3]
    objects: list[Mover]                 # as they start
    tracks: np.ndarray                   # float [FRAMES, objects, 2]: each object's centre in each frame
    first_direction: list[str | None]    # each object's first direction of motion; None if it never moves
    events: list[Event]
    caption: str
    questions: list[MotionQA] = field(default_factory=list)
    audio: np.ndarray | None = None      # float32 [FRAMES / FPS * AUDIO_RATE]: a click at each collision

    @property
    def duration(self) -> float:
        return len(self.frames) / FPS


def pairs_for(split: str) -> list[tuple[str, str]]:
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    if split == "compositional":
        return pairs
    return [p for p in pairs if p not in COMPOSITIONAL_PAIRS]


def start(rng: np.random.Generator, split: str) -> list[Mover]:
    """2-3 objects of different colours, apart, each still or sliding along one axis; in the
    compositional split one of them is a held-out colour+shape pair."""
    n = int(rng.integers(OBJECTS[0], OBJECTS[1] + 1))
    pairs = pairs_for(split)
    while True:
        chosen = [pairs[int(i)] for i in rng.choice(len(pairs), n, replace=False)]
        if split == "compositional" and not any(p in COMPOSITIONAL_PAIRS for p in chosen):
            chosen[0] = COMPOSITIONAL_PAIRS[int(rng.integers(len(COMPOSITIONAL_PAIRS)))]
        if len({c for c, _ in chosen}) == n:
            break
    movers: list[Mover] = []
    for colour, shape in chosen:
        half = int(rng.integers(HALF_RANGE[0], HALF_RANGE[1] + 1))
        while True:
            x, y = rng.uniform(half + 1, SIZE - half - 1, size=2)
            if all(np.hypot(x - m.x, y - m.y) > half + m.half + 4 for m in movers):
                break
        vx = vy = 0.0
        stop_at = None
        if rng.random() >= P_STILL:
            dx, dy = list(DIRECTIONS.values())[int(rng.integers(len(DIRECTIONS)))]
            speed = SPEEDS[int(rng.integers(len(SPEEDS)))]
            vx, vy = dx * speed, dy * speed
            if rng.random() < P_STOPS:
                stop_at = int(rng.integers(*STOP_FRAMES))
        movers.append(Mover(colour, shape, half, float(x), float(y), vx, vy, stop_at))
    return movers


def simulate(movers: list[Mover]) -> tuple[np.ndarray, list[str | None], list[Event]]:
    """Each object's centre in each frame, its first direction of motion and the events.
    Frame 0 shows the start; between frames each object moves by its velocity, then walls
    and collisions, then walls act."""
    pos = np.array([[m.x, m.y] for m in movers])
    vel = np.array([[m.vx, m.vy] for m in movers])
    half = np.array([m.half for m in movers], float)
    tracks = [pos.copy()]
    first: list[str | None] = [direction(v) for v in vel]
    events: list[Event] = []
    for f in range(1, FRAMES):
        for i, m in enumerate(movers):
            if m.stop_at == f and np.any(vel[i]):
                vel[i] = 0.0
                events.append(Event(f, "stop", i))
        pos += vel
        for i in range(len(movers)):
            for j in range(i + 1, len(movers)):
                normal = pos[j] - pos[i]
                dist = float(np.hypot(*normal))
                if dist >= half[i] + half[j] or dist == 0:
                    continue
                normal /= dist
                overlap = half[i] + half[j] - dist              # drawn touching, not overlapping
                pos[i] -= overlap / 2 * normal
                pos[j] += overlap / 2 * normal
                closing = float((vel[i] - vel[j]) @ normal)
                if closing <= 0:                            # already parting
                    continue
                moving = [k for k in (i, j) if np.any(vel[k])]
                hitter, hit = (i, j) if np.hypot(*vel[i]) >= np.hypot(*vel[j]) else (j, i)
                vel[i] -= closing * normal                 # equal discs: swap the normal parts
                vel[j] += closing * normal
                vel[np.abs(vel) < 1e-9] = 0.0
                events.append(Event(f, "hit", hitter, hit))
                events += [Event(f, "stop", k) for k in moving if not np.any(vel[k])]
        for i in range(len(movers)):                       # walls: reflect (after the pushes apart)
            for axis in (0, 1):
                low, high = half[i], SIZE - half[i]
                if pos[i, axis] < low:
                    pos[i, axis], vel[i, axis] = min(2 * low - pos[i, axis], high), abs(vel[i, axis])
                elif pos[i, axis] > high:
                    pos[i, axis], vel[i, axis] = max(2 * high - pos[i, axis], low), -abs(vel[i, axis])
        for i in range(len(movers)):
            if first[i] is None and np.any(vel[i]):
                first[i] = direction(vel[i])
                events.append(Event(f, "start", i))
        tracks.append(pos.copy())
    return np.stack(tracks), first, events


def direction(v: np.ndarray) -> str | None:
    """The direction word of a velocity (its larger axis); None when still."""
    if not np.any(v):
        return None
    if abs(v[0]) >= abs(v[1]):
        return "right" if v[0] > 0 else "left"
    return "down" if v[1] > 0 else "up"


def render(movers: list[Mover], tracks: np.ndarray) -> np.ndarray:
    frames = []
    for pos in tracks:
        placed = [_Placed(m.colour, m.shape, int(round(x)), int(round(y)), m.half) for m, (x, y) in zip(movers, pos)]
        frames.append(draw.render(placed, SIZE, COLOURS))
    return np.stack(frames)


@dataclass
class _Placed:                           # what draw.render paints
    colour: str
    shape: str
    x: int
    y: int
    half: int


def clicks(events: list[Event], rng: np.random.Generator) -> np.ndarray:
    """Silence with a click (a decaying 2-3 kHz burst) at each collision's frame."""
    track = np.zeros(int(FRAMES / FPS * AUDIO_RATE), np.float32)
    n = int(CLICK_SECONDS * AUDIO_RATE)
    t = np.arange(n) / AUDIO_RATE
    for e in events:
        if e.kind != "hit":
            continue
        tone = np.sin(2 * np.pi * rng.uniform(2000, 3000) * t) * np.exp(-t / (CLICK_SECONDS / 4))
        at = int(e.frame / FPS * AUDIO_RATE)
        track[at:at + n] += (0.6 * tone[: len(track) - at]).astype(np.float32)
    return np.clip(track, -1, 1)


def moving(m: Mover) -> bool:
    """Whether it moves from the first frame."""
    return bool(m.vx or m.vy)


def describe(movers: list[Mover], first: list[str | None], events: list[Event]) -> str:
    """How each object starts (colour order), then the events in order."""
    order = sorted(range(len(movers)), key=lambda i: list(COLOURS).index(movers[i].colour))
    clauses = [f"the {movers[i].name} " + (f"moves {first[i]}" if moving(movers[i]) else "stays still")
               for i in order]
    for e in events:
        if e.kind == "hit":
            clauses.append(f"the {movers[e.a].name} hits the {movers[e.b].name}")
        elif e.kind == "start":
            clauses.append(f"the {movers[e.a].name} moves {first[e.a]}")
        else:
            clauses.append(f"the {movers[e.a].name} stops")
    return ", ".join(clauses)


def ask(movers: list[Mover], first: list[str | None], events: list[Event], rng: np.random.Generator) -> list[MotionQA]:
    """The questions whose answers a clip fixes: temporal ones and one-frame controls."""
    names = [m.name for m in movers]
    hits = [e for e in events if e.kind == "hit"]
    hit_pairs = {frozenset((e.a, e.b)) for e in hits}
    qas = []
    for i, m in enumerate(movers):
        if moving(m):                                    # (set going by a hit, it may move aslant)
            qas.append(MotionQA(f"which way does the {m.name} move first?", first[i], "direction", True))
        qas.append(MotionQA(f"does the {m.name} move?", "yes" if first[i] else "no", "moves", True))
        qas.append(MotionQA(f"what shape is the {m.colour} object?", m.shape, "shape", False))
        if sum(o.shape == m.shape for o in movers) == 1:
            qas.append(MotionQA(f"what colour is the {m.shape}?", m.colour, "colour", False))
    qas.append(MotionQA("how many objects move?", str(sum(d is not None for d in first)), "count moving", True))
    qas.append(MotionQA("how many collisions are there?", str(len(hits)), "count collisions", True))
    if hit_pairs and rng.random() < 0.5:                # half the collision questions about a pair that hits
        pairs = sorted(sorted(p) for p in hit_pairs)
        i, j = pairs[int(rng.integers(len(pairs)))]
    else:
        i, j = (int(k) for k in rng.choice(len(movers), 2, replace=False))
    qas.append(MotionQA(f"does the {names[i]} hit the {names[j]}?",
                        "yes" if frozenset((i, j)) in hit_pairs else "no", "collide", True))
    stops = [e for e in events if e.kind == "stop"]
    if stops and (len(stops) == 1 or stops[1].frame > stops[0].frame):
        qas.append(MotionQA("what colour is the object that stops first?", movers[stops[0].a].colour,
                            "stops first", True))
    return qas


def make_scene(rng: np.random.Generator, split: str = "train") -> Clip:
    while True:           # about a fifth of random starts collide: keep a share of the quiet ones only
        movers = start(rng, split)
        tracks, first, events = simulate(movers)
        if any(e.kind == "hit" for e in events) or rng.random() < KEEP_QUIET:
            break
    return Clip(render(movers, tracks), movers, tracks, first, events, describe(movers, first, events),
                ask(movers, first, events, rng), clicks(events, rng))


def grammar_words() -> list[str]:
    """Every word the preset's questions, answers and captions use."""
    words = {"the", "object", "moves", "stays", "still", "hits", "stops", "which", "way", "does", "move", "first",
             "what", "shape", "is", "colour", "how", "many", "objects", "collisions", "are", "there", "hit", "that",
             "starts", "yes", "no", *COLOURS, *SHAPES, *DIRECTIONS, *(str(k) for k in range(10))}
    return sorted(words)


def rows(clip: Clip, video: str) -> list[dict]:
    """Manifest rows: one per question, each with the clip's caption and objects."""
    objects = [{"colour": m.colour, "shape": m.shape, "start": [round(m.x, 2), round(m.y, 2)]} for m in clip.objects]
    return [{"video": video, "question": q.question, "answer": q.answer, "family": q.family,
             "temporal": q.temporal, "caption": clip.caption, "objects": objects} for q in clip.questions]


_OBJECT = rf"the ({'|'.join(COLOURS)}) ({'|'.join(SHAPES)})"
_CLAUSES = ((re.compile(rf"{_OBJECT} moves ({'|'.join(DIRECTIONS)})"), "moves"),
            (re.compile(rf"{_OBJECT} stays still"), "still"),
            (re.compile(rf"{_OBJECT} hits {_OBJECT}"), "hits"),
            (re.compile(rf"{_OBJECT} stops"), "stops"))


def parse_caption(text: str) -> tuple[list[tuple], list[str]]:
    """A caption in describe()'s grammar -> (its facts, in order, as tuples such as ("moves",
    "red circle", "left") or ("hits", "red circle", "blue square"); the clauses outside the
    grammar)."""
    facts, unparsed = [], []
    for clause in (c.strip() for c in text.lower().replace(".", " ").split(",")):
        for pattern, kind in _CLAUSES:
            m = pattern.fullmatch(" ".join(clause.split()))
            if m:
                g = m.groups()
                facts.append((kind, f"{g[0]} {g[1]}", *((f"{g[2]} {g[3]}",) if kind == "hits" else g[2:])))
                break
        else:
            if clause:
                unparsed.append(clause)
    return facts, unparsed
