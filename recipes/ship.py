"""Ship a trained run as a package model: copy its weights and config into
src/polymodal/shipped/NAME/ and write the model card, metrics and golden answers from
measurements made here, on test data of seeds that training never used (training: seed 1).

    python recipes/ship.py runs/vqa-sort-of-clevr vqa-sort-of-clevr --recipe recipes/vqa-sort-of-clevr.yaml
    python recipes/ship.py runs/caption-shapes caption-shapes --recipe recipes/caption-shapes.yaml
    python recipes/ship.py --remeasure generate-shapes     # measure a shipped model again
"""
import argparse
import dataclasses
import json
import platform
import re
import shutil
import sys
import time
from pathlib import Path

import torch

from polymodal.core import files
from polymodal.data.scene_parser import parse
from polymodal.data.shapes_preset import EXTRA_SHAPES, parse_caption
from polymodal.loading import load_model
from polymodal.models.aligner import Aligner
from polymodal.models.diffusion import GUIDANCE
from polymodal.systems.compare import flat, run_system
from polymodal.systems.definition import load_system
from polymodal.tasks import (
    align,
    caption,
    classify,
    edit,
    few_shot,
    generate,
    ground,
    speak,
    text_qa,
    transcribe,
    video_align,
    video_caption,
    video_qa,
    vqa,
)
from polymodal.tasks.metrics.answers import answer_metrics
from polymodal.tasks.metrics.edit import edit_metrics
from polymodal.tasks.metrics.generate import prompt_accuracy

TEST_SEED = 7            # the seed of every test measurement below
GOLDEN_SEED = 11         # the few items whose outputs the golden test pins
SHIPPING_FROM = None     # the run's model folder (a system that uses the model is measured too)


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - started


def pct(v: float) -> str:
    return f"{100 * v:.1f}%"


# -- per task: (metrics, card table rows, the command that measures it, golden outputs, speed) --------------------
def measure_vqa(model, preset: str) -> tuple:
    """Typed questions; for a model that also hears them, the same questions spoken in test
    voices never heard in training, and both at once."""
    spoken = "audio" in model.modalities
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:test", TEST_SEED, 200, spoken=spoken)
    m, seconds = timed(vqa.VQATask().evaluate, model, examples, 64, ask_by="text" if spoken else None)
    rows = [("accuracy", pct(m["accuracy"])), ("relational", pct(m["relational_accuracy"])),
            ("non-relational", pct(m["non_relational_accuracy"]))] + [(k, pct(v)) for k, v in m["per_type"].items()]
    golden_examples, _ = vqa.load_examples("shapes:sort-of-clevr:test", GOLDEN_SEED, 5, spoken=spoken)
    _, answers, _ = vqa.predict(model, golden_examples)
    golden = {"data": f"shapes:sort-of-clevr:test seed {GOLDEN_SEED} n 5", "answers": answers}
    command = f"polymodal eval vqa --data shapes:sort-of-clevr:test --seed {TEST_SEED} --n 200 --json"
    if spoken:
        rows = [(f"typed: {k}", v) for k, v in rows]
        for ask_by in ("speech", "both"):
            m[ask_by] = vqa.VQATask().evaluate(model, examples, 64, ask_by=ask_by)
            rows += [(f"{ask_by}: {k}", pct(m[ask_by][key])) for k, key in (
                ("accuracy", "accuracy"), ("relational", "relational_accuracy"),
                ("non-relational", "non_relational_accuracy"))]
        golden["spoken_answers"] = vqa.predict(model, golden_examples, ask_by="speech")[1]
        command += " [--ask-by speech|both]"
    return m, rows, command, golden, f"{m['questions'] / seconds:.0f} questions/s (batches of 64 images)"


