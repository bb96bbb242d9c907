"""The comparison harness: an end-to-end model and a system on the same VQA data.

Both answer every question; the table gives accuracy per question type, latency per item,
throughput and parameters. For the system it also says where the chain loses answers: the
chain's tail is rerun from the *reference* value of an intermediate output (a scene's true
caption), so each wrong answer is either lost at the step that gives that value (the
reference would have led to the right answer) or after it (even the reference does not).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError
from ..data.spoken.questions import question_audio as rendition
from ..data.spoken.questions import variant_of
from ..data.world import parse_spec, shapes
from ..inference.pipelines import load
from ..modalities import Audio, Image
from ..processors.text import split_words
from ..speech.text import normalize_transcript
from ..tasks import vqa
from ..tasks.metrics.answers import answer_metrics
from .core import System


@dataclass
class Answers:
    name: str
    kind: str                       # "model" or "system"
    answers: list[str]
    seconds: float                  # answering every question, batched
    latency_s: float                # median for one question asked alone
    parameters: int
    failed: int = 0                 # items a step failed on (counted as wrong answers)
    first_error: str = ""


def flat(examples: list[vqa.VQAExample]) -> list[tuple[object, vqa.Question]]:
    return [(ex.image, q) for ex in examples for q in ex.questions]


def timed(fn, *args):
    started = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - started


def median_latency(answer_one, items, count: int = 30) -> float:
    """Median wall time to answer one (image, question) item alone (after one warm-up)."""
    answer_one(items[0])
    return statistics.median(timed(answer_one, it)[1] for it in items[:count])


def run_model(name: str | None, examples) -> Answers:
    pipe = load("vqa", name)
    items = flat(examples)
    answers, seconds = timed(lambda: [a.text for a in pipe.batch([(im, q.text) for im, q in items])])
    latency = median_latency(lambda it: pipe(it[0], it[1].text), items)
    return Answers(name or "vqa-sort-of-clevr", "model", answers, seconds, latency, pipe.model.num_parameters())


def question_audio(q: vqa.Question):
    """The question spoken: its own file, or for generated scenes a rendition in a voice of
    the scene's split (test voices for test data: never heard in training)."""
    if q.audio is not None:
        return Audio.open(q.audio)
    if q.key is None:
        raise InputError(f"question {q.text!r} has no audio (give an audio column, or use shapes: data)")
    split, seed, scene, k = q.key
    return rendition(q.text, split, seed, variant_of(scene, k, split))


def system_items(examples, inputs: dict | None = None) -> list[dict]:
    """One item per question: the image and the question typed, and spoken too when the
    system takes audio (a voice assistant)."""
    spoken = "audio" in (inputs or {})
    return [{"image": Image.open(im), "question": q.text, **({"audio": question_audio(q)} if spoken else {})}
            for im, q in flat(examples)]


def heard_back(results, recognizer: str) -> list[str]:
    """A system's spoken answers (its `audio` output) as a recogniser hears them."""
    listen = load("transcribe", recognizer)
    spoken = [i for i, r in enumerate(results) if "audio" in r.outputs]
    heard = listen.batch([results[i].outputs["audio"] for i in spoken])
    out = [""] * len(results)
    for i, t in zip(spoken, heard):
        out[i] = normalize_transcript(t.text)
    return out


def run_system(system: System, examples, latency: bool = True) -> tuple[Answers, list]:
    items = system_items(examples, system.inputs)
    results, seconds = timed(system.run, items)
    # a step that fails on an item (a recogniser that heard nothing) leaves it unanswered:
    # a wrong answer, as a user would see it, not a reason to stop
    failed = [r.error for r in results if r.error]
    one = median_latency(lambda it: system.run([it]), items) if latency else float("nan")
    answers = Answers(system.name, "system", [r.outputs.get("answer", "") for r in results], seconds, one,
                      system.parameters, len(failed), failed[0] if failed else "")
    return answers, results


