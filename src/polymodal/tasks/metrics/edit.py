"""Image edits, judged by reading both images back (data.scene_parser): did the change happen,
and are the other objects where and what they were?"""
from __future__ import annotations

import numpy as np

from ...data.scene_parser import ParsedObject, parse


def same_place(a: ParsedObject, b: ParsedObject, tolerance: float = 2.0) -> bool:
    return abs(a.centre[0] - b.centre[0]) <= tolerance and abs(a.centre[1] - b.centre[1]) <= tolerance


def judge(before, after, instruction) -> tuple[bool, bool]:
    """(the change happened, every other object stayed). Read from the pixels of both."""
    old, new = parse(before), parse(after)
    target = [o for o in old if o.name == instruction.target]
    others = [o for o in old if o.name != instruction.target]
    kept = all(any(n.name == o.name and same_place(n, o) for n in new) for o in others)
    if not target:
        return False, kept
    gone = not any(n.name == instruction.target and same_place(n, target[0], 4) for n in new)
    if instruction.result is None:
        return gone, kept
    there = any(n.name == instruction.result and same_place(n, target[0], 4) for n in new)
    return gone and there, kept


def edit_metrics(befores: list, afters: list, instructions: list) -> dict:
    """instructions: what each edit asked (objects with kind, target and result, as
    tasks.edit.Instruction)."""
    judged = [judge(before, after, i) for before, after, i in zip(befores, afters, instructions)]
    kinds = [i.kind for i in instructions]
    return {"change_achieved": float(np.mean([c for c, _ in judged])),
            "others_preserved": float(np.mean([k for _, k in judged])),
            "by_kind": {k: float(np.mean([c for (c, _), kk in zip(judged, kinds) if kk == k]))
                        for k in sorted(set(kinds))},
            "edits": len(judged)}
