"""Text question answering: a context text (a scene's caption) + a question -> one answer
from a closed set. The second link of the captioner -> question answerer system; it is
trained on true captions, so at run time it only knows what a captioner put into words.

The model is a text-only classifier: context and question are read as one sequence,
"<context> ; <question>", by the text encoder.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import InputError
from ..data.manifest import read_manifest
from ..data.world import parse_spec, shapes
from .classify import ClassifyExample, ClassifyTask, predict
from .metrics.answers import label_metrics, per_type
from .registry import TASKS

SEPARATOR = " ; "


def joined(context: str, question: str) -> str:
    return f"{context}{SEPARATOR}{question}"


@dataclass
class TextQAExample(ClassifyExample):
    family: str | None = None          # question type, for per-type accuracy


# preset -> the scene's text a question is asked about: what a captioner or an OCR engine
# would give the question answerer in a system
CONTEXT = {"sort-of-clevr": "caption", "signs": "transcript"}


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    """`shapes:sort-of-clevr|signs:<split>` (each scene's caption or transcript with each of
    its questions), or a manifest with context, question and answer columns."""
    if spec.startswith("shapes:"):
        preset, split = parse_spec(spec)
        if preset not in CONTEXT:
            raise InputError(f"{spec}: text question answering is generated from {' and '.join(CONTEXT)} scenes")
        return [TextQAExample({"text": joined(getattr(s, CONTEXT[preset]), q.question)}, q.answer, None, q.family)
                for s in shapes(preset, split, seed, n) for q in s.questions], None
    required = ("context", "question", "answer") if need_answers else ("context", "question")
    manifest = read_manifest(spec, required, columns, on_bad_rows)
    return [TextQAExample({"text": joined(r["context"], r["question"])}, r.get("answer"), r.get("_row"), r.get("family"))
            for r in manifest.rows], manifest


@TASKS.register("text-qa")
class TextQATask(ClassifyTask):
    """A context text and a question -> an answer (the question answerer of systems)."""

    model_task = "text-qa"
    curve_metrics = ("accuracy",)
    unknown_words = True         # its context comes from a captioner or OCR: misread words become <unk>
    default_data = "shapes:sort-of-clevr:train"
    default_fusion = "early:feature"      # one modality: the text read as one sequence

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers)

    def evaluate(self, model, examples, batch_size=64, device=None, progress=False) -> dict:
        predicted, _ = predict(model, examples, batch_size, device, progress)
        out = label_metrics([ex.label for ex in examples], predicted)
        out["per_type"] = per_type([str(ex.label) == p for ex, p in zip(examples, predicted)],
                                   [ex.family for ex in examples])
        return out
