"""Callable pipelines per task, what `pm.load` returns: `vqa(image=..., question=...)`,
`vqa.batch(items)`. Each takes user values (paths, bytes, arrays, modality values) and gives
result types (core/results.py), whatever model stands behind it: polymodal's own, a Hugging
Face adapter or an engine.
"""
from __future__ import annotations

import torch

from ..core.errors import InputError
from ..core.results import Answer, Caption, Grounding, Transcript
from ..loading import default_model, load_model
from ..modalities import Audio, Image
from ..models.diffusion import GUIDANCE
from ..tasks import align, caption, classify, ground, text_qa, transcribe
from ..tasks import vqa as vqa_task
from ..tasks.few_shot import embed_invariant, few_shot_predict
from ..tasks.generate import check_prompts, draw
from . import chat, video  # noqa: F401  (each registers its pipelines: vlm; video-qa, video-caption, ...)
from .backend import Backend, on_backend
from .registry import PIPELINES


@PIPELINES.register("vqa")
class VQAPipeline:
    def __init__(self, model, batch_size: int = 64):
        self.model, self.batch_size = model.eval(), batch_size

    def __call__(self, image, question: str | None = None, audio=None) -> Answer:
        return self.batch([(image, question, audio)])[0]

    def batch(self, items, batch_size: int | None = None, progress: bool = False) -> list[Answer]:
        """items: (image, question) pairs, or (image, question, audio) with the question spoken
        (question may then be None); images may be paths, bytes, arrays or Images."""
        items = [tuple(it) + (None,) * (3 - len(it)) for it in items]
        typed, spoken = all(q is not None for _, q, _ in items), all(a is not None for _, _, a in items)
        if not typed and not spoken:
            raise InputError("each question needs its text or its audio (and all of them the same)")
        ask_by = "both" if typed and spoken else "text" if typed else "speech"
        examples = [vqa_task.VQAExample(Image.open(im), [vqa_task.Question(q or "", audio=Audio.open(a) if a else None)])
                    for im, q, a in items]
        _, answers, scores = vqa_task.predict(self.model, examples, batch_size or self.batch_size,
                                              progress=progress, ask_by=ask_by if ask_by != "text" else None)
        return [Answer(a, round(s, 4)) for a, s in zip(answers, scores)]


@PIPELINES.register("caption")
class CaptionPipeline:
    def __init__(self, model, batch_size: int = 64):
        self.model, self.batch_size = model.eval(), batch_size

    def __call__(self, image, beams: int = 1, guidance: float | None = None) -> Caption:
        return self.batch([image], beams=beams, guidance=guidance)[0]

    def batch(self, images, batch_size: int | None = None, beams: int = 1, progress: bool = False,
              guidance: float | None = None) -> list[Caption]:
        """images: paths, bytes, arrays or Images -> Caption(text, score) each; guidance None =
        the model's own."""
        examples = [caption.CaptionExample(Image.open(im)) for im in images]
        return caption.caption_images(self.model, examples, batch_size or self.batch_size, beams, progress=progress,
                                guidance=guidance)


@PIPELINES.register("text-qa")
class TextQAPipeline:
    """A question about a text: `qa(context="red square top left, ...", question="...")`."""

    def __init__(self, model, batch_size: int = 256):
        self.model, self.batch_size = model.eval(), batch_size

    def __call__(self, context: str, question: str) -> Answer:
        return self.batch([(context, question)])[0]

    def batch(self, items, batch_size: int | None = None, progress: bool = False) -> list[Answer]:
        """items: (context, question) pairs."""
        examples = [text_qa.TextQAExample({"text": text_qa.joined(c, q)}) for c, q in items]
        labels, scores = classify.predict(self.model, examples, batch_size or self.batch_size, progress=progress)
        return [Answer(a, round(s, 4)) for a, s in zip(labels, scores)]


@PIPELINES.register("align")
class AlignPipeline:
    """Image and text embeddings in one space: search, zero-shot and few-shot classification."""

    LABEL_SETS_KEPT = 64                  # label sets whose prompt embeddings are kept

    def __init__(self, model, batch_size: int = 128):
        self.model, self.batch_size = model.eval(), batch_size
        self.label_cache: dict[tuple[str, ...], torch.Tensor] = {}

    def embed_images(self, images, progress: bool = False):
        """images: paths, bytes, arrays or Images -> float32 [N, D] unit vectors."""
        return align.embed_images(self.model, [Image.open(im) for im in images], self.batch_size,
                                  progress=progress).numpy()

    def embed_texts(self, texts: list[str]):
        return align.embed_texts(self.model, list(texts)).numpy()

    def classify(self, images, labels: list[str]) -> list[list[tuple[str, float]]]:
        """Zero-shot: each image's labels with probabilities, best first."""
        embedded = self.embed_images(images)
        return self.rank(embedded, [list(labels)] * len(embedded))

    def rank(self, image_vectors, label_sets: list[list[str]]) -> list[list[tuple[str, float]]]:
        """Zero-shot from embedded images, each with its own labels (one text pass per
        distinct label set)."""
        vectors = torch.from_numpy(image_vectors)
        out: list = [None] * len(label_sets)
        for labels in {tuple(ls) for ls in label_sets}:
            rows = [i for i, ls in enumerate(label_sets) if tuple(ls) == labels]
            probs = align.zero_shot_scores(self.model, vectors[rows], list(labels), label_emb=self.label_vectors(labels))
            for i, row in zip(rows, probs):
                out[i] = sorted(zip(labels, map(float, row)), key=lambda p: -p[1])
        return out

    def label_vectors(self, labels: tuple[str, ...]) -> torch.Tensor:
        """The labels' prompt embeddings, made once per label set: a run classifying batch
        after batch, or a server asked the same labels again, does not embed them again."""
        if labels not in self.label_cache:
            if len(self.label_cache) >= self.LABEL_SETS_KEPT:
                self.label_cache.pop(next(iter(self.label_cache)))          # the oldest
            self.label_cache[labels] = align.label_vectors(self.model, list(labels))
        return self.label_cache[labels]

    def few_shot(self, images, support: dict[str, list], method: str = "prototype",
                 invariances: tuple[str, ...] = ()) -> list[str]:
        """Few-shot: support maps each class to a few example images; -> a class per image.
        invariances: what the classes do not depend on ("colour", "mirror"), averaged out."""

        def embed(ims):
            return embed_invariant(self.model, [Image.open(im) for im in ims], tuple(invariances), self.batch_size)
        emb = {c: embed(ims) for c, ims in support.items()}
        return few_shot_predict(emb, embed(images), method)


