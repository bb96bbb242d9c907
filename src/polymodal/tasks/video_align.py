"""Video-text alignment: clips and sentences in one space (polymodal's aligner over a video
encoder, trained contrastively on clips and their captions), for text-to-video retrieval,
clip embeddings and zero-shot classification of clips by labels.

Data: `shapes:motion:<split>` (each clip with the caption of what happens in it) or a
manifest with `video` and `caption` columns. A text counts as true of every clip whose
caption it is (two clips can share one). Scores: R@1 and R@5 text -> video and video -> text,
over the examples as the gallery."""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core.errors import InputError
from ..layers import to_device
from ..models.aligner import Aligner, AlignerConfig
from .align import alignment_loss, embed_texts
from .clip_text import CAPTION_TOKENS, ClipTextTask
from .image_text import fill_text_vocab
from .metrics.retrieval import recall_both_ways
from .registry import TASKS
from .video_qa import opened


def same_caption(texts: list[str], examples) -> torch.Tensor:
    """[clips, texts]: 1 where the text is one of the clip's captions."""
    return torch.tensor([[t in ex.captions for t in texts] for ex in examples], dtype=torch.float32)


@torch.no_grad()
def embed_clips(model: Aligner, videos: list, batch_size: int = 32, device=None, progress: bool = False):
    """Clips (arrays, Videos, paths or bytes) -> [N, dim] unit vectors."""
    model.eval()
    device = device or next(model.parameters()).device
    chunks = []
    for start in tqdm(range(0, len(videos), batch_size), disable=not progress, desc="embedding clips"):
        clips = [opened(model.image_encoder, v) for v in videos[start:start + batch_size]]
        chunks.append(model.encode_image(to_device(model.preprocess({"image": clips})["image"], device)).float().cpu())
    return torch.cat(chunks)


def zero_shot(model: Aligner, clip_emb: torch.Tensor, labels: list[str]) -> list[list[tuple[str, float]]]:
    prompts = [model.config.prompt.format(label) for label in labels]
    probs = (model.scale().detach().cpu() * clip_emb @ embed_texts(model, prompts).T).softmax(-1)
    return [sorted(zip(labels, map(float, row)), key=lambda p: -p[1]) for row in probs]


def retrieval(model: Aligner, examples, batch_size: int = 32, device=None, progress: bool = False) -> dict:
    texts = [ex.captions[0] for ex in examples]
    sims = embed_clips(model, [ex.video for ex in examples], batch_size, device, progress) @ \
        embed_texts(model, texts, device=device).T                              # [clips, texts]
    hits = same_caption(texts, examples)
    return {"gallery": len(examples), **recall_both_ways(sims, hits, "video")}


@TASKS.register("video-align")
class VideoAlignTask(ClipTextTask):
    """Clips and texts into one space, where a text scores highest with the clips it describes."""

    model_task = "video-align"
    curve_metrics = ("text_to_video_r1", "text_to_video_r5")

    def modalities(self, examples) -> list[str]:
        return ["video", "text"]

    def own_model_spec(self, encoders: dict, hidden: int) -> dict:
        return {"image_encoder": encoders.get("video", {"name": "frames", "config": {}}),
                "text_encoder": encoders.get("text", {"name": "transformer", "config": {}}), "dim": hidden}

    def build_model(self, spec: dict, examples):
        spec = fill_text_vocab({**spec, "task": "video-align"}, self.vocabulary(examples)[0])
        text = spec["text_encoder"]
        if text["name"] == "transformer":             # a caption of a clip's events runs to 50-odd tokens
            text["config"].setdefault("max_length", CAPTION_TOKENS)
        if spec["image_encoder"].get("name") != "frames":
            raise InputError("a video-text aligner's first tower is a video encoder (frames)")
        return Aligner(AlignerConfig.from_dict(spec, "video-align model"))

    def make_batch(self, model, examples, rng):
        if any(not ex.captions for ex in examples):
            raise InputError("alignment training needs a caption for every clip")
        examples = [self.augmented(ex, rng) for ex in examples]
        rng = rng if rng is not None else np.random.default_rng(0)
        texts = [ex.captions[int(rng.integers(len(ex.captions)))] for ex in examples]
        batch = model.preprocess({"image": [opened(model.image_encoder, ex.video) for ex in examples], "text": texts})
        return batch, same_caption(texts, examples)

    def loss(self, outputs, targets):
        return alignment_loss(outputs, targets)

    def evaluate(self, model, examples, batch_size=32, device=None, progress=False) -> dict:
        return retrieval(model, examples, batch_size, device, progress)
