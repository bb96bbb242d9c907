"""One endpoint per task verb of the CLI, with the same models and the same results.

An endpoint names its fields (inputs.Field), the task whose model it runs, how requests
group into batches (`key`: requests with equal keys may share one forward pass), and how a
batch of checked requests becomes a list of JSON answers.
"""
from __future__ import annotations

import base64
import io

import numpy as np

from ..core.errors import InputError
from ..core.registry import Registry
from ..models.diffusion import GUIDANCE as DRAW_GUIDANCE
from ..models.diffusion import SCHEDULERS
from ..tasks.edit import edit, parse_instruction
from ..tasks.generate import check_prompts, draw
from .inputs import Field

ENDPOINTS: Registry = Registry("endpoint")

IMAGE = Field("image", "image", "the image: an upload, or base64 in JSON", required=True)
SEED = Field("seed", "int", "random seed: the same seed gives the same image", default=0, low=0, high=2**31 - 1)
STEPS = Field("steps", "int", "denoising steps", default=25, low=1, high=200)
GUIDANCE = Field("guidance", "float", "classifier-free guidance scale", default=DRAW_GUIDANCE, low=0.0, high=30.0)
SCHEDULER = Field("scheduler", "text", "ddim, dpm or ddpm", default="ddim")


def png_base64(array: np.ndarray) -> str:
    from PIL import Image as PILImage
    buf = io.BytesIO()
    PILImage.fromarray(array).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def wav_base64(audio) -> str:
    """16-bit PCM WAV, as `polymodal speak` writes it."""
    import soundfile as sf
    buf = io.BytesIO()
    sf.write(buf, audio.waveform, audio.rate, subtype="PCM_16", format="WAV")
    return base64.b64encode(buf.getvalue()).decode()


def check_scheduler(name: str) -> None:
    if name not in SCHEDULERS:
        raise InputError(f"field scheduler: {name!r} is not one of {', '.join(SCHEDULERS)}")


class Endpoint:
    summary: str
    task: str                   # whose model it runs (ModelPool's key; documentation for readers)
    fields: tuple[Field, ...]

    @staticmethod
    def key(values: dict) -> tuple | None:
        """Requests with equal keys may share a forward pass; None: this one runs alone."""
        return ()

    @staticmethod
    def prepare(values: dict) -> None:
        """Checks that need no model, run before the request queues (a clear 4xx early)."""

    @staticmethod
    def run(pool, batch: list[dict]) -> list[dict]:
        raise NotImplementedError


@ENDPOINTS.register("caption")
class CaptionEndpoint(Endpoint):
    summary = "Describe an image (`polymodal caption`)"
    task = "caption"
    fields = (IMAGE, Field("beams", "int", "beam width (1: greedy)", default=1, low=1, high=8))

    @staticmethod
    def key(values):
        return (values["beams"],)

    @staticmethod
    def run(pool, batch):
        found = pool.get("caption").batch([v["image"] for v in batch], beams=batch[0]["beams"])
        return [{"caption": c.text, "score": c.score} for c in found]


@ENDPOINTS.register("ask")
class AskEndpoint(Endpoint):
    summary = "Answer a question about an image, typed or spoken (`polymodal ask`)"
    task = "vqa"
    fields = (IMAGE, Field("question", "text", "the question as text"),
              Field("audio", "audio", "the question spoken (WAV, FLAC or OGG)"))

    @staticmethod
    def key(values):
        return (values["question"] is not None, values["audio"] is not None)

    @staticmethod
    def prepare(values):
        if values["question"] is None and values["audio"] is None:
            raise InputError("field question or audio is required: the question typed or spoken")

    @staticmethod
    def run(pool, batch):
        spoken = batch[0]["audio"] is not None      # one kind per batch: see key()
        answers = pool.get("vqa", spoken).batch([(v["image"], v["question"], v["audio"]) for v in batch])
        return [{"answer": a.text, "score": a.score} for a in answers]


CLIP = Field("video", "video", "the clip: MP4, WebM, MKV, MOV...; an upload, or base64 in JSON", required=True)


@ENDPOINTS.register("ask-video")
class AskVideoEndpoint(Endpoint):
    summary = "Answer a question about a video clip (`polymodal ask CLIP`)"
    task = "video-qa"
    fields = (CLIP, Field("question", "text", "the question", required=True))

    @staticmethod
    def run(pool, batch):
        answers = pool.get("video-qa").batch([(v["video"], v["question"]) for v in batch])
        return [{"answer": a.text, "score": a.score} for a in answers]