@PIPELINES.register("ground")
class GroundPipeline:
    def __init__(self, model, batch_size: int = 128):
        self.model, self.batch_size = model.eval(), batch_size

    def __call__(self, image, phrase: str) -> Grounding:
        return self.batch([(image, phrase)])[0]

    def batch(self, items, batch_size: int | None = None, progress: bool = False) -> list[Grounding]:
        """items: (image, phrase) pairs -> Grounding(box in pixels, score) each."""
        examples = [ground.GroundExample(Image.open(im), phrase) for im, phrase in items]
        return ground.locate(self.model, examples, batch_size or self.batch_size, progress=progress)


@PIPELINES.register("transcribe")
class TranscribePipeline:
    def __init__(self, model, batch_size: int = 32):
        self.model, self.batch_size = model.eval(), batch_size

    def __call__(self, audio) -> Transcript:
        return self.batch([audio])[0]

    def batch(self, audios, batch_size: int | None = None, progress: bool = False,
              expect: str | None = None) -> list[Transcript]:
        """audios: paths, bytes, (waveform, rate) or Audio -> Transcript(text, score) each.
        expect: the kind of sentence said (question, caption, ...), where the model knows kinds."""
        examples = [transcribe.SpeechExample(a, None) for a in audios]
        return transcribe.transcribe(self.model, examples, batch_size or self.batch_size, progress=progress,
                                     expect=expect)


@PIPELINES.register("speak")
class SpeakPipeline:
    def __init__(self, model):
        self.model = model.eval()

    def __call__(self, text: str, voice: str | None = None):
        return self.batch([text], voice)[0]

    def batch(self, texts: list[str], voice: str | None = None):
        """texts -> Audio each (voice: an engine's voice name, e.g. en-us+m3 for eSpeak)."""
        return self.model.speak_texts(list(texts), voice)


@PIPELINES.register("generate")
class GeneratePipeline:
    """Text -> image: `draw("a red circle above a blue square", seed=0)` -> uint8 HxWx3."""

    def __init__(self, model):
        self.model = model.eval()

    def __call__(self, prompt: str, seed: int = 0, steps: int = 25, guidance: float = GUIDANCE, scheduler: str = "ddim"):
        return self.batch([prompt], seed, steps, guidance, scheduler)[0]

    def batch(self, prompts: list[str], seed: int = 0, steps: int = 25, guidance: float = GUIDANCE,
              scheduler: str = "ddim", batch_size: int = 16, progress: bool = False):
        """Prompt i's noise comes from seed + i, as `polymodal generate --prompts` draws them."""
        check_prompts(self.model, list(prompts))
        return draw(self.model, list(prompts), seed, steps, guidance, scheduler, batch_size, progress)


def load(task: str = "vqa", model: str | None = None, device: str = "cpu", precision: str = "fp32",
         runtime: str = "torch", **options):
    """The Python entry point: `pm.load("vqa")` -> a callable pipeline for the task, over the
    model `model` names (loading.load_model; None: the task's default).

    device: "cpu", "cuda", "cuda:1", ...; precision: "fp32", or "bf16" / "fp16" mixed
    precision: every call runs under autocast (matmuls in the lower precision, norms and
    softmax in fp32). A Hugging Face model also holds its weights in that dtype (Whisper: its
    encoder), which halves their memory and, on a CPU, saves autocast re-casting them at each
    call (see benchmarks/results/vs_pipelines.md); polymodal's own small models keep fp32 weights.
    "int8" (a CPU only): the linear layers' weights in int8, dynamically quantized
    (inference/quantize.py); the rest runs in fp32. "int8-bf16" (a CPU whose oneDNN multiplies
    bf16: AVX-512): the large products in int8 through oneDNN, the rest as "bf16" runs it
    (hf/int8_linear.py, docs/performance.md).
    runtime: "torch", or "onnx" for a folder `polymodal export --format onnx` wrote: its
    encoders run in ONNX Runtime (a CPU, fp32; inference/onnx_runtime.py).
    options: the pipeline's own (for "vlm": listener, batch_size)."""
    return load_on(task, model, Backend(device, precision, runtime), **options)    # checked before loading


def load_on(task: str, model: str | None, backend: Backend, **options):
    """pm.load with the device, precision and runtime as one Backend."""
    return on_backend(task, load_model(model, task=task), str(model or default_model(task) or task), backend,
                      **options)