def measure_caption(model, preset: str) -> tuple:
    out, rows = {}, []
    splits = ("test", "compositional") if preset == "shapes" else ("test",)
    for split in splits:
        examples, _ = caption.CaptionTask().load_examples(f"shapes:{preset}:{split}", TEST_SEED, 500)
        m, seconds = timed(caption.CaptionTask().evaluate, model, examples, 64)
        out[split] = m
        rows += [(f"{split}: fact F1", f"{m['fact_f1']:.3f}")] if "fact_f1" in m else []
        rows += [(f"{split}: BLEU-4", f"{m['bleu4']:.3f}"), (f"{split}: CIDEr", f"{m['cider']:.2f}"),
                 (f"{split}: exact captions", pct(m["exact_match"]))]
    spec = f"shapes:{preset}:test"
    golden_examples, _ = caption.CaptionTask().load_examples(spec, GOLDEN_SEED, 10)
    golden = {"data": f"{spec} seed {GOLDEN_SEED} n 10", "spec": spec,
              "captions": [c.text for c in caption.caption_images(model, golden_examples)]}
    command = f"polymodal eval caption --data shapes:{preset}:{'|'.join(splits)} --seed {TEST_SEED} --n 500 --json"
    return out, rows, command, golden, f"{500 / seconds:.0f} images/s, greedy decoding"


def measure_align(model, preset: str) -> tuple:
    out, rows = {}, []
    examples, _ = align.AlignTask().load_examples("shapes:shapes:test", TEST_SEED, 1000)
    out["retrieve"], seconds = timed(align.retrieval_metrics, model, examples)
    rows += [(f"retrieval, {k.replace('_', ' ')}", pct(v)) for k, v in out["retrieve"].items() if k != "gallery"]
    for split in ("test", "compositional"):
        examples, _ = align.AlignTask().load_examples(f"shapes:shapes:{split}", TEST_SEED, 1000)
        out[f"zero-shot {split}"] = align.zero_shot_metrics(model, examples)
        rows.append((f"zero-shot presence, {split}", pct(out[f"zero-shot {split}"]["zero_shot_presence"])))
    shots = few_shot.few_shot_images(TEST_SEED, 200)
    out["few-shot"] = few_shot.few_shot_metrics(model, shots, shots=5, episodes=20, seed=TEST_SEED)
    rows += [("few-shot, 5 per class, 5 shapes", pct(out["few-shot"]["few_shot_accuracy"]))]
    if isinstance(model, Aligner) and model.config.factors:     # shape classes: colour and place contracted out
        invariant = ("colour", "place")
        out["few-shot invariant"] = few_shot.few_shot_metrics(model, shots, shots=5, episodes=20, seed=TEST_SEED,
                                                           invariances=invariant)
        rows += [("few-shot, `--invariant colour,place`", pct(out["few-shot invariant"]["few_shot_accuracy"]))]
    per_class = "few-shot invariant" if "few-shot invariant" in out else "few-shot"
    rows += [(f"{per_class}: {c}{' (never in training)' if c in EXTRA_SHAPES else ''}", pct(v))
             for c, v in out[per_class]["per_label"].items()]
    golden_examples, _ = align.AlignTask().load_examples("shapes:shapes:test", GOLDEN_SEED, 10)
    emb = align.embed_images(model, [ex.image for ex in golden_examples])
    best = align.zero_shot_scores(model, emb, align.PAIR_LABELS).argmax(-1).tolist()
    golden = {"data": f"shapes:shapes:test seed {GOLDEN_SEED} n 10", "zero_shot": [align.PAIR_LABELS[b] for b in best]}
    command = (f"polymodal eval retrieve|zero-shot --data shapes:shapes:test --seed {TEST_SEED} --n 1000 --json; "
               f"polymodal eval few-shot --data shapes:shapes:test --seed {TEST_SEED} --n 1000 "
               f"[--invariant colour,place] --json")
    return out, rows, command, golden, f"{1000 / seconds:.0f} images/s embedded and searched"


def measure_ground(model, preset: str) -> tuple:
    examples, _ = ground.load_examples("shapes:shapes:test", TEST_SEED, 500)
    m, seconds = timed(ground.GroundTask().evaluate, model, examples)
    rows = [("Acc@IoU>=0.5, all phrases", pct(m["accuracy_iou50"])), ("mean IoU", f"{m['mean_iou']:.3f}")]
    rows += [(f"Acc@IoU>=0.5, {k.split('_')[0]} phrases", pct(v)) for k, v in m.items() if k.endswith("_accuracy_iou50")]
    golden_examples, _ = ground.load_examples("shapes:shapes:test", GOLDEN_SEED, 5)
    golden = {"data": f"shapes:shapes:test seed {GOLDEN_SEED} n 5",
              "boxes": [g.box for g in ground.locate(model, golden_examples)]}
    command = f"polymodal eval ground --data shapes:shapes:test --seed {TEST_SEED} --n 500 --json"
    return m, rows, command, golden, f"{m['phrases'] / seconds:.0f} phrases/s"


