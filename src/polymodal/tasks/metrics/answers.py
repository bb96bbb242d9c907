"""Closed-vocabulary answers: VQA accuracy (overall, relational / non-relational, per question
type) and classification accuracy with macro F1."""
from __future__ import annotations

import numpy as np

from ...data import sort_of_clevr


def is_relational(question) -> bool | None:
    """A question's own flag, else what its sort-of-clevr family says, else unknown."""
    if question.relational is not None:
        return question.relational
    spec = sort_of_clevr.QUESTION_FAMILIES.get(question.family or "")
    return None if spec is None else spec[1]


def answer_metrics(questions: list, predicted: list[str]) -> dict:
    """accuracy, relational / non-relational accuracy and accuracy per question type;
    questions: objects with answer, family and relational (tasks.vqa.Question)."""
    right = np.array([q.answer == p for q, p in zip(questions, predicted)], dtype=float)
    out = {"accuracy": float(right.mean()) if len(right) else 0.0, "questions": len(right)}
    rel = [is_relational(q) for q in questions]
    for name, flag in (("relational_accuracy", True), ("non_relational_accuracy", False)):
        picked = [r for r, f in zip(right, rel) if f is flag]
        if picked:
            out[name] = float(np.mean(picked))
    families = sorted({q.family for q in questions if q.family})
    if families:
        out["per_type"] = {f: float(np.mean([r for r, q in zip(right, questions) if q.family == f]))
                           for f in families}
    return out


def label_metrics(truth: list, predicted: list[str]) -> dict:
    """accuracy, macro F1 and accuracy per true label."""
    truth = [str(t) for t in truth]
    out = {"accuracy": float(np.mean([t == p for t, p in zip(truth, predicted)])), "items": len(truth)}
    f1s, per_label = [], {}
    for label in sorted(set(truth) | set(predicted)):
        tp = sum(t == p == label for t, p in zip(truth, predicted))
        n_pred, n_true = predicted.count(label), truth.count(label)
        f1s.append(2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0)
        if n_true:
            per_label[label] = tp / n_true
    out["macro_f1"] = float(np.mean(f1s))
    out["per_label"] = per_label
    return out


def per_type(right: list[bool], types: list[str | None]) -> dict[str, float]:
    """Accuracy per type (a question family), over the items that have one."""
    right = np.array(right, dtype=float)
    return {t: float(right[[x == t for x in types]].mean()) for t in sorted({t for t in types if t})}
