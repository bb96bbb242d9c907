"""Steps made from polymodal's task models (or engines), registered by name:

    caption      image -> caption (text)                 a captioner
    vqa          image + question (text) -> answer (text)  a VQA model
    transcribe   audio -> text                            a recogniser or pocketsphinx
    speak        text -> audio                            a synthesiser or espeak
    answer-from-text  context (text) + question (text) -> answer (text)   a text question answerer
    read-text    image -> the words written in it (text)  an OCR engine (RapidOCR)
    ground       image + phrase (text) -> box (boxes)     a grounder
    detect       image + labels (text, comma-separated) -> boxes   a grounder, once per label
"""
from __future__ import annotations

from ..core.errors import InputError
from ..core.registry import Registry
from ..engines.ocr import RapidOCRReader
from ..inference.pipelines import load
from .core import Step

STEPS: Registry = Registry("system step")


def pipeline(task: str, model: str | None):
    return load(task, model)


def parameters(pipe) -> int:
    """Weights behind a pipeline (engines such as pocketsphinx or eSpeak count as 0)."""
    return pipe.model.num_parameters()


@STEPS.register("caption")
def caption_step(model: str | None = None) -> Step:
    pipe = pipeline("caption", model)
    return Step("caption", {"image": "image"}, {"caption": "text"},
                lambda items: [{"caption": c.text} for c in pipe.batch([it["image"] for it in items])],
                parameters=parameters(pipe))


@STEPS.register("vqa")
def vqa_step(model: str | None = None) -> Step:
    pipe = pipeline("vqa", model)

    def run(items):
        if any(not str(it["question"]).strip() for it in items):
            raise InputError("the question is empty (an earlier step heard or read nothing)")
        return [{"answer": a.text} for a in pipe.batch([(it["image"], it["question"]) for it in items])]
    return Step("vqa", {"image": "image", "question": "text"}, {"answer": "text"}, run, parameters=parameters(pipe))


@STEPS.register("answer-from-text")
def text_qa_step(model: str | None = None) -> Step:
    pipe = pipeline("text-qa", model)
    return Step("answer-from-text", {"context": "text", "question": "text"}, {"answer": "text"},
                lambda items: [{"answer": a.text} for a in pipe.batch([(it["context"], it["question"]) for it in items])],
                parameters=parameters(pipe))


@STEPS.register("read-text")
def read_text_step(model: str | None = None) -> Step:
    if model not in (None, "rapidocr"):
        raise InputError(f"read-text: unknown OCR engine {model!r}; known: rapidocr")
    reader = RapidOCRReader()
    return Step("read-text", {"image": "image"}, {"text": "text"},
                lambda items: [{"text": t} for t in reader.batch([it["image"] for it in items])])


@STEPS.register("transcribe")
def transcribe_step(model: str | None = None, expect: str | None = None) -> Step:
    """expect: the kind of sentence the speaker says (a voice assistant hears questions)."""
    pipe = pipeline("transcribe", model)
    return Step("transcribe", {"audio": "audio"}, {"text": "text"},
                lambda items: [{"text": t.text} for t in pipe.batch([it["audio"] for it in items], expect=expect)],
                parameters=parameters(pipe))


@STEPS.register("speak")
def speak_step(model: str | None = None, voice: str | None = None) -> Step:
    pipe = pipeline("speak", model)
    return Step("speak", {"text": "text"}, {"audio": "audio"},
                lambda items: [{"audio": a} for a in pipe.batch([it["text"] for it in items], voice)],
                parameters=parameters(pipe))


@STEPS.register("ground")
def ground_step(model: str | None = None) -> Step:
    pipe = pipeline("ground", model)
    return Step("ground", {"image": "image", "phrase": "text"}, {"box": "boxes"},
                lambda items: [{"box": [g.box]} for g in pipe.batch([(it["image"], it["phrase"]) for it in items])],
                parameters=parameters(pipe))


@STEPS.register("detect")
def detect_step(model: str | None = None, threshold: float = 0.0) -> Step:
    """Zero-shot detection: grounding run for each label; a label whose best box scores
    below `threshold` is reported as absent."""
    pipe = pipeline("ground", model)

    def run(items):
        out = []
        for it in items:
            labels = [x.strip() for x in it["labels"].split(",") if x.strip()]
            found = pipe.batch([(it["image"], f"the {label}") for label in labels])
            out.append({"boxes": [{"label": label, "box": g.box, "score": round(g.score, 4)}
                                  for label, g in zip(labels, found) if g.score >= threshold]})
        return out
    return Step("detect", {"image": "image", "labels": "text"}, {"boxes": "boxes"}, run, parameters=parameters(pipe))