def measure_transcribe(model, preset: str) -> tuple:
    """Test voices never heard in training, clean and with white noise at 10 dB SNR, and
    pocketsphinx (with the world's grammar) on the same clean utterances."""
    out, rows = {}, []
    for label, snr in (("clean", None), ("noise 10 dB", 10.0)):
        examples, _ = transcribe.load_examples("spoken:test", TEST_SEED, 500, noise_snr=snr)
        m, seconds = timed(transcribe.TranscribeTask().evaluate, model, examples, 32)
        out[label] = m
        rows += [(f"{label}: WER", pct(m["wer"])), (f"{label}: CER", pct(m["cer"]))]
        rows += [(f"{label}: WER, {k[4:]}s", pct(v)) for k, v in m.items() if k.startswith("wer_")]
        if snr is None:
            utterances_per_s = len(examples) / seconds
            baseline = transcribe.TranscribeTask().evaluate(load_model("pocketsphinx", task="transcribe"), examples)
            out["pocketsphinx_clean"] = baseline
            rows.append(("pocketsphinx (world grammar), clean: WER", pct(baseline["wer"])))
    golden_examples, _ = transcribe.load_examples("spoken:test", GOLDEN_SEED, 5)
    golden = {"data": f"spoken:test seed {GOLDEN_SEED} n 5", "spec": "spoken:test",
              "transcripts": [t.text for t in transcribe.transcribe(model, golden_examples)]}
    command = (f"polymodal eval transcribe --data spoken:test --seed {TEST_SEED} --n 500 [--noise-snr 10] "
               f"[--model pocketsphinx] --json")
    return out, rows, command, golden, f"{utterances_per_s:.0f} utterances/s"


def measure_speak(model, preset: str) -> tuple:
    """Intelligibility: the shipped recogniser's WER on the synthesised test sentences, beside
    the teacher voice (eSpeak NG) through the same recogniser; and the teacher-forced mel error."""
    recognizer = load_model("asr-spoken-world", task="transcribe")
    texts = [ex.text for ex in speak.load_examples("spoken:test", TEST_SEED, 500)[0]]
    out, seconds = timed(speak.round_trip, model, recognizer, texts)
    seen = {ex.text for ex in speak.load_examples("spoken:train", 1, 8000)[0]}       # the recipe's data
    out["not_in_training"] = speak.round_trip(model, recognizer, [t for t in texts if t not in seen])
    out["teacher_voice"] = speak.round_trip(load_model("espeak", task="speak"), recognizer, texts)
    examples = [speak.TextExample(t) for t in texts[:200]]
    out["teacher_forced"] = speak.SpeakTask().evaluate(model, examples)
    rows = [("round-trip WER (asr-spoken-world)", pct(out["wer"])), ("round-trip CER", pct(out["cer"])),
            ("sentences heard exactly", pct(out["exact"])),
            (f"round-trip WER, the {out['not_in_training']['texts']} sentences not in the training data",
             pct(out["not_in_training"]["wer"])),
            (f"eSpeak NG ({model.config.teacher_voice}): round-trip WER", pct(out["teacher_voice"]["wer"])),
            ("teacher-forced mel L1 (log power), 200 sentences", f"{out['teacher_forced']['mel_l1']:.3f}"),
            ("duration error, frames per phoneme", f"{out['teacher_forced']['duration_error']:.2f}")]
    golden_texts = [ex.text for ex in speak.load_examples("spoken:test", GOLDEN_SEED, 5)[0]]
    heard = transcribe.transcribe(recognizer, [transcribe.SpeechExample(a, t) for a, t in
                                          zip(model.speak_texts(golden_texts), golden_texts)])
    golden = {"data": f"spoken:test seed {GOLDEN_SEED} n 5", "texts": golden_texts, "heard": [h.text for h in heard]}
    command = f"polymodal eval speak --data spoken:test --seed {TEST_SEED} --n 500 --model NAME --recognizer asr-spoken-world --json"
    return out, rows, command, golden, f"{len(texts) / seconds:.1f} sentences/s, synthesis with Griffin-Lim and recognition"


