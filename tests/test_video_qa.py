"""Video question answering: generated clips and manifests of MP4s, a model that hears the
sound track, trained through the real trainer, scored per question family."""
from __future__ import annotations

import numpy as np
import pytest

from polymodal.core.errors import InputError
from polymodal.data.export import export_shapes
from polymodal.models.multimodal import MultimodalModel
from polymodal.tasks.registry import TASKS
from polymodal.tasks.video_qa import make_batch, video_answer_metrics
from polymodal.tasks.vqa import Question
from polymodal.training import run as training_run

TINY_FRAMES = {"name": "frames", "config": {"frames": 8, "dim": 16, "channels": [8, 16], "strides": [2, 2],
                                            "image_size": 32, "layers": 1, "heads": 2}}
TINY_TEXT = {"name": "transformer", "config": {"dim": 16, "layers": 1, "heads": 2}}


def recipe(audio: bool = False, temporal: str = "hybrid") -> dict:
    encoders = {"video": {**TINY_FRAMES, "config": {**TINY_FRAMES["config"], "temporal": temporal}},
                "text": TINY_TEXT}
    if audio:
        encoders["audio"] = {"name": "logmel", "config": {"dim": 16, "layers": 1, "heads": 2, "n_mels": 16}}
    return {"task": "video-qa", "data": {"spec": "shapes:motion:train", "seed": 3, "n": 24},
            "val": {"spec": "shapes:motion:val", "seed": 3, "n": 8},
            "model": {"encoders": encoders, "fusion": "hybrid:cross-attention", "fusion_config": {"query": "text"},
                      "hidden": 16},
            "train": {"epochs": 2, "batch_size": 8, "lr": 3e-3, "warmup_steps": 2, "checkpoint_every": 10 ** 6},
            "task_options": {"audio": audio, "questions_per_clip": 6}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("video-qa")
    result = training_run.run(recipe(audio=True), out)
    return out / "model", result


def test_training_scores_every_family(trained):
    _, result = trained
    assert result["step"] == 6 and 0 <= result["accuracy"] <= 1
    assert {"temporal_accuracy", "non_temporal_accuracy", "per_type_direction", "per_type_collide"} <= set(result)


def test_a_model_that_hears_gets_the_clip_sound(trained, tmp_path):
    model = MultimodalModel.from_pretrained(trained[0])
    assert set(model.modalities) == {"video", "text", "audio"}
    task = TASKS.build("video-qa")
    generated, _ = task.load_examples("shapes:motion:test", 7, 2)
    manifest = export_shapes("motion", "test", 7, 2, tmp_path)
    from_files, _ = task.load_examples(str(manifest))
    for examples in (generated, from_files):
        batch, questions = make_batch(model, examples)
        assert batch["video"].shape[:3] == (2, 8, 3) and len(questions) == len(batch["text"]["input_ids"])
        assert len(batch["audio_index"]) == len(questions)
    metrics = task.evaluate(model, from_files)
    assert metrics["questions"] == sum(len(ex.questions) for ex in generated)
    # the same clips from arrays and from MP4s get near the same answers
    same = task.evaluate(model, generated)
    assert abs(same["accuracy"] - metrics["accuracy"]) <= 0.2


def test_a_clip_without_sound_is_heard_as_silence(trained, tmp_path):
    from polymodal.modalities import Video
    model = MultimodalModel.from_pretrained(trained[0])
    Video.open(np.zeros((8, 32, 32, 3), np.uint8), rate=8).save(tmp_path / "quiet.mp4")
    (tmp_path / "m.jsonl").write_text('{"video": "quiet.mp4", "question": "does the red circle move?", '
                                      '"answer": "no"}\n')
    examples, _ = TASKS.build("video-qa").load_examples(str(tmp_path / "m.jsonl"))
    batch, _ = make_batch(model, examples)
    assert batch["audio"] is not None


def test_late_and_early_fusion_models_train_too(tmp_path):
    for temporal in ("late", "early"):
        spec = recipe(temporal=temporal)
        spec["model"]["encoders"]["video"]["config"]["tubelet"] = 2
        result = training_run.run(spec, tmp_path / temporal)
        assert result["step"] == 6
        assert MultimodalModel.from_pretrained(tmp_path / temporal / "model").encoders["video"].config["temporal"] == temporal


def test_metrics_split_temporal_questions_from_controls():
    qs = [Question("which way", "left", "direction", None, True), Question("which way", "up", "direction", None, True),
          Question("what shape", "circle", "shape", None, False)]
    m = video_answer_metrics(qs, ["left", "down", "circle"])
    assert m["accuracy"] == pytest.approx(2 / 3) and m["temporal_accuracy"] == 0.5
    assert m["non_temporal_accuracy"] == 1.0 and m["per_type"] == {"direction": 0.5, "shape": 1.0}


def test_only_motion_clips_make_video_questions():
    with pytest.raises(InputError, match="motion preset"):
        TASKS.build("video-qa").load_examples("shapes:sort-of-clevr:train", 0, 2)


def test_ask_about_clips_from_the_command_line(trained, tmp_path, capsys):
    from polymodal.cli.main import main
    model = str(trained[0])
    manifest = export_shapes("motion", "test", 7, 2, tmp_path)
    clip = tmp_path / "videos" / "test-7-000000.mp4"
    labels = MultimodalModel.from_pretrained(trained[0]).config.labels
    assert main(["ask", str(clip), "does the red circle move?", "--model", model]) == 0
    assert capsys.readouterr().out.strip() in labels
    assert main(["ask", str(tmp_path / "videos"), "how many objects move?", "--model", model]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["ask", "--data", str(manifest), "--model", model, "--json"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == len(manifest.read_text().splitlines()) and '"video"' in rows[0]
    (tmp_path / "mixed.txt").write_text(f"{clip}\nscene.png\n")
    from polymodal.modalities import Image
    Image.open(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "scene.png")
    assert main(["ask", str(tmp_path / "mixed.txt"), "what?", "--model", model]) == 2
    assert "not both" in capsys.readouterr().err


def test_the_temporal_fusion_table_runs_end_to_end(tmp_path, capsys):
    from polymodal.cli.main import main
    assert main(["compare-fusion", "--data", "shapes:motion", "--fusions", "late,early+audio", "--n", "32", "--steps",
                 "1", "--test-n", "2", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")]) == 2
    assert "early+audio" in capsys.readouterr().err                  # not a row of the table
    assert main(["compare-fusion", "--data", "shapes:motion", "--fusions", "late,hybrid+audio", "--n", "32", "--steps",
                 "1", "--test-n", "2", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")]) == 0
    table = (tmp_path / "out" / "temporal_fusion.md").read_text()
    assert "| `late` |" in table and "| `hybrid+audio` |" in table and "| answer priors |" in table
    assert (tmp_path / "out" / "temporal_fusion.png").stat().st_size > 0
    capsys.readouterr()
    assert main(["compare-fusion", "--data", "shapes:motion", "--fusions", "late,hybrid+audio", "--n", "32", "--steps",
                 "1", "--test-n", "2", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")]) == 0
    assert capsys.readouterr().out.count("trained before") == 2      # the same recipes: evaluated, not retrained
    assert main(["compare-fusion", "--data", "shapes:motion", "--fusions", "late", "--n", "32", "--steps",
                 "2", "--test-n", "2", "--out", str(tmp_path / "out"), "--runs", str(tmp_path / "runs")]) == 0
    assert "trained before" not in capsys.readouterr().out           # another budget: trained again


def test_clips_classified_from_a_manifest_with_labels(tmp_path):
    import json

    from polymodal.models.multimodal import MultimodalModel
    manifest = export_shapes("motion", "train", 5, 8, tmp_path)
    clips = {json.loads(line)["video"]: json.loads(line)["objects"] for line in manifest.read_text().splitlines()}
    labelled = tmp_path / "labels.jsonl"
    labelled.write_text("".join(json.dumps({"video": v, "label": f"{len(objects)} objects"}) + "\n"
                                for v, objects in clips.items()))
    recipe = {"task": "classify", "data": {"spec": str(labelled)}, "val": {"spec": str(labelled)},
              "model": {"encoders": {"video": {**TINY_FRAMES, "config": {**TINY_FRAMES["config"], "temporal": "late"}}},
                        "fusion": "late:mean", "hidden": 16},
              "train": {"epochs": 2, "batch_size": 4, "lr": 3e-3, "warmup_steps": 1, "checkpoint_every": 10 ** 6}}
    result = training_run.run(recipe, tmp_path / "run")
    assert result["step"] == 4 and 0 <= result["accuracy"] <= 1
    model = MultimodalModel.from_pretrained(tmp_path / "run" / "model")
    assert model.modalities == ["video"] and set(model.config.labels) <= {"2 objects", "3 objects"}


@pytest.mark.parametrize("task", ["video-qa", "video-caption", "video-align"])
def test_codec_augment_sends_generated_training_clips_through_an_mp4(task):
    """codec_augment: a generated training clip comes back from H.264 (and its sound from AAC)
    as a user's file would: the same frames in order, a little changed; outside training, or
    at probability 0, the example is the one given. Bad values are refused when read."""
    from polymodal.core.errors import ConfigError
    built = TASKS.build(task, codec_augment=1.0, codec_crf=[28, 28])
    examples, _ = built.load_examples("shapes:motion:train", 3, 12)
    ex = next(e for e in examples if task != "video-qa" or np.abs(e.sound[0]).max() > 0.1)     # one with a click
    back = built.augmented(ex, np.random.default_rng(0))
    assert back.video.shape == ex.video.shape and back.video.dtype == np.uint8
    diff = np.abs(back.video.astype(int) - ex.video.astype(int))
    assert 0 < diff.mean() < 6                                            # changed, not scrambled
    for t in range(len(ex.video)):                                         # frame t is still frame t
        assert min(range(len(ex.video)), key=lambda u: np.abs(back.video[t].astype(int) - ex.video[u]).mean()) == t \
            or np.array_equal(ex.video[t], ex.video[max(t - 1, 0)])
    if task == "video-qa":
        wave, rate = back.sound
        assert rate == 16_000 and abs(len(wave) - len(ex.sound[0])) < 2048 and np.abs(wave).max() > 0.1
    assert built.augmented(ex, None) is ex
    assert TASKS.build(task).augmented(ex, np.random.default_rng(0)) is ex
    for bad in ({"codec_augment": 1.5}, {"codec_crf": [30, 10]}, {"codec_crf": [0, 60]}):
        with pytest.raises(ConfigError, match="codec"):
            TASKS.build(task, **bad)
