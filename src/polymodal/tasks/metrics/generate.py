"""How faithful drawn images are to their prompts, judged by reading them back
(data.scene_parser) — and how close they are, as a set, to rendered scenes (KID).

A prompt in the shapes grammar ("a red circle left of a blue square and ...") is met when
the image holds exactly the objects it names (no missing, no extra) and every relation it
states holds between their centres.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ...core.errors import InputError
from ...data.scene_parser import ParsedObject, parse
from ...data.shapes_preset import parse_caption


@dataclass
class PromptCheck:
    missing: list[str] = field(default_factory=list)     # named but not drawn
    extra: list[str] = field(default_factory=list)       # drawn but not named
    wrong_relations: list[str] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return not (self.missing or self.extra or self.wrong_relations)


def relation_holds(a: ParsedObject, relation: str, b: ParsedObject) -> bool:
    (ax, ay), (bx, by) = a.centre, b.centre
    return {"left of": bx > ax, "right of": bx < ax, "above": by > ay, "below": by < ay}[relation]


def check_prompt(prompt: str, objects: list[ParsedObject]) -> PromptCheck:
    facts = parse_caption(prompt)
    if facts.unparsed or not facts.objects:
        raise InputError(f"prompt {prompt!r} is not in the shapes grammar; prompt accuracy cannot judge it")
    named, drawn = Counter(f"{c} {s}" for c, s in facts.objects), Counter(o.name for o in objects)
    check = PromptCheck(sorted((named - drawn).elements()), sorted((drawn - named).elements()))
    found = {o.name: o for o in objects}
    for (ca, sa), relation, (cb, sb) in facts.relations:
        a, b = found.get(f"{ca} {sa}"), found.get(f"{cb} {sb}")
        if a is not None and b is not None and not relation_holds(a, relation, b):
            check.wrong_relations.append(f"{a.name} {relation} {b.name}")
    return check


def prompt_accuracy(prompts: list[str], images: list) -> dict:
    """Share of images that meet their prompt, overall and by how many objects the prompt names."""
    checks = [check_prompt(p, parse(im)) for p, im in zip(prompts, images)]
    sizes = [len(parse_caption(p).objects) for p in prompts]
    by_size = {}
    for n in sorted(set(sizes)):
        picked = [c.correct for c, s in zip(checks, sizes) if s == n]
        by_size[str(n)] = float(np.mean(picked))
    return {"prompt_accuracy": float(np.mean([c.correct for c in checks])), "images": len(checks),
            "by_objects": by_size,
            "missing_objects": sum(len(c.missing) for c in checks), "extra_objects": sum(len(c.extra) for c in checks),
            "wrong_relations": sum(len(c.wrong_relations) for c in checks)}


def kid(a: np.ndarray, b: np.ndarray) -> float:
    """Kernel inception distance between two sets of feature vectors: the unbiased squared
    MMD with the cubic polynomial kernel (x.y / d + 1)^3 (Binkowski et al. 2018). About 0
    for two samples of one distribution; it needs no more than a few hundred of each."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2 or a.shape[1] != b.shape[1]:
        raise InputError("KID needs at least two feature vectors of the same size on each side")
    d = a.shape[1]
    k = lambda x, y: (x @ y.T / d + 1) ** 3  # noqa: E731
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    m, n = len(a), len(b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                 - 2 * kab.mean())