@ENDPOINTS.register("classify-video")
class ClassifyVideoEndpoint(Endpoint):
    summary = "Classify a video clip: a video classifier's classes, or zero-shot by labels (`polymodal classify CLIP`)"
    task = "video-classify"
    fields = (CLIP, Field("labels", "list", "zero-shot (a video-text model such as X-CLIP): two or more labels"),
              Field("k", "int", "how many classes to return", default=5, low=1, high=100))

    @staticmethod
    def key(values):
        return (tuple(values["labels"] or ()),)

    @staticmethod
    def prepare(values):
        if values["labels"] is not None and len(values["labels"]) < 2:
            raise InputError("field labels: give at least two labels")

    @staticmethod
    def run(pool, batch):
        labels, videos = batch[0]["labels"], [v["video"] for v in batch]     # one label set per batch: key()
        ranked = pool.get("video-align").classify(videos, labels) if labels else \
            pool.get("video-classify").classify(videos)
        return [{"labels": [{"label": label, "score": round(score, 4)} for label, score in r[:v["k"]]]}
                for r, v in zip(ranked, batch)]


@ENDPOINTS.register("ground")
class GroundEndpoint(Endpoint):
    summary = "Find the region a phrase names: a box in pixels (`polymodal ground`)"
    task = "ground"
    fields = (IMAGE, Field("phrase", "text", "a referring expression, e.g. the red circle", required=True))

    @staticmethod
    def run(pool, batch):
        found = pool.get("ground").batch([(v["image"], v["phrase"]) for v in batch])
        return [{"box": g.box, "score": round(g.score, 4)} for g in found]


@ENDPOINTS.register("classify")
class ClassifyEndpoint(Endpoint):
    summary = ("Zero-shot classification from label names (`classify --labels`), or few-shot from labelled "
               "example images (`classify --examples`)")
    task = "align"
    fields = (IMAGE, Field("labels", "list", "zero-shot: two or more labels, comma-separated or a JSON list"),
              Field("examples", "images", "few-shot: example images (repeat the field, or a JSON list)"),
              Field("example_labels", "list", "few-shot: the class of each example, in the same order"),
              Field("method", "text", "few-shot: prototype or probe", default="prototype"),
              Field("invariant", "list", "few-shot: what the classes do not depend on: colour, mirror, place"))

    @staticmethod
    def key(values):
        return () if values["examples"] is None else None      # a support set is the request's own

    @staticmethod
    def prepare(values):
        if (values["labels"] is None) == (values["examples"] is None):
            raise InputError("give labels (zero-shot) or examples with example_labels (few-shot)")
        if values["labels"] is not None and len(values["labels"]) < 2:
            raise InputError("field labels: give at least two labels")
        if values["examples"] is not None:
            named = values["example_labels"] or []
            if len(named) != len(values["examples"]):
                raise InputError(f"field example_labels: {len(named)} labels for {len(values['examples'])} examples")
            if len(set(named)) < 2:
                raise InputError("field example_labels: give examples of at least two classes")
            if values["method"] not in ("prototype", "probe"):
                raise InputError(f"field method: {values['method']!r} is not prototype or probe")

    @staticmethod
    def run(pool, batch):
        """Zero-shot requests with different labels still share the image pass; each is then
        scored against its own labels, as `classify` scores one image."""
        pipe = pool.get("align")
        if batch[0]["examples"] is not None:
            v = batch[0]
            support: dict[str, list] = {}
            for image, label in zip(v["examples"], v["example_labels"]):
                support.setdefault(label, []).append(image)
            return [{"label": pipe.few_shot([v["image"]], support, v["method"], tuple(v["invariant"] or ()))[0]}]
        ranked = pipe.rank(pipe.embed_images([v["image"] for v in batch]), [v["labels"] for v in batch])
        return [{"label": r[0][0], "score": round(r[0][1], 4),
                 "labels": [{"label": label, "score": round(p, 4)} for label, p in r]} for r in ranked]


@ENDPOINTS.register("embed")
class EmbedEndpoint(Endpoint):
    summary = "An image or a text as a vector in the aligner's shared space (`polymodal embed`)"
    task = "align"
    fields = (Field("image", "image", "an image to embed"), Field("text", "text", "a text to embed"))

    @staticmethod
    def key(values):
        return ("image" if values["image"] is not None else "text",)

    @staticmethod
    def prepare(values):
        if (values["image"] is None) == (values["text"] is None):
            raise InputError("give one of the fields image or text")

    @staticmethod
    def run(pool, batch):
        pipe = pool.get("align")
        vectors = pipe.embed_images([v["image"] for v in batch]) if batch[0]["image"] is not None \
            else pipe.embed_texts([v["text"] for v in batch])
        return [{"vector": [round(float(x), 6) for x in row]} for row in vectors]


