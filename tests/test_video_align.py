"""Video-text alignment: polymodal's aligner over a video encoder, trained through the real
trainer, used by embed, zero-shot classify and retrieval on clips."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from polymodal.data.export import export_shapes
from polymodal.inference.pipelines import load
from polymodal.models.aligner import Aligner
from polymodal.tasks.clip_text import CAPTION_TOKENS, ClipCaptionExample
from polymodal.tasks.registry import TASKS
from polymodal.tasks.video_align import same_caption
from polymodal.training import run as training_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("video-align")
    recipe = {"task": "video-align", "data": {"spec": "shapes:motion:train", "seed": 4, "n": 16},
              "val": {"spec": "shapes:motion:val", "seed": 4, "n": 8},
              "model": {"image_encoder": {"name": "frames", "config": {"frames": 4, "dim": 16, "channels": [8, 16],
                                                                       "image_size": 32, "layers": 1, "heads": 2}},
                        "text_encoder": {"name": "transformer", "config": {"dim": 16, "layers": 1, "heads": 2}},
                        "dim": 16},
              "train": {"epochs": 2, "batch_size": 8, "lr": 3e-3, "warmup_steps": 1, "checkpoint_every": 10 ** 6}}
    result = training_run.run(recipe, out)
    return out / "model", result


def test_training_reports_retrieval_both_ways(trained):
    _, result = trained
    assert result["gallery"] == 8 and {"text_to_video_r1", "text_to_video_r5", "video_to_text_r5"} <= set(result)
    assert result["text_to_video_r5"] >= result["text_to_video_r1"]


def test_clips_embed_and_classify_through_the_video_align_pipeline(trained, tmp_path, capsys):
    from polymodal.cli.main import main
    folder, _ = trained
    model = Aligner.from_pretrained(folder)
    assert model.config.task == "video-align" and model.text_encoder.config["max_length"] == CAPTION_TOKENS == 96
    export_shapes("motion", "test", 7, 3, tmp_path)
    pipe = load("video-align", str(folder))
    vectors = pipe.embed_videos(sorted((tmp_path / "videos").iterdir()))
    assert vectors.shape == (3, 16) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert pipe.embed_texts(["the red circle stops"]).shape == (1, 16)
    assert main(["classify", str(tmp_path / "videos"), "--labels", "red circle,blue square", "--model",
                 str(folder)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["embed", str(tmp_path / "videos"), "--model", str(folder), "--out", str(tmp_path / "v.npz")]) == 0
    with np.load(tmp_path / "v.npz") as data:
        assert np.allclose(data["vectors"], vectors, atol=1e-5)


def test_a_text_is_true_of_every_clip_it_captions():
    examples = [ClipCaptionExample(None, ["a"]), ClipCaptionExample(None, ["b"]), ClipCaptionExample(None, ["a"])]
    assert torch.equal(same_caption(["a", "b"], examples), torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))


def test_only_video_encoders_align_clips():
    from polymodal.core.errors import InputError
    task = TASKS.build("video-align")
    examples, _ = task.load_examples("shapes:motion:train", 0, 2)
    with pytest.raises(InputError, match="video encoder"):
        task.build_model({"image_encoder": {"name": "cnn", "config": {}},
                          "text_encoder": {"name": "transformer", "config": {}}}, examples)


def test_search_a_gallery_of_clips(trained, tmp_path, capsys):
    import json

    from polymodal.cli.main import main
    folder = str(trained[0])
    export_shapes("motion", "test", 7, 4, tmp_path)
    videos = tmp_path / "videos"
    assert main(["search", "the red circle stops", "--gallery", str(videos), "--model", folder, "--k", "2",
                 "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["rank"] for r in rows] == [1, 2] and all(r["video"].endswith(".mp4") for r in rows)
    assert main(["embed", str(videos), "--model", folder, "--out", str(tmp_path / "g.npz")]) == 0
    capsys.readouterr()
    query = str(videos / "test-7-000002.mp4")
    assert main(["search", query, "--gallery", str(tmp_path / "g.npz"), "--model", folder, "--k", "1"]) == 0
    assert capsys.readouterr().out.strip().endswith("test-7-000002.mp4")        # a clip finds itself first
    assert main(["search", "the red circle stops", "--gallery", "shapes:motion:test", "--n", "3", "--model",
                 folder]) == 0
    assert "shapes:motion:test#" in capsys.readouterr().out


def test_batch_jobs_over_clips_write_parquet_and_skip_bad_ones(trained, tmp_path):
    import pyarrow.parquet as pq
    from video_clips import bad_clips

    from polymodal.cli.main import main
    manifest = export_shapes("motion", "test", 7, 3, tmp_path)
    (tmp_path / "videos" / "bad.mp4").write_bytes(bad_clips()["text renamed"][0])
    with open(manifest, "a") as f:
        f.write('{"video": "videos/bad.mp4", "question": "does it move?", "answer": "no"}\n')
    out = tmp_path / "vectors.parquet"
    assert main(["embed", "--data", str(manifest), "--model", str(trained[0]), "--out", str(out),
                 "--on-bad-rows", "skip"]) == 0
    table = pq.read_table(out).to_pylist()
    good = [r for r in table if r["error"] is None]
    assert len(table) == len(manifest.read_text().splitlines()) and all(len(r["vector"]) == 16 for r in good)
    assert [r for r in table if r["error"]][0]["error"].endswith("not a readable video (Invalid data found when "
                                                                  "processing input)")
    assert main(["embed", "shapes:motion:test", "--out", str(tmp_path / "x.parquet")]) == 2   # not a clip path
    assert main(["embed", "--data", "shapes:motion:test", "--n", "2", "--model", str(trained[0]), "--out",
                 str(tmp_path / "gen.parquet")]) == 0
    assert pq.read_table(tmp_path / "gen.parquet").num_rows == 2