def measure_generate(model, preset: str) -> tuple:
    """Prompt accuracy on test prompts (by number of objects) and on compositional ones (pairs
    never drawn in training), KID to rendered scenes, edits judged by reading both images,
    and time per image."""
    settings = {"steps": 20, "guidance": GUIDANCE, "scheduler": "ddim"}
    out, rows = {}, []
    for split, n in (("test", 500), ("compositional", 200)):
        examples, _ = generate.load_examples(f"shapes:shapes:{split}", TEST_SEED, n)
        prompts = [ex.prompt for ex in examples]
        images = generate.draw(model, prompts, 0, settings["steps"], settings["guidance"],       # noise seed 0,
                               settings["scheduler"], 32)                                       # as `eval` draws
        m = {**prompt_accuracy(prompts, images), "kid": generate.kid_to_rendered(images, [ex.image for ex in examples])}
        sizes = [len(parse_caption(prompt).objects) for prompt in prompts]
        for label, keep in (("1-2 objects", lambda k: k <= 2), ("3-4 objects", lambda k: k >= 3)):
            picked = [i for i, k in enumerate(sizes) if keep(k)]
            m[label] = prompt_accuracy([prompts[i] for i in picked], [images[i] for i in picked])["prompt_accuracy"]
        out[split] = m
        rows += [(f"{split}: prompt accuracy, all {n}", pct(m["prompt_accuracy"]))]
        rows += [(f"{split}: prompt accuracy, {label}", pct(m[label])) for label in ("1-2 objects", "3-4 objects")]
        rows.append((f"{split}: KID to rendered scenes (align-shapes embeddings)", f"{m['kid']:.4f}"))
    edits = edit.edit_examples("test", TEST_SEED, 100)
    grounder = load_model(task="ground")
    results = [edit.edit(model, grounder, ex.image, ex.instruction, i, **settings) for i, ex in enumerate(edits)]
    out["edit"] = edit_metrics([ex.image for ex in edits], results, [edit.parse_instruction(ex.instruction) for ex in edits])
    rows += [("edits (100, test): change achieved", pct(out["edit"]["change_achieved"])),
             ("edits: other objects preserved", pct(out["edit"]["others_preserved"]))]
    prompts = [ex.prompt for ex in generate.load_examples("shapes:shapes:test", GOLDEN_SEED, 16)[0]]
    _, one = timed(generate.draw, model, prompts[:1], 0, **settings)
    _, sixteen = timed(generate.draw, model, prompts, 0, **settings, batch_size=16)
    golden_prompts = prompts[:4]
    golden = {"data": f"shapes:shapes:test seed {GOLDEN_SEED}", "prompts": golden_prompts, **settings,
              "objects": [sorted(o.name for o in parse(im)) for im in generate.draw(model, golden_prompts, 0, **settings)]}
    command = (f"polymodal eval generate --data shapes:shapes:test|compositional --seed {TEST_SEED} --n 500|200 "
               f"--steps 20 --json; polymodal eval edit --data shapes:shapes:test --seed {TEST_SEED} --n 100 "
               f"--steps 20 --json")
    return out, rows, command, golden, (f"{one:.2f} s for one image, {sixteen / 16:.2f} s per image in a batch of 16 "
                                        f"(DDIM, 20 steps, guidance {GUIDANCE:g})")


# preset -> (the system this text answerer is the last step of, what reads the image first)
TEXT_QA_SYSTEMS = {"signs": ("read-and-answer", "RapidOCR", 100), "sort-of-clevr": ("vqa-by-caption", "caption-sort-of-clevr", 200)}


def measure_text_qa(model, preset: str) -> tuple:
    """The model on true texts (transcripts or captions), and the system that reads them off
    the image first (OCR or a captioner) with this model as its last step."""
    spec = f"shapes:{preset}:test"
    examples, _ = text_qa.load_examples(spec, TEST_SEED, 200)
    m, seconds = timed(text_qa.TextQATask().evaluate, model, examples, 256)
    truth = "transcripts" if preset == "signs" else "captions"
    rows = [(f"accuracy, true {truth}", pct(m["accuracy"]))] + [(f"  {k}", pct(v)) for k, v in m["per_type"].items()]
    out = {f"true_{truth}": m}
    system_name, reader, n = TEXT_QA_SYSTEMS[preset]
    system = load_system(system_name, {"answer-from-text": str(SHIPPING_FROM)})
    scenes, _ = vqa.load_examples(spec, TEST_SEED, n)
    answers, _ = run_system(system, scenes, latency=False)
    key = system_name.replace("-", "_")
    out[key] = answer_metrics([q for _, q in flat(scenes)], answers.answers)
    rows.append((f"{system_name} system ({reader} -> this model), {n} scenes", pct(out[key]["accuracy"])))
    golden_examples, _ = text_qa.load_examples(spec, GOLDEN_SEED, 2)
    golden = {"data": f"{spec} seed {GOLDEN_SEED} n 2", "spec": spec,
              "answers": classify.predict(model, golden_examples)[0]}
    command = (f"polymodal eval text-qa --data {spec} --seed {TEST_SEED} --n 200 --json; polymodal eval "
               f"vqa --system {system_name} --data {spec} --seed {TEST_SEED} --n {n} --json")
    return out, rows, command, golden, f"{m['items'] / seconds:.0f} questions/s"