def attribute(system: System, examples, results, references: dict[str, list], answers: list[str]) -> dict:
    """For each reference value (e.g. "caption": the scenes' true captions, one per question),
    rerun the chain after the step that gives it from the reference, and sort every wrong
    answer: lost at that step, or lost after it. Per question type and overall."""
    questions = [q for _, q in flat(examples)]
    out = {}
    for value, reference in references.items():
        step = system.giver(value)
        items = [dict(it, **{value: ref}) for it, ref in zip(system_items(examples, system.inputs), reference)]
        # the values the steps up to `step` give, as the system gave them, with `value` replaced
        for it, r in zip(items, results):
            for _, given in r.trace[:step + 1]:
                it.update({k: v for k, v in given.items() if k != value})
        from_reference = [r.outputs.get("answer") for r in system.run(items, start=step + 1)]
        counts: dict[str, dict[str, int]] = {}
        for q, got, ref_answer in zip(questions, answers, from_reference):
            row = counts.setdefault(q.family or "all", {"questions": 0, "right": 0, "lost_at": 0, "lost_after": 0})
            row["questions"] += 1
            if got == q.answer:
                row["right"] += 1
            elif ref_answer == q.answer:
                row["lost_at"] += 1
            else:
                row["lost_after"] += 1
        produced = [dict(r.trace[step][1])[value] for r in results]
        out[value] = {"step": system.steps[step].name, "per_type": counts,
                      "same_as_reference": float(np.mean([split_words(str(p)) == split_words(str(ref))
                                                          for p, ref in zip(produced, reference)])),
                      "accuracy_from_reference": float(np.mean([a == q.answer for a, q in
                                                                zip(from_reference, questions)]))}
    return out


# preset -> (the system value with a reference, the scene attribute that holds it)
REFERENCES = {"sort-of-clevr": ("caption", "caption"), "signs": ("text", "transcript")}


def references(spec: str, seed: int, n: int) -> dict[str, list]:
    """The true intermediate value of each question's scene (its caption, or the words written
    in it), for generated data; none for manifests."""
    if not spec.startswith("shapes:"):
        return {}
    preset, split = parse_spec(spec)
    if preset not in REFERENCES:
        return {}
    value, attribute = REFERENCES[preset]
    return {value: [getattr(s, attribute) for s in shapes(preset, split, seed, n) for _ in s.questions]}


def compare(model: str | None, system: System, examples: list[vqa.VQAExample], references: dict[str, list],
            data: dict) -> dict:
    """data: what the examples are ({"spec", "seed", "n"}), for the report."""
    if "answer" not in system.outputs:
        raise InputError(f"system {system.name!r} gives {', '.join(system.outputs)}; a VQA comparison needs 'answer'")
    questions = [q for _, q in flat(examples)]
    model_answers = run_model(model, examples)
    system_answers, results = run_system(system, examples)
    rows = []
    for a in (model_answers, system_answers):
        rows.append({"name": a.name, "kind": a.kind, **answer_metrics(questions, a.answers),
                     "latency_ms": round(1000 * a.latency_s, 2),
                     "questions_per_s": round(len(questions) / a.seconds, 1), "parameters": a.parameters,
                     **({"failed_items": a.failed} if a.failed else {})})
    attribution = attribute(system, examples, results, references, system_answers.answers) if references else {}
    return {"data": {**data, "questions": len(questions)}, "rows": rows, "attribution": attribution}


def markdown(report: dict, command: str, machine: str) -> str:
    rows = report["rows"]
    families = list(rows[0].get("per_type", {}))
    pct = lambda v: f"{100 * v:.1f}%"  # noqa: E731
    lines = ["| | accuracy | relational | non-relational | " + " | ".join(families)
             + " | latency per question | questions/s (batched) | parameters |",
             "|---" * (7 + len(families)) + "|"]
    for r in rows:
        lines.append(f"| {r['kind']} `{r['name']}` | {pct(r['accuracy'])} | {pct(r.get('relational_accuracy', 0))} | "
                     f"{pct(r.get('non_relational_accuracy', 0))} | "
                     + " | ".join(pct(r['per_type'][f]) for f in families)
                     + f" | {r['latency_ms']:.1f} ms | {r['questions_per_s']:.0f} | {r['parameters'] / 1e6:.2f} M |")
    for value, a in report["attribution"].items():
        lines += ["", f"Where the system loses answers, by rerunning it from the true {value} "
                      f"(its `{a['step']}` step gave exactly the true {value} for {pct(a['same_as_reference'])} of "
                      f"questions; from the true {value} the rest of the chain answers {pct(a['accuracy_from_reference'])}):",
                  "", f"| question type | right | lost at `{a['step']}` (the true {value} gives the right answer) "
                      f"| lost after it (wrong even from the true {value}) |", "|---|---|---|---|"]
        for family, c in sorted(a["per_type"].items(), key=lambda kv: families.index(kv[0]) if kv[0] in families else 0):
            shares = [pct(c[k] / c["questions"]) for k in ("right", "lost_at", "lost_after")]
            lines.append(f"| {family} | " + " | ".join(shares) + " |")
    d = report["data"]
    lines += ["", f"{d['questions']} questions on {d['spec']}" + (f" (seed {d['seed']}, {d['n']} scenes)"
                                                                    if d["spec"].startswith("shapes:") else "") + ". "
                  f"Latency: median over 30 questions asked one at a time. Command: `{command}`; machine: {machine}."]
    return "\n".join(lines) + "\n"