@ENDPOINTS.register("search")
class SearchEndpoint(Endpoint):
    summary = "Rank a gallery of images by a text or an image query (`polymodal search`)"
    task = "align"
    fields = (Field("gallery", "images", "the images to rank (repeat the field, or a JSON list)", required=True),
              Field("text", "text", "a text query"), Field("image", "image", "an image query"),
              Field("k", "int", "how many results", default=5, low=1, high=256))

    @staticmethod
    def key(values):
        return None                              # each request brings its own gallery

    @staticmethod
    def prepare(values):
        EmbedEndpoint.prepare(values)

    @staticmethod
    def run(pool, batch):
        pipe, v = pool.get("align"), batch[0]
        query = pipe.embed_images([v["image"]])[0] if v["image"] is not None else pipe.embed_texts([v["text"]])[0]
        scores = pipe.embed_images(v["gallery"]) @ query
        ranked = np.argsort(-scores)[: v["k"]]
        return [{"results": [{"rank": r, "index": int(i), "score": round(float(scores[i]), 4)}
                             for r, i in enumerate(ranked, 1)]}]


@ENDPOINTS.register("generate")
class GenerateEndpoint(Endpoint):
    summary = "Draw an image from a prompt (`polymodal generate`); the PNG in base64"
    task = "generate"
    fields = (Field("prompt", "text", "what to draw, e.g. a red circle above a blue square", required=True),
              SEED, STEPS, GUIDANCE, SCHEDULER)

    @staticmethod
    def key(values):
        return (values["steps"], values["guidance"], values["scheduler"])

    @staticmethod
    def prepare(values):
        check_scheduler(values["scheduler"])

    @staticmethod
    def run(pool, batch):
        model = pool.get("generate").model
        prompts = [v["prompt"] for v in batch]
        check_prompts(model, prompts)
        v0 = batch[0]
        images = draw(model, prompts, [v["seed"] for v in batch], v0["steps"], v0["guidance"], v0["scheduler"],
                      batch_size=len(prompts))
        return [{"image": png_base64(im)} for im in images]


@ENDPOINTS.register("edit")
class EditEndpoint(Endpoint):
    summary = "Change an image by an instruction, e.g. make the red circle green (`polymodal edit`)"
    task = "generate"
    fields = (IMAGE, Field("instruction", "text", "make the X Y, make the X a SHAPE, or remove the X", required=True),
              SEED, STEPS, GUIDANCE, SCHEDULER)

    @staticmethod
    def key(values):
        return None                              # one edit per pass: each has its own mask

    @staticmethod
    def prepare(values):
        parse_instruction(values["instruction"])
        check_scheduler(values["scheduler"])

    @staticmethod
    def run(pool, batch):
        v = batch[0]
        image = edit(pool.get("generate").model, pool.get("ground").model, v["image"], v["instruction"], v["seed"],
                     v["steps"], v["guidance"], v["scheduler"])
        return [{"image": png_base64(image)}]


@ENDPOINTS.register("transcribe")
class TranscribeEndpoint(Endpoint):
    summary = "Speech to text (`polymodal transcribe`)"
    task = "transcribe"
    fields = (Field("audio", "audio", "speech: WAV, FLAC or OGG, any rate, mono or stereo", required=True),)

    @staticmethod
    def run(pool, batch):
        found = pool.get("transcribe").batch([v["audio"] for v in batch])
        return [{"text": t.text, "score": round(t.score, 4)} for t in found]


@ENDPOINTS.register("speak")
class SpeakEndpoint(Endpoint):
    summary = "Text to speech (`polymodal speak`); the WAV in base64"
    task = "speak"
    fields = (Field("text", "text", "what to say", required=True),
              Field("voice", "text", "an engine's voice name, e.g. en-us+m3 for eSpeak"))

    @staticmethod
    def key(values):
        return (values["voice"],)

    @staticmethod
    def run(pool, batch):
        spoken = pool.get("speak").batch([v["text"] for v in batch], batch[0]["voice"])
        return [{"audio": wav_base64(a), "rate": a.rate, "seconds": round(len(a.waveform) / a.rate, 3)} for a in spoken]