def measure_vlm(model, preset: str) -> tuple:
    """Each preset's test scenes asked by the prompts the vlm was taught, scored as the task
    models are; the dialogues turn by turn; few-shot with codes training never wrote."""
    from polymodal.tasks import vlm
    m, seconds = {}, 0.0
    for spec, n in (("shapes:sort-of-clevr:test", 200), ("shapes:shapes:test", 500), ("shapes:signs:test", 500)):
        examples = vlm.load_examples(spec, TEST_SEED, n)
        found, took = timed(vlm.VLMTask().evaluate, model, examples)
        m.update({k: v for k, v in found.items() if k not in ("scenes", "mean_words_written")})
        seconds += took
    clevr = vlm.load_examples("shapes:sort-of-clevr:test", TEST_SEED, 100)
    m["few_shot"] = {k: vlm.few_shot_accuracy(model, clevr, k, seed=TEST_SEED) for k in (0, 4)}
    rows = [("VQA accuracy (exact match of the written answer)", pct(m["accuracy"])),
            ("VQA relational", pct(m["relational_accuracy"])), ("VQA non-relational", pct(m["non_relational_accuracy"]))]
    rows += [(f"VQA {k}", pct(v)) for k, v in m["per_type"].items()]
    rows += [("caption fact F1", f"{m['caption_fact_f1']:.3f}"), ("caption BLEU-4", f"{m['caption_bleu4']:.3f}"),
             ("caption exact", pct(m["caption_exact_match"])),
             ("grounding Acc@IoU>=0.5, attribute phrases", pct(m["ground_attribute_accuracy_iou50"])),
             ("grounding Acc@IoU>=0.5, relational phrases", pct(m["ground_relational_accuracy_iou50"])),
             ("signs: words read right", pct(m["read_words_right"])), ("signs: WER", f"{m['read_wer']:.3f}"),
             ("two-turn dialogues: follow-up right (chat accuracy)", pct(m["chat_accuracy"])),
             ("two-turn dialogues: opener right", pct(m["chat_first_turn_accuracy"])),
             ("few-shot codes never trained, 0 examples", pct(m["few_shot"][0])),
             ("few-shot codes never trained, 4 examples", pct(m["few_shot"][4]))]
    golden = {"data": f"vlm:test seed {GOLDEN_SEED} n 6"}
    golden_examples = vlm.load_examples("vlm:test", GOLDEN_SEED, 6)
    golden["written"] = vlm.answers(model, golden_examples)
    command = (f"polymodal eval vlm --data shapes:<preset>:test --seed {TEST_SEED} --n 200 (sort-of-clevr) / 500 "
               f"(shapes, signs) --json; python benchmarks/vlm_chat.py")
    prompts = (m["questions"] + m["caption_images"] + m["ground_phrases"] + m["read_utterances"]
               + 2 * m["chat_dialogues"])
    return m, rows, command, golden, f"about {prompts / max(seconds, 1e-9):.0f} prompts/s over all the test prompts"


