"""Fact scores of captions of what happens in a clip (the `motion` grammar): each clause of a
caption ("the red circle moves left", "the red circle hits the blue square", "the blue
square stops", "the green triangle stays still") is one fact, read back by
data.motion_preset.parse_caption; a clause outside the grammar is one wrong fact.

A stated fact is right if the reference caption states it (as a multiset: an object that
stops twice has two stop facts); recall asks for every fact of the reference. Order is left
out of the F1; `event_order` is the share of captions (of those with two or more right
facts) whose right facts come in the reference's order."""
from __future__ import annotations

from collections import Counter

from ...data.motion_preset import parse_caption


def in_reference_order(stated: list[tuple], reference: list[tuple]) -> bool:
    """Whether the stated facts that the reference has appear as a subsequence of it."""
    rest = iter(reference)
    return all(any(fact == r for r in rest) for fact in stated if fact in reference)


def event_fact_scores(generated: list[str], references: list[str]) -> dict:
    """Micro-averaged fact precision, recall and F1 over a corpus, and event order."""
    right = stated = total = 0
    orders = []                     # captions with two or more right facts: are they in order?
    for text, reference in zip(generated, references):
        facts, unparsed = parse_caption(text)
        truth, _ = parse_caption(reference)
        matched = sum((Counter(facts) & Counter(truth)).values())
        right, stated, total = right + matched, stated + len(facts) + len(unparsed), total + len(truth)
        if matched >= 2:
            orders.append(in_reference_order(facts, truth))
    precision = right / stated if stated else 0.0
    recall = right / total if total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    out = {"fact_precision": precision, "fact_recall": recall, "fact_f1": f1}
    if orders:
        out["event_order"] = sum(orders) / len(orders)
    return out
