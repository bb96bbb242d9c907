"""The demo report: the shipped models on a few generated scenes and clips, beside the truth, as HTML."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from ..data.motion_preset import AUDIO_RATE, FPS
from ..data.scene_parser import parse
from ..data.world import shapes
from ..inference.pipelines import load
from ..loading import load_model
from ..modalities import Audio, Video
from ..tasks.generate import draw, load_examples
from ..tasks.metrics.generate import check_prompt


def png_data_uri(array, scale: int = 3) -> str:
    image = PILImage.fromarray(array)
    image = image.resize((image.width * scale, image.height * scale), PILImage.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def vqa_section(seed: int, n: int) -> tuple[str, int, int]:
    scenes = shapes("sort-of-clevr", "test", seed, n)
    vqa = load("vqa")
    # 2 non-relational and 2 relational questions per scene, enough to see both kinds.
    picked = [(s, qa) for s in scenes for qa in s.questions[:2] + s.questions[10:12]]
    answers = vqa.batch([(s.image, qa.question) for s, qa in picked])
    right = sum(a.text == qa.answer for (_, qa), a in zip(picked, answers))
    cards = []
    for s in scenes:
        rows = "".join(
            f"<tr class={'ok' if a.text == qa.answer else 'bad'}><td>{html.escape(qa.question)}</td>"
            f"<td>{qa.answer}</td><td>{a.text} <small>({a.score:.2f})</small></td></tr>"
            for (scene, qa), a in zip(picked, answers) if scene is s)
        cards.append(f"<div class=card><img src='{png_data_uri(s.image)}'><table><tr><th>question</th>"
                     f"<th>truth</th><th>model</th></tr>{rows}</table></div>")
    section = (f"<h2>Visual question answering (sort-of-clevr, shipped model)</h2>"
               f"<p>{right} of {len(picked)} answers right.</p>{''.join(cards)}")
    return section, right, len(picked)


def video_qa_section(seed: int, n: int) -> tuple[str, int, int]:
    """The shipped video QA model on motion clips (with their sound), shown as GIFs."""
    clips = shapes("motion", "test", seed, n)
    videos = [Video(c.frames, np.arange(len(c.frames)) / FPS, FPS, c.duration, Audio(c.audio, AUDIO_RATE))
              for c in clips]
    # the temporal questions first (which way, what stops, what hits what), then one control
    picked = [(i, qa) for i, c in enumerate(clips)
              for qa in [q for q in c.questions if q.temporal][:3] + [q for q in c.questions if not q.temporal][:1]]
    answers = load("video-qa").batch([(videos[i], qa.question) for i, qa in picked])
    right = sum(a.text == qa.answer for (_, qa), a in zip(picked, answers))
    cards = []
    for i, clip in enumerate(clips):
        rows = "".join(
            f"<tr class={'ok' if a.text == qa.answer else 'bad'}><td>{html.escape(qa.question)}</td>"
            f"<td>{qa.answer}</td><td>{a.text} <small>({a.score:.2f})</small></td></tr>"
            for (j, qa), a in zip(picked, answers) if j == i)
        gif = "data:image/gif;base64," + base64.b64encode(videos[i].encoded(".gif")).decode()
        cards.append(f"<div class=card><figure><img src='{gif}' width=192><figcaption>"
                     f"{html.escape(clip.caption)}</figcaption></figure><table><tr><th>question</th><th>truth</th>"
                     f"<th>model</th></tr>{rows}</table></div>")
    section = (f"<h2>Video question answering (motion clips with their sound, shipped model)</h2>"
               f"<p>{right} of {len(picked)} answers right. Each clip plays at {FPS} frames a second; the sound "
               f"(a click at each collision) is not played here.</p>{''.join(cards)}")
    return section, right, len(picked)


def generate_section(seed: int, n: int) -> tuple[str, int, int]:
    """The shipped text-to-image model on test prompts, each image read back by the scene parser."""
    prompts = [ex.prompt for ex in load_examples("shapes:shapes:test", seed, n)[0]]
    images = draw(load_model(task="generate"), prompts, seed=0, steps=20)
    checks = [check_prompt(p, parse(im)) for p, im in zip(prompts, images)]
    cards = []
    for prompt, image, check in zip(prompts, images, checks):
        problems = "; ".join([f"missing {', '.join(check.missing)}"] * bool(check.missing)
                             + [f"extra {', '.join(check.extra)}"] * bool(check.extra)
                             + [f"wrong: {', '.join(check.wrong_relations)}"] * bool(check.wrong_relations))
        verdict = "meets the prompt" if check.correct else html.escape(problems)
        cards.append(f"<div class=card><img src='{png_data_uri(image)}'><table><tr><th>prompt</th><th>read back"
                     f"</th></tr><tr class={'ok' if check.correct else 'bad'}><td>{html.escape(prompt)}</td>"
                     f"<td>{verdict}</td></tr></table></div>")
    right = sum(c.correct for c in checks)
    section = (f"<h2>Text-to-image (shapes, shipped model; DDIM 20 steps, seed 0)</h2>"
               f"<p>{right} of {len(prompts)} images meet their prompt, as the scene parser reads them.</p>"
               f"{''.join(cards)}")
    return section, right, len(prompts)


STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px}.card{display:flex;gap:1em;
margin:1em 0;align-items:flex-start}td,th{padding:2px 8px;text-align:left}tr.ok td:last-child{color:#070}
tr.bad td:last-child{color:#b00;font-weight:bold}img{image-rendering:pixelated;border:1px solid #ccc}"""


def write_demo(out: Path, seed: int = 2026, n: int = 6) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    section, right, total = vqa_section(seed, n)
    clips, clips_right, clips_total = video_qa_section(seed, n)
    drawn, drawn_right, drawn_total = generate_section(seed, n)
    page = (f"<!doctype html><meta charset=utf-8><title>polymodal demo</title><style>{STYLE}</style>"
            f"<h1>polymodal demo</h1><p>Scenes, clips and prompts generated with seed {seed} (test split); every "
            f"output comes from a model shipped inside the package, offline.</p>{section}{clips}{drawn}")
    path = out / "report.html"
    path.write_text(page)
    print(f"VQA: {right}/{total} answers right on {n} generated scenes")
    print(f"video QA: {clips_right}/{clips_total} answers right on {n} generated clips")
    print(f"text-to-image: {drawn_right}/{drawn_total} drawn scenes meet their prompt")
    return path
