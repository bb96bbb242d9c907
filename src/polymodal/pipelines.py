"""Callable pipelines per task: `vqa(image=..., question=...)`, `vqa.batch(items)`."""
from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry
from .tasks import vqa as vqa_task

PIPELINES: Registry = Registry("task pipeline")


@dataclass
class Answer:
    text: str
    score: float


@PIPELINES.register("vqa")
class VQAPipeline:
    def __init__(self, model, batch_size: int = 64):
        self.model, self.batch_size = model.eval(), batch_size

    def __call__(self, image, question: str) -> Answer:
        return self.batch([(image, question)])[0]

    def batch(self, items, batch_size: int | None = None, progress: bool = False) -> list[Answer]:
        """items: (image, question) pairs; images may be paths, bytes, arrays or Images."""
        from .modalities import Image
        examples = [vqa_task.VQAExample(Image.open(im), [vqa_task.Question(q)]) for im, q in items]
        _, answers, scores = vqa_task.predict(self.model, examples, batch_size or self.batch_size,
                                              progress=progress)
        return [Answer(a, round(s, 4)) for a, s in zip(answers, scores)]