def measure_video_qa(model, preset: str) -> tuple:
    """The motion test clips and the compositional ones (colour+shape pairs training never
    showed); for a model that hears, the test clips again with their sound muted."""
    out, rows = {}, []
    test, _ = video_qa.load_examples("shapes:motion:test", TEST_SEED, 500)
    compositional, _ = video_qa.load_examples("shapes:motion:compositional", TEST_SEED, 500)
    splits = {"test": test, "compositional": compositional}
    if "audio" in model.encoders:
        splits["test, sound muted"] = [dataclasses.replace(ex, sound=None) for ex in test]
    for label, examples in splits.items():
        m, seconds = timed(video_qa.VideoQATask().evaluate, model, examples, 32)
        out[label] = m
        if label == "test":
            speed = f"{m['questions'] / seconds:.0f} questions/s ({len(examples)} clips, batches of 32)"
        rows += [(f"{label}: accuracy", pct(m["accuracy"])), (f"{label}: temporal questions", pct(m["temporal_accuracy"])),
                 (f"{label}: controls (colour, shape)", pct(m["non_temporal_accuracy"]))]
        rows += [(f"{label}: {k}", pct(v)) for k, v in m["per_type"].items()]
    golden_examples, _ = video_qa.load_examples("shapes:motion:test", GOLDEN_SEED, 3)
    _, answers, _ = video_qa.predict(model, golden_examples)
    golden = {"data": f"shapes:motion:test seed {GOLDEN_SEED} n 3", "answers": answers}
    command = f"polymodal eval video-qa --data shapes:motion:test|compositional --seed {TEST_SEED} --n 500 --json"
    return out, rows, command, golden, speed


def measure_video_caption(model, preset: str) -> tuple:
    out, rows = {}, []
    for split in ("test", "compositional"):
        examples, _ = video_caption.VideoCaptionTask().load_examples(f"shapes:motion:{split}", TEST_SEED, 500)
        m, seconds = timed(video_caption.VideoCaptionTask().evaluate, model, examples, 32)
        out[split] = m
        if split == "test":
            speed = f"{len(examples) / seconds:.0f} clips/s, greedy decoding (batches of 32)"
        rows += [(f"{split}: event fact F1", f"{m['fact_f1']:.3f}"),
                 (f"{split}: fact precision / recall", f"{m['fact_precision']:.3f} / {m['fact_recall']:.3f}"),
                 (f"{split}: events in the reference's order", pct(m.get("event_order", float("nan")))),
                 (f"{split}: BLEU-4", f"{m['bleu4']:.3f}"), (f"{split}: exact captions", pct(m["exact_match"]))]
    golden_examples, _ = video_caption.VideoCaptionTask().load_examples("shapes:motion:test", GOLDEN_SEED, 5)
    golden = {"data": f"shapes:motion:test seed {GOLDEN_SEED} n 5",
              "captions": [c.text for c in video_caption.caption_clips(model, golden_examples)]}
    command = f"polymodal eval video-caption --data shapes:motion:test|compositional --seed {TEST_SEED} --n 500 --json"
    return out, rows, command, golden, speed


def measure_video_align(model, preset: str) -> tuple:
    """Text-to-video and video-to-text retrieval over galleries of 1,000 clips."""
    out, rows = {}, []
    for split in ("test", "compositional"):
        examples, _ = video_align.VideoAlignTask().load_examples(f"shapes:motion:{split}", TEST_SEED, 1000)
        m, seconds = timed(video_align.retrieval, model, examples)
        out[split] = m
        if split == "test":
            speed = f"{len(examples) / seconds:.0f} clips/s embedded and searched"
        rows += [(f"{split} (1,000 clips): {k.replace('_', ' ')}", pct(v)) for k, v in m.items() if k != "gallery"]
    golden_examples, _ = video_align.VideoAlignTask().load_examples("shapes:motion:test", GOLDEN_SEED, 10)
    sims = video_align.embed_clips(model, [ex.video for ex in golden_examples]) @ \
        align.embed_texts(model, [ex.captions[0] for ex in golden_examples]).T
    golden = {"data": f"shapes:motion:test seed {GOLDEN_SEED} n 10", "best_clip": sims.argmax(0).tolist()}
    command = f"polymodal eval video-align --data shapes:motion:test|compositional --seed {TEST_SEED} --n 1000 --json"
    return out, rows, command, golden, speed


MEASURES = {"vlm": measure_vlm, "generate": measure_generate, "speak": measure_speak, "transcribe": measure_transcribe, "text-qa": measure_text_qa, "vqa": measure_vqa, "caption": measure_caption, "align": measure_align, "ground": measure_ground,
            "video-qa": measure_video_qa, "video-caption": measure_video_caption, "video-align": measure_video_align}
