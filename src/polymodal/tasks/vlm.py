"""The vlm task: one generative vision-language model (models/vlm.py) taught several tasks by
their prompts, on the embedded world, each scored as its task's own models are:

| data | prompt | answer | scored by |
|---|---|---|---|
| sort-of-clevr | a question | its answer, written out | exact match, per question type (VQA) |
| shapes | "caption" | the scene's caption | BLEU, CIDEr, fact F1 (captions) |
| shapes | "locate: <phrase>" | four location words, x0 y0 x1 y1 | accuracy at IoU 0.5, per kind of phrase |
| signs | "read" | the words on the sign, in reading order | word error rate, exact transcripts |
| sort-of-clevr | a dialogue: "what is the colour of the object closest to the red object?", then "what is its shape?" | each answer, after the model's own earlier ones | the follow-up's exact match (chat accuracy) |
| sort-of-clevr | in-context examples (image, "code for the shape of the X object?", a code word), then an image and the question | the code of its shape | exact match, with 0 and with k examples (few_shot_accuracy) |

A location word `locK` is the K-th of LOCATION_BINS equal bins of the image's width (x) or
height (y); a box is written as the bins of its corners (the PaliGemma and Pix2Seq way).

Data: `shapes:<preset>:<split>` for one preset, or `vlm:<split>` for all three (a third of `n`
scenes each). A training conversation is an image and up to `turns` of its prompts (a
dialogue's turns stay together, in order) in a random order, so the model also learns to
answer after earlier turns (a chat); scoring asks each prompt alone, and each dialogue turn
by turn after the model's own answers. With `few_shot`, a share of the training conversations
are in-context episodes whose codes come from CODE_WORDS; the few-shot test's codes
(HELD_OUT_CODES) are never written in training.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.errors import InputError
from ..data.sort_of_clevr import SHAPES, dialogue
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

KINDS = ("vqa", "caption", "locate", "read")     # the single prompts; dialogues are scored on their own


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
    turns: list[Turn]              # each asked alone (or in any order)
    dialogues: list[list[Turn]] = field(default_factory=list)   # turns asked in order, each after the last
    shapes: dict[str, str] = field(default_factory=dict)        # sort-of-clevr: colour -> shape (few-shot codes)


@dataclass
class VLMOptions(TaskOptions):
    turns: int = 4                 # prompts (a dialogue counts as one) per training conversation
    few_shot: float = 0.0          # share of training batches whose sort-of-clevr conversations are in-context
                                   # episodes (whole batches: an episode's images make its rows long, and a
                                   # batch is as long as its longest row)
    max_shots: int = 4             # ... with 1 to this many examples before the question


# In-context episodes: each shape gets a code word, shown by examples (image, prompt, code)
# before the image asked about. Training draws codes from CODE_WORDS; the few-shot test uses
# HELD_OUT_CODES, which no training conversation ever writes.
CODE_PROMPT = "code for the shape of the {c} object?"
CODE_WORDS = ("dax", "wug", "blick", "fep", "toma", "zup", "kiki", "lorp", "mip", "quib", "snark", "vop", "gorp",
              "tiv", "jek", "pim", "rud", "sul", "bem", "kog", "nib", "yop", "faz", "hib")
HELD_OUT_CODES = ("zib", "mox", "yat", "neb")
DIALOGUES_PER_SCENE = 2


def examples_from(preset: str, split: str, seed: int, n: int) -> list[VLMExample]:
    scenes = shapes(preset, split, seed, n)
    if preset == "sort-of-clevr":
        rng = np.random.default_rng([seed, 23])          # the dialogues' own stream: the same for a split and seed
        out = []
        for scene, ex in zip(scenes, questioned(scenes)):
            talks = [dialogue(scene.objects, rng) for _ in range(DIALOGUES_PER_SCENE)]
            out.append(VLMExample(ex.image, [Turn(q.text, q.answer, "vqa", q) for q in ex.questions],
                                  [[Turn(qa.question, qa.answer, "dialogue", qa) for qa in talk] for talk in talks],
                                  {o.colour: o.shape for o in scene.objects}))
        return out
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


def turns_of(ex: VLMExample) -> list[Turn]:
    return ex.turns + [t for talk in ex.dialogues for t in talk]


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


@torch.no_grad()
def dialogue_answers(model: VisionLanguageModel, examples: list[VLMExample], batch_size: int = 64) -> list:
    """Each dialogue asked turn by turn, each turn after the model's own earlier answers (as
    in a chat): -> (the dialogue's turns, what the model wrote for each)."""
    model.eval()
    talks = [(i, talk) for i, ex in enumerate(examples) for talk in ex.dialogues]
    images = pixels(model, examples)
    written = [[] for _ in talks]
    for step in range(max((len(t) for _, t in talks), default=0)):
        for start in range(0, len(talks), batch_size):
            chunk = [(j, i, talk) for j, (i, talk) in enumerate(talks[start:start + batch_size], start)
                     if step < len(talk)]
            convs = [[Segment(image=images[i])] + [Segment(text=t, written=w) for turn, said in zip(talk, written[j])
                                                   for t, w in ((turn.prompt, False), (said, True))]
                     + [Segment(text=talk[step].prompt)] for j, i, talk in chunk]
            for (j, _, _), text in zip(chunk, model.generate(convs, max_new_tokens=8)):
                written[j].append(text)
    return [(talk, said) for (_, talk), said in zip(talks, written)]


def dialogue_scores(answered: list) -> dict:
    """Per turn of the dialogues, the share answered right; `chat_accuracy`: the follow-ups
    (which only the model's own first answer makes answerable)."""
    if not answered:
        return {}
    turns = max(len(talk) for talk, _ in answered)
    right = [[said[k] == talk[k].answer for talk, said in answered if k < len(talk)] for k in range(turns)]
    return {"chat_accuracy": float(np.mean(right[-1])), "chat_first_turn_accuracy": float(np.mean(right[0])),
            "chat_dialogues": len(answered)}


def episode(query: VLMExample, colour: str, shown: list[tuple[VLMExample, str]], codes: dict[str, str],
            image_of) -> list[Segment]:
    """An in-context episode: each shown (example, colour) with its shape's code, then the query."""
    segments = []
    for ex, c in shown:
        segments += [Segment(image=image_of(ex)), Segment(text=CODE_PROMPT.format(c=c)),
                     Segment(text=codes[ex.shapes[c]], written=True)]
    return segments + [Segment(image=image_of(query)), Segment(text=CODE_PROMPT.format(c=colour))]


@torch.no_grad()
def few_shot_accuracy(model: VisionLanguageModel, examples: list[VLMExample], shots: int,
                      words: tuple[str, ...] = HELD_OUT_CODES, seed: int = 0, batch_size: int = 16) -> float:
    """Share of queries answered with the right code when `shots` examples (other scenes of
    `examples`) show a fresh random code per shape, drawn from `words`."""
    model.eval()
    rng = np.random.default_rng(seed)
    pool = [ex for ex in examples if ex.shapes]
    index = {id(ex): i for i, ex in enumerate(pool)}
    images = pixels(model, pool)
    convs, truth = [], []
    for query in pool:
        codes = dict(zip(SHAPES, rng.choice(words, len(SHAPES), replace=False)))
        others = [pool[j] for j in rng.permutation(len(pool)) if pool[j] is not query][:shots]
        shown = [(ex, list(ex.shapes)[rng.integers(len(ex.shapes))]) for ex in others]
        colour = list(query.shapes)[rng.integers(len(query.shapes))]
        convs.append(episode(query, colour, shown, codes, lambda ex: images[index[id(ex)]]))
        truth.append(codes[query.shapes[colour]])
    said = [t for start in range(0, len(convs), batch_size)
            for t in model.generate(convs[start:start + batch_size], max_new_tokens=3)]
    return float(np.mean([s == t for s, t in zip(said, truth)]))


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
        texts = [[Segment(text=t) for turn in turns_of(ex) for t in (turn.prompt, turn.answer) if t]
                 for ex in examples]
        fixed = [f"loc{b}" for b in range(LOCATION_BINS)] + list(CODE_WORDS + HELD_OUT_CODES)
        return conversation_words(texts + [[Segment(text=" ".join(fixed)), Segment(text=CODE_PROMPT)]]), []

    def modalities(self, examples) -> list[str]:
        return ["image", "text"]

    def own_model_spec(self, encoders: dict, hidden: int) -> dict:
        return {"image_encoder": encoders.get("image", {"name": "cnn", "config": {}}), "dim": hidden}

    def build_model(self, spec: dict, examples):
        words, _ = self.vocabulary(examples)
        return VisionLanguageModel(VLMConfig.from_dict({**spec, "vocab": words}, "vlm model"))

    def make_batch(self, model, examples, rng):
        """Per example, a conversation of up to `turns` of its prompts and dialogues in a random
        order; in a `few_shot` share of the batches, the sort-of-clevr ones are in-context
        episodes instead (the batch's other scenes as examples, codes from CODE_WORDS)."""
        images = pixels(model, examples)
        index = {id(ex): i for i, ex in enumerate(examples)}
        episodes = rng is not None and rng.random() < self.options.few_shot
        convs = []
        for i, ex in enumerate(examples):
            groups = [[t] for t in ex.turns] + ex.dialogues
            if rng is not None:
                groups = [groups[j] for j in rng.permutation(len(groups))[:self.options.turns]]
            turns = [t for group in groups for t in group]
            if any(turn.answer is None for turn in turns):
                raise InputError("training needs an answer for every prompt")
            others = [o for o in examples if o.shapes and o is not ex]
            if episodes and ex.shapes and others:
                codes = dict(zip(SHAPES, rng.choice(CODE_WORDS, len(SHAPES), replace=False)))
                shots = [others[j] for j in rng.permutation(len(others))[:rng.integers(1, self.options.max_shots + 1)]]
                colour = list(ex.shapes)[rng.integers(len(ex.shapes))]
                shown = [(o, list(o.shapes)[rng.integers(len(o.shapes))]) for o in shots]
                convs.append(episode(ex, colour, shown, codes, lambda o: images[index[id(o)]])
                             + [Segment(text=codes[ex.shapes[colour]], written=True)])
                continue
            convs.append([Segment(image=images[i])] + [Segment(text=t, written=w) for turn in turns
                                                        for t, w in ((turn.prompt, False), (turn.answer, True))])
        batch = model.assemble(convs)
        return batch, batch["targets"]

    def loss(self, outputs, targets) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(outputs.flatten(0, 1).float(), targets.flatten(),
                                                 ignore_index=IGNORE)

    def evaluate(self, model, examples, batch_size=64, device=None, progress=False) -> dict:
        if not isinstance(model, VisionLanguageModel):
            raise InputError("eval vlm scores polymodal's own vlm (it asks by the prompts that model was taught); "
                             "score another chat model with eval vqa, caption or ground")
        written = answers(model, examples, batch_size)
        return {**scores(examples, written), **dialogue_scores(dialogue_answers(model, examples, batch_size)),
                "scenes": len(examples),
                "mean_words_written": float(np.mean([len(a.split()) for w in written for a in w]))}
