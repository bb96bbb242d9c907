"""Video captioning: the motion captions read back into events, the event fact scores, and a
tiny video captioner trained through the real trainer and used by `caption CLIP`."""
from __future__ import annotations

import pytest

from polymodal.data import motion_preset, shapes
from polymodal.data.export import export_shapes
from polymodal.models.captioner import Captioner
from polymodal.tasks.clip_text import CAPTION_TOKENS
from polymodal.tasks.metrics.events import event_fact_scores
from polymodal.tasks.registry import TASKS
from polymodal.training import run as training_run

REFERENCE = ("the red circle moves right, the blue square stays still, the red circle hits the blue square, "
             "the blue square moves right, the red circle stops")


def test_every_motion_caption_reads_back_into_its_events():
    for clip in shapes("motion", "test", 3, 200):
        facts, unparsed = motion_preset.parse_caption(clip.caption)
        assert not unparsed
        hits = [e for e in clip.events if e.kind == "hit"]
        assert [f[1:] for f in facts if f[0] == "hits"] == [(clip.objects[e.a].name, clip.objects[e.b].name)
                                                            for e in hits]
        assert len([f for f in facts if f[0] == "stops"]) == len([e for e in clip.events if e.kind == "stop"])


def test_event_facts_reward_true_events_only():
    assert event_fact_scores([REFERENCE], [REFERENCE]) == {"fact_precision": 1.0, "fact_recall": 1.0,
                                                           "fact_f1": 1.0, "event_order": 1.0}
    shorter = event_fact_scores(["the red circle moves right, the blue square stays still"], [REFERENCE])
    assert shorter["fact_precision"] == 1.0 and shorter["fact_recall"] == pytest.approx(2 / 5)
    wrong = event_fact_scores([REFERENCE.replace("moves right,", "moves left,", 1)], [REFERENCE])
    assert wrong["fact_precision"] == pytest.approx(4 / 5) and wrong["fact_recall"] == pytest.approx(4 / 5)
    swapped = "the red circle stops, the red circle hits the blue square"
    assert event_fact_scores([swapped], [REFERENCE])["event_order"] == 0.0
    assert event_fact_scores(["a red blob wobbles"], [REFERENCE])["fact_precision"] == 0.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("video-caption")
    recipe = {"task": "video-caption", "data": {"spec": "shapes:motion:train", "seed": 2, "n": 16},
              "model": {"image_encoder": {"name": "frames", "config": {"frames": 4, "dim": 16, "channels": [8, 16],
                                                                       "image_size": 32, "layers": 1, "heads": 2}},
                        "dim": 32, "layers": 1, "heads": 2, "dropout": 0.0},
              "train": {"epochs": 2, "batch_size": 8, "lr": 3e-3, "warmup_steps": 1, "checkpoint_every": 10 ** 6}}
    result = training_run.run(recipe, out)
    return out / "model", result


def test_a_video_captioner_trains_and_captions_clips(trained, tmp_path, capsys):
    from polymodal.cli.main import main
    folder, result = trained
    assert result["step"] == 4 and "fact_f1" not in result        # no validation data given
    model = Captioner.from_pretrained(folder)
    assert model.config.task == "video-caption" and model.config.max_length == CAPTION_TOKENS == 96
    manifest = export_shapes("motion", "test", 7, 2, tmp_path)
    examples, _ = TASKS.build("video-caption").load_examples(str(manifest))
    metrics = TASKS.build("video-caption").evaluate(model, examples)
    assert metrics["clips"] == 2 and 0 <= metrics["fact_f1"] <= 1
    assert main(["caption", str(tmp_path / "videos"), "--model", str(folder), "--json"]) == 0
    assert capsys.readouterr().out.count('"video"') == 2
    assert main(["caption", str(tmp_path / "videos"), "--model", str(folder), "--guidance", "2"]) == 2
    assert "--guidance" in capsys.readouterr().err
    import pyarrow.parquet as pq
    assert main(["caption", str(tmp_path / "videos"), "--model", str(folder), "--out", str(tmp_path / "c.parquet")]) == 0
    rows = pq.read_table(tmp_path / "c.parquet").to_pylist()
    assert len(rows) == 2 and all(r["error"] is None and isinstance(r["caption"], str) for r in rows)


def test_only_video_encoders_caption_clips():
    from polymodal.core.errors import InputError
    task = TASKS.build("video-caption")
    examples, _ = task.load_examples("shapes:motion:train", 0, 2)
    with pytest.raises(InputError, match="video encoder"):
        task.build_model({"image_encoder": {"name": "cnn", "config": {}}}, examples)
