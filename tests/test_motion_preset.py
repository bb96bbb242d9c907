"""The `motion` preset: deterministic clips whose physics, questions, captions and clicks
agree with each other, exported as MP4s with a manifest."""
from __future__ import annotations

import json

import numpy as np
import pytest

from polymodal.data import motion_preset as motion
from polymodal.data import read_manifest, shapes
from polymodal.data.export import export_shapes
from polymodal.data.shapes_preset import COMPOSITIONAL_PAIRS
from polymodal.modalities import Video


def clips(split="train", seed=0, n=200):
    return shapes("motion", split, seed, n)


def test_clips_are_deterministic_and_splits_differ():
    a, b = clips(n=5), clips(n=5)
    assert all(np.array_equal(x.frames, y.frames) and x.caption == y.caption for x, y in zip(a, b))
    assert not np.array_equal(a[0].frames, clips("test", n=1)[0].frames)
    assert a[0].frames.shape == (motion.FRAMES, motion.SIZE, motion.SIZE, 3) and a[0].frames.dtype == np.uint8


def test_compositional_pairs_only_in_their_split():
    for clip in clips("train") + clips("test"):
        assert not any((m.colour, m.shape) in COMPOSITIONAL_PAIRS for m in clip.objects)
    assert all(any((m.colour, m.shape) in COMPOSITIONAL_PAIRS for m in c.objects) for c in clips("compositional"))


def test_objects_stay_inside_and_answers_follow_the_tracks():
    for clip in clips(n=300):
        halves = np.array([m.half for m in clip.objects])
        assert (clip.tracks >= halves[None, :, None] - 1e-6).all()
        assert (clip.tracks <= motion.SIZE - halves[None, :, None] + 1e-6).all()
        steps = np.diff(clip.tracks, axis=0)                  # [frames - 1, objects, 2]
        for q in clip.questions:
            i = next((k for k, m in enumerate(clip.objects) if f"the {m.name} " in q.question + " "), None)
            if q.family == "direction":
                dx, dy = steps[0, i]                           # it moves from the first frame
                want = ("right" if dx > 0 else "left") if abs(dx) >= abs(dy) else ("down" if dy > 0 else "up")
                assert q.answer == want
            if q.family == "moves":
                assert q.answer == ("yes" if np.abs(steps[:, i]).sum() > 0 else "no")
            if q.family == "count moving":
                assert int(q.answer) == int((np.abs(steps).sum(axis=(0, 2)) > 0).sum())
            if q.family == "count collisions":
                assert int(q.answer) == clip.caption.count(" hits ")


def test_a_head_on_hit_stops_the_mover_and_sets_the_other_going():
    movers = [motion.Mover("red", "circle", 5, 10.0, 32.0, 2.0, 0.0), motion.Mover("blue", "square", 5, 40.0, 32.0, 0, 0)]
    tracks, first, events = motion.simulate(movers)
    hit = next(e for e in events if e.kind == "hit")
    assert (hit.a, hit.b) == (0, 1) and first == ["right", "right"]
    assert any(e.kind == "stop" and e.a == 0 and e.frame == hit.frame for e in events)
    assert tracks[-1, 0, 0] == pytest.approx(tracks[hit.frame, 0, 0])          # red stays where it hit
    assert tracks[-1, 1, 0] > tracks[hit.frame, 1, 0]                             # blue slides on
    gap = tracks[hit.frame, 1, 0] - tracks[hit.frame, 0, 0]
    assert gap == pytest.approx(10.0)                                             # drawn touching
    assert motion.describe(movers, first, events).startswith(
        "the red circle moves right, the blue square stays still, the red circle hits the blue square")


def test_each_collision_clicks_once_and_only_collisions_click():
    for clip in clips(n=60):
        loud = np.flatnonzero(np.abs(clip.audio) > 0.05)
        onsets = [t for k, t in enumerate(loud) if k == 0 or t - loud[k - 1] > 0.03 * motion.AUDIO_RATE]
        frames = sorted({e.frame for e in clip.events if e.kind == "hit"})
        assert len(onsets) == len(frames)
        assert [int(round(o / motion.AUDIO_RATE * motion.FPS)) for o in onsets] == frames


def test_questions_cover_every_family_in_useful_balance():
    answers: dict[str, list[str]] = {}
    for clip in clips(n=400):
        for q in clip.questions:
            answers.setdefault(q.family, []).append(q.answer)
    assert set(answers) == {"direction", "moves", "shape", "colour", "count moving", "count collisions", "collide",
                            "stops first"}
    assert set(answers["direction"]) == set(motion.DIRECTIONS)
    for family in ("collide", "moves"):                     # neither answer is rare
        assert 0.2 < answers[family].count("yes") / len(answers[family]) < 0.85
    words = set(motion.grammar_words())
    for clip in clips(n=50):
        assert set(clip.caption.replace(",", "").split()) <= words
        assert all(set(q.question.rstrip("?").split()) <= words and q.answer in words for q in clip.questions)


def test_export_writes_clips_with_sound_and_a_manifest(tmp_path):
    manifest = export_shapes("motion", "test", 7, 3, tmp_path)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert {r["video"] for r in rows} == {f"videos/test-7-{i:06d}.mp4" for i in range(3)}
    clip = clips("test", 7, 1)[0]
    video = Video.open(tmp_path / rows[0]["video"])
    assert len(video) == motion.FRAMES and video.fps == motion.FPS and video.audio is not None
    assert np.abs(video.frames.astype(int) - clip.frames).mean() < 2      # near-lossless
    assert [r["question"] for r in rows[:len(clip.questions)]] == [q.question for q in clip.questions]
    read = read_manifest(manifest, ["video", "question", "answer"])
    assert len(read) == len(rows) and read.rows[0]["video"] == str(tmp_path / rows[0]["video"])
