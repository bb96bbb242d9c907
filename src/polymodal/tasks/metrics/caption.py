"""Caption metrics: BLEU-4 and CIDEr from the COCO caption evaluation code (pycocoevalcap),
and fact precision / recall / F1, which reads a generated caption back into objects and
relations and checks each against the scene.

Facts of a caption: each object it names (colour + shape) and each relation it states
("the red circle left of a blue square"); a clause outside the grammar is one wrong fact.
A stated object is right if the scene has it; a stated relation is right if both objects
are in the scene and it holds between their centres (or, with no positions known, if the
reference caption states it or its inverse). Recall asks for every object of the scene and,
for each pair the reference caption relates, some right relation between the two.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.errors import InputError
from ...data.shapes_preset import CaptionFacts, parse_caption
from ...processors.text import split_words

INVERSE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


@dataclass
class SceneTruth:
    """What fact scoring compares with: objects (colour, shape) -> centre (x, y) or None."""
    centres: dict[tuple[str, str], tuple[float, float] | None]
    reference_pairs: list[frozenset]                 # the pairs the reference caption relates
    reference_relations: set                         # (a, relation, b) stated by the reference

    @classmethod
    def build(cls, reference: str, objects: list[dict] | None = None) -> "SceneTruth":
        """objects: [{"colour", "shape", "box": [x0, y0, x1, y1]}] when the scene is known;
        otherwise the reference caption's objects stand in (without positions)."""
        ref = parse_caption(reference)
        if objects:
            centres = {(o["colour"], o["shape"]): ((o["box"][0] + o["box"][2]) / 2, (o["box"][1] + o["box"][3]) / 2)
                       for o in objects}
        else:
            centres = {o: None for o in ref.objects}
        relations = set(ref.relations) | {(b, INVERSE[r], a) for a, r, b in ref.relations}
        return cls(centres, [frozenset((a, b)) for a, _, b in ref.relations], relations)

    def relation_true(self, a, relation: str, b) -> bool:
        if a not in self.centres or b not in self.centres or a == b:
            return False
        ca, cb = self.centres[a], self.centres[b]
        if ca is None or cb is None:
            return (a, relation, b) in self.reference_relations
        dx, dy = cb[0] - ca[0], cb[1] - ca[1]
        return {"left of": dx > 0, "right of": dx < 0, "above": dy > 0, "below": dy < 0}[relation]


def fact_counts(generated: str | CaptionFacts, truth: SceneTruth) -> tuple[int, int, int, int]:
    """-> (right facts stated, facts stated, reference facts recalled, reference facts).
    `generated` may be parsed already (parse_caption), to score one text against many scenes."""
    facts = parse_caption(generated) if isinstance(generated, str) else generated
    right_objects = [o for o in facts.objects if o in truth.centres]
    right_relations = [(a, r, b) for a, r, b in facts.relations if truth.relation_true(a, r, b)]
    related = {frozenset((a, b)) for a, _, b in right_relations}
    stated = len(facts.objects) + len(facts.relations) + len(facts.unparsed)
    recalled = len(set(right_objects)) + sum(pair in related for pair in truth.reference_pairs)
    return len(right_objects) + len(right_relations), stated, recalled, len(truth.centres) + len(truth.reference_pairs)


def fact_scores(generated: list[str], truths: list[SceneTruth]) -> dict:
    """Micro-averaged fact precision, recall and F1 over a corpus."""
    right = stated = recalled = total = 0
    for text, truth in zip(generated, truths):
        r, s, c, t = fact_counts(text, truth)
        right, stated, recalled, total = right + r, stated + s, recalled + c, total + t
    precision = right / stated if stated else 0.0
    recall = recalled / total if total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"fact_precision": precision, "fact_recall": recall, "fact_f1": f1}


def words(text: str) -> str:
    """Lower-case words and punctuation marks separated by spaces (the scorers split on
    spaces, so "circle." and "circle ." must not differ)."""
    return " ".join(split_words(text))


def bleu_cider(generated: list[str], references: list[list[str]]) -> dict:
    """Corpus BLEU-4 and CIDEr-D (pycocoevalcap; texts are already lower-case words)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    res = {i: [words(g) or "<empty>"] for i, g in enumerate(generated)}   # the scorers reject empty strings
    gts = {i: [words(r) for r in refs] for i, refs in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    return {"bleu4": float(bleu[3]), "cider": float(cider)}


def describes(text: str | CaptionFacts, truth: SceneTruth) -> bool:
    """Whether every fact the text states is true of the scene (it may leave things out)."""
    right, stated, _, _ = fact_counts(text, truth)
    return stated > 0 and right == stated


def caption_metrics(examples: list, generated: list[str]) -> dict:
    """BLEU-4, CIDEr and exact match against each image's reference captions, and fact
    scores where the references are in the shapes grammar; examples: objects with captions
    and objects (tasks.image_text.ImageTextExample)."""
    if any(not ex.captions for ex in examples):
        raise InputError("caption evaluation needs a reference caption for every image")
    out = {"images": len(examples), **bleu_cider(generated, [ex.captions for ex in examples]),
           "exact_match": float(np.mean([words(g) in {words(c) for c in ex.captions}
                                         for g, ex in zip(generated, examples)]))}
    # Fact-F1 reads captions in the shapes grammar; other references (sort-of-clevr's object
    # lists, a user's free text) would score as all-unparsed, so it is left out for them.
    if all(not parse_caption(ex.captions[0]).unparsed for ex in examples):
        out.update(fact_scores(generated, [SceneTruth.build(ex.captions[0], ex.objects) for ex in examples]))
    return out
