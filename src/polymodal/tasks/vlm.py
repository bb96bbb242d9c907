"""The vlm task: one generative vision-language model (models/vlm.py) taught several tasks by
their prompts, on the embedded world, each scored as its task's own models are:

| data | prompt | answer | scored by |
|---|---|---|---|
| sort-of-clevr | a question | its answer, written out | exact match, per question type (VQA) |
| shapes | "caption" | the scene's caption | BLEU, CIDEr, fact F1 (captions) |
| shapes | "locate: <phrase>" | four location words, x0 y0 x1 y1 | accuracy at IoU 0.5, per kind of phrase |
| signs | "read" | the words on the sign, in reading order | word error rate, exact transcripts |

A location word `locK` is the K-th of LOCATION_BINS equal bins of the image's width (x) or
height (y); a box is written as the bins of its corners (the PaliGemma and Pix2Seq way).

Data: `shapes:<preset>:<split>` for one preset, or `vlm:<split>` for all three (a third of `n`
scenes each). A training conversation is an image and up to `turns` of its prompt and answer
pairs in a random order, so the model also learns to answer after earlier turns (a chat);
scoring asks each prompt alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import InputError
from ..data.world import parse_spec, shapes
from ..modalities import as_array
from ..models.vlm import (
    IGNORE,
    LOCATION_BINS,
    Segment,
    VisionLanguageModel,
    VLMConfig,
    box_of,
    conversation_words,
    location_words,
)
from .base import TaskOptions, TrainableTask
from .image_text import examples_from_scenes as described
from .image_text import open_image
from .metrics.answers import answer_metrics
from .metrics.boxes import box_metrics
from .metrics.caption import caption_metrics
from .metrics.speech import error_rates
from .registry import TASKS
from .vqa import examples_from_scenes as questioned

KINDS = ("vqa", "caption", "locate", "read")


@dataclass
class Turn:
    prompt: str
    answer: str | None
    kind: str                      # one of KINDS: how it is scored
    truth: object = None           # vqa: the Question; caption: the ImageTextExample; locate: (box, phrase
                                   # kind); read: the transcript


@dataclass
class VLMExample:
    image: object                  # uint8 array, modalities.Image or a path
    turns: list[Turn]


@dataclass
class VLMOptions(TaskOptions):
    turns: int = 4                 # prompt-answer pairs per training conversation


def examples_from(preset: str, split: str, seed: int, n: int) -> list[VLMExample]:
    scenes = shapes(preset, split, seed, n)
    if preset == "sort-of-clevr":
        return [VLMExample(ex.image, [Turn(q.text, q.answer, "vqa", q) for q in ex.questions])
                for ex in questioned(scenes)]
    if preset == "shapes":
        out = []
        for scene, caption in zip(scenes, described(scenes)):
            h, w = scene.image.shape[:2]
            turns = [Turn("caption", scene.caption, "caption", caption)]
            turns += [Turn(f"locate: {p.text}", location_words(p.box, w, h), "locate", (list(map(float, p.box)), p.kind))
                      for p in scene.phrases]
            out.append(VLMExample(scene.image, turns))
        return out
    return [VLMExample(scene.image, [Turn("read", scene.transcript, "read", scene.transcript)]) for scene in scenes]


def load_examples(spec: str, seed: int = 0, n: int = 1000) -> list[VLMExample]:
    if spec.startswith("vlm:"):
        split = spec.split(":", 1)[1]
        shares = [n // 3 + (i < n % 3) for i in range(3)]
        return [ex for preset, share in zip(("sort-of-clevr", "shapes", "signs"), shares) if share
                for ex in examples_from(preset, split, seed, share)]
    if spec.startswith("shapes:"):
        preset, split = parse_spec(spec)
        return examples_from(preset, split, seed, n)
    raise InputError(f"{spec}: the vlm task reads shapes:<preset>:<split> (sort-of-clevr, shapes, signs) or "
                     f"vlm:<split> (all three)")


def pixels(model: VisionLanguageModel, examples: list[VLMExample]) -> torch.Tensor:
    return model.image_encoder.processor([as_array(open_image(ex.image)) for ex in examples])


@torch.no_grad()
def answers(model: VisionLanguageModel, examples: list[VLMExample], batch_size: int = 64,
            max_new_tokens: int = 40) -> list[list[str]]:
    """What the model writes for each prompt of each example, each prompt asked alone."""
    model.eval()
    asked = [(i, turn.prompt) for i, ex in enumerate(examples) for turn in ex.turns]
    images = pixels(model, examples)
    written: list[list[str]] = [[] for _ in examples]
    for start in range(0, len(asked), batch_size):
        chunk = asked[start:start + batch_size]
        convs = [[Segment(image=images[i]), Segment(text=prompt)] for i, prompt in chunk]
        for (i, _), text in zip(chunk, model.generate(convs, max_new_tokens=max_new_tokens)):
            written[i].append(text)
    return written


def scores(examples: list[VLMExample], written: list[list[str]]) -> dict:
    """Each kind of prompt scored as its task's models are (see the module's table)."""
    by_kind: dict[str, list] = {k: [] for k in KINDS}
    for ex, texts in zip(examples, written):
        size = as_array(open_image(ex.image)).shape[:2]
        for turn, text in zip(ex.turns, texts):
            by_kind[turn.kind].append((turn, text, size))
    out: dict = {}
    if by_kind["vqa"]:
        out.update(answer_metrics([t.truth for t, _, _ in by_kind["vqa"]], [w for _, w, _ in by_kind["vqa"]]))
    if by_kind["caption"]:
        found = caption_metrics([t.truth for t, _, _ in by_kind["caption"]], [w for _, w, _ in by_kind["caption"]])
        out.update({f"caption_{k}": v for k, v in found.items()})
    if by_kind["locate"]:
        found = box_metrics([t.truth[0] for t, _, _ in by_kind["locate"]],
                            [box_of(w, size[1], size[0]) for _, w, size in by_kind["locate"]],
                            [t.truth[1] for t, _, _ in by_kind["locate"]])
        out.update({f"ground_{k}": v for k, v in found.items()})
    if by_kind["read"]:
        found = error_rates([t.truth for t, _, _ in by_kind["read"]], [w for _, w, _ in by_kind["read"]])
        out.update({f"read_{k}": v for k, v in found.items()})
    return out


@TASKS.register("vlm")
class VLMTask(TrainableTask):
    """Images and prompts -> written answers, for several tasks at once (see the module)."""

    model_task = "vlm"
    chooses_fusion = False
    default_data = "vlm:train"
    curve_metrics = ("accuracy", "caption_fact_f1", "ground_accuracy_iou50")
    Options = VLMOptions

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        if columns:
            raise InputError("the vlm task reads generated data; it takes no --column mapping")
        return load_examples(spec, seed, n), None

    def vocabulary(self, examples) -> tuple[list[str], list[str]]:
        texts = [[Segment(text=t) for turn in ex.turns for t in (turn.prompt, turn.answer) if t] for ex in examples]
        locations = [[Segment(text=" ".join(f"loc{b}" for b in range(LOCATION_BINS)))]]
        return conversation_words(texts + locations), []

    def modalities(self, examples) -> list[str]:
        return ["image", "text"]

    def own_model_spec(self, encoders: dict, hidden: int) -> dict:
        return {"image_encoder": encoders.get("image", {"name": "cnn", "config": {}}), "dim": hidden}

    def build_model(self, spec: dict, examples):
        words, _ = self.vocabulary(examples)
        return VisionLanguageModel(VLMConfig.from_dict({**spec, "vocab": words}, "vlm model"))

    def make_batch(self, model, examples, rng):
        images = pixels(model, examples)
        convs = []
        for i, ex in enumerate(examples):
            turns = ex.turns
            if rng is not None:
                turns = [turns[j] for j in rng.permutation(len(turns))[:self.options.turns]]
            if any(turn.answer is None for turn in turns):
                raise InputError("training needs an answer for every prompt")
            convs.append([Segment(image=images[i])] + [Segment(text=t, written=w) for turn in turns
                                                        for t, w in ((turn.prompt, False), (turn.answer, True))])
        batch = model.assemble(convs)
        return batch, batch["targets"]

    def loss(self, outputs, targets) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(outputs.flatten(0, 1).float(), targets.flatten(),
                                                 ignore_index=IGNORE)

    def evaluate(self, model, examples, batch_size=64, device=None, progress=False) -> dict:
        written = answers(model, examples, batch_size)
        return {**scores(examples, written), "scenes": len(examples),
                "mean_words_written": float(np.mean([len(a.split()) for w in written for a in w]))}