WHAT = {"video-caption": "Video captioning on the motion world: a 2-second clip (16 frames of 64x64) -> a sentence "
                         "of what happens in it, in order (which way each object moves, what hits what, what stops).",
        "video-align": "Video-text alignment on the motion world: clips and sentences of what happens in them in one "
                       "space, for text-to-video search and clip embeddings.",
        "video-qa": "Video question answering on the motion world: a 2-second clip (16 frames of 64x64 and its "
                    "sound) and an English question about what moves, which way, what collides and what stops "
                    "first -> an answer.",
        "vqa": "Visual question answering on sort-of-clevr: a 75x75 scene and an English question -> an answer.",
        "caption": "Image captioning on the shapes world: a 64x64 scene -> a sentence naming every object and how "
                   "each stands to the next.",
        "align": "Image-text alignment on the shapes world: images and texts in one space, for retrieval, zero-shot "
                 "and few-shot classification.",
        "ground": "Grounding on the shapes world: a 64x64 scene and a referring phrase -> the box of the object it "
                  "names.",
        "speak": "Speech synthesis for the spoken world: English text -> 16 kHz speech in one voice, learnt from "
                 "eSpeak NG's en-us+m1 (eSpeak's phonemes in, a transformer to log-mel frames with predicted "
                 "durations, Griffin-Lim to the waveform).",
        "transcribe": "Speech recognition on the spoken world: 16 kHz speech of the world's questions, captions, "
                      "phrases and answers -> text (log-mel features, a transformer encoder, CTC over characters).",
        ("caption", "sort-of-clevr"): "Image captioning on sort-of-clevr: a 75x75 scene -> each object with the "
                                      "ninth of the image it is in (\"red square top left, green circle centre, "
                                      "...\"); the first step of the vqa-by-caption system.",
        "generate": "Text-to-image generation on the shapes world: a prompt naming every object of a scene and "
                    "how each stands to the next -> a layout (where each object stands, planned from the prompt) "
                    "-> a 64x64 scene (latent diffusion: a UNet denoises the 16x16x4 latent of a frozen "
                    "autoencoder, reading the prompt and the layout, with classifier-free guidance); also edits "
                    "scenes by inpainting inside a grounded box.",
        "vlm": "A generative vision-language model of the embedded world: an image and a prompt (a question, "
               "\"caption\", \"locate: <phrase>\", \"read\", earlier turns of a chat, in-context examples) -> "
               "free-form text, one model for what the task models each do alone.",
        "text-qa": "Text question answering: a text (the words written on a sign, or a scene's caption) and a "
                   "question about it -> the answer; the last step of a system that reads the image first."}


LIMITS = {"default": "texts must use its words (an unknown word is\nrefused, not guessed).",
          "video-qa": "questions must use its words (an unknown word is\nrefused); any clip is sampled to 16 "
                      "frames of 64x64, so in a clip much longer than 2 seconds motion between the\nsampled frames "
                      "is lost; a clip without a sound track is heard as silence.",
          "video-caption": "any clip is sampled to 16 frames of 64x64, so in a clip\nmuch longer than 2 seconds "
                           "motion between the sampled frames is lost; it says only the motion world's words.",
          "video-align": "texts must use its words (an unknown word is refused);\nany clip is sampled to 16 "
                         "frames of 64x64.",
          "transcribe": "it knows the eSpeak NG voices of the spoken world, not\nhuman speech; it decodes into the world's words only (a beam search over its training\ntranscripts' words and word trigrams), so a word outside the world comes out as world words.",
          "speak": "its input is eSpeak NG's phonemes for the text, and a\nphoneme the world's sentences never used is refused (or read without its stress); one voice.",
          "generate": "prompts must be in the shapes grammar and use its words\n(an unknown word is refused); "
                      "at most 4 objects, and relations some layout can meet (else refused); 64x64 scenes only; "
                      "relations are read between object centres.",
          "text-qa": "a word it never saw (an OCR misreading, say) is read as\n<unk>, keeping its place."}


