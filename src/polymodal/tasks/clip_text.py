"""What the tasks over clips and their descriptions share (video captioning, video-text
alignment): clips with captions, from `shapes:motion:<split>` or a manifest with `video` and
`caption` columns, and models of the task's own kind (no fusion strategy to choose)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

from ..core.errors import InputError
from ..data.manifest import read_manifest
from ..data.world import parse_spec, shapes
from .base import TrainableTask, VideoAugmentOptions

CAPTION_TOKENS = 96      # a motion clip's caption: 50-odd tokens, at times 64 and more (3 objects, many hits)


@dataclass
class ClipCaptionExample:
    video: object                          # uint8 [T, H, W, 3] array, a Video or a path
    captions: list[str] = field(default_factory=list)


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    if spec.startswith("shapes:"):
        preset, split = parse_spec(spec)
        if preset != "motion":
            raise InputError(f"{spec}: captions of clips come from the motion preset (shapes:motion:<split>)")
        return [ClipCaptionExample(c.frames, [c.caption]) for c in shapes(preset, split, seed, n)], None
    required = ("video", "caption") if need_answers else ("video",)
    manifest = read_manifest(spec, required, columns, on_bad_rows, decode_files=True)
    grouped: dict[str, list[str]] = defaultdict(list)
    for r in manifest.rows:
        captions = grouped[r["video"]]
        if r.get("caption") and r["caption"] not in captions:
            captions.append(r["caption"])
    return [ClipCaptionExample(path, captions) for path, captions in grouped.items()], manifest


class ClipTextTask(TrainableTask):
    default_data = "shapes:motion:train"
    chooses_fusion = False
    Options = VideoAugmentOptions

    def augmented(self, ex: ClipCaptionExample, rng) -> ClipCaptionExample:
        video, _ = self.options.through_codec(ex.video, None, rng)
        return ex if video is ex.video else replace(ex, video=video)

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers)

    def vocabulary(self, examples):
        return [c for ex in examples for c in ex.captions], []