def card(name: str, task: str, preset: str, recipe: str, run: Path, model, rows, command: str, speed: str, history: str) -> str:
    log = json.loads((run / "metrics.json").read_text())
    last = log["evals"][-1] if log["evals"] else {}
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    config = json.loads((run / "model" / "config.json").read_text())
    parts = {k: v for k, v in config.items()            # settings, and short lists such as factors
             if k not in ("vocab", "labels", "kind", "task") and not isinstance(v, dict)
             and not (isinstance(v, list) and len(v) > 4)}
    encoders = {k: v["name"] for k, v in config.items() if isinstance(v, dict) and "name" in v}
    encoders.update({m: v["name"] for m, v in config.get("encoders", {}).items()})       # multimodal models
    return f"""# {name}

{WHAT.get((task, preset), WHAT[task])}

- **Model**: `{config.get("kind", "multimodal")}`, {model.num_parameters():,} parameters; encoders {encoders}; {parts}.
- **Data**: see `{recipe}` (generated scenes, training seed 1).
- **Training**: `polymodal train --recipe {recipe} --out runs/{name}`; {last.get("step", "?")} steps,
  {last.get("epoch", "?")} epochs, {last.get("elapsed_s", 0) / 60:.0f} minutes in training steps on an
  {platform.machine()} CPU.
- **Test**, seed {TEST_SEED} (never used in training): `{command}`

| metric | value |
|---|---|
{table}

Inference speed, measured by recipes/ship.py with {torch.get_num_threads()} CPU thread(s): {speed}.
{history}
Limits: trained only on the embedded world; {LIMITS.get(task, LIMITS["default"])}
"""


def remeasure(name: str) -> int:
    """Measure a shipped model again (after a change to how it is judged or sampled): its
    metrics.json, golden.json and the card's table, test command and speed line are rewritten;
    the weights and the rest of the card (the training history) stay as they are."""
    import yaml
    global SHIPPING_FROM
    root = Path(__file__).resolve().parents[1]
    target = root / "src" / "polymodal" / "shipped" / name
    preset = yaml.safe_load((root / "recipes" / f"{name}.yaml").read_text())["data"]["spec"].split(":")[1]
    SHIPPING_FROM = target
    model = load_model(target)
    metrics, rows, command, golden, speed = MEASURES[model.config.task](model, preset)
    card_text = (target / "README.md").read_text()
    head, _, rest = card_text.partition("| metric | value |\n|---|---|\n")
    _, _, tail = rest.partition("\n\n")
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    head = re.sub(r"^- \*\*Test\*\*, seed (\d+) \(never used in training\): `.*`$",
                  lambda m: f"- **Test**, seed {m.group(1)} (never used in training): `{command}`", head, flags=re.M)
    tail = re.sub(r"^Inference speed, measured by recipes/ship.py with \d+ CPU thread\(s\): .*\.$",
                  f"Inference speed, measured by recipes/ship.py with {torch.get_num_threads()} CPU thread(s): {speed}.",
                  tail, flags=re.M)
    (target / "README.md").write_text(f"{head}| metric | value |\n|---|---|\n{table}\n\n{tail}")
    (target / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (target / "golden.json").write_text(json.dumps(golden) + "\n")
    print(json.dumps(metrics, indent=2))
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--remeasure"]:
        return remeasure(sys.argv[2])
    parser = argparse.ArgumentParser(epilog="python recipes/ship.py --remeasure NAME: measure a shipped model again")
    parser.add_argument("run", type=Path)
    parser.add_argument("name")
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--history", default="", help="how the run went (interruptions, changes), for the card")
    parser.add_argument("--target", type=Path, help="default: src/polymodal/shipped/NAME")
    args = parser.parse_args()
    import yaml
    recipe = yaml.safe_load(Path(args.recipe).read_text())
    global SHIPPING_FROM
    target = args.target or Path(__file__).resolve().parents[1] / "src" / "polymodal" / "shipped" / args.name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(args.run / "model" / "config.json", target / "config.json")
    if recipe.get("ship_as") == "float16":      # to fit 10 MB; loaded back into float32, measured as stored
        tensors = files.load_tensors(args.run / "model" / "model.safetensors")
        files.save_tensors({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()},
                                target / "model.safetensors", metadata={"format": "polymodal", "stored": "float16"})
    else:
        shutil.copy2(args.run / "model" / "model.safetensors", target / "model.safetensors")
    SHIPPING_FROM = target
    model = load_model(SHIPPING_FROM)
    task = model.config.task
    preset = recipe["data"]["spec"].split(":")[1]
    metrics, rows, command, golden, speed = MEASURES[task](model, preset)
    history = f"\n## How this run went\n\n{args.history}\n" if args.history else ""
    (target / "README.md").write_text(card(args.name, task, preset, args.recipe, args.run, model, rows, command, speed, history))
    (target / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (target / "golden.json").write_text(json.dumps(golden) + "\n")
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
