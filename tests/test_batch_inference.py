"""Batch inference into Parquet: the verbs' --out FILE.parquet, streaming in chunks, and a
run killed midway that resumes with no item lost or done twice."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from polymodal.cli.main import main
from polymodal.core.errors import InputError
from polymodal.inference import batch as batch_inference
from polymodal.inference import batch_parts
from polymodal.inference.backend import Backend


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    out = tmp_path_factory.mktemp("batch")
    assert main(["data", "shapes", "--preset", "shapes", "--split", "test", "--seed", "3", "--n", "60",
                 "--out", str(out)]) == 0
    return out / "manifest.jsonl"


def rows_of(path):
    return pq.read_table(path).to_pylist()


def test_caption_embed_and_transcribe_write_parquet(manifest, tmp_path, capsys):
    assert main(["caption", "--data", str(manifest), "--out", str(tmp_path / "c.parquet"), "--chunk-size", "32"]) == 0
    captions = rows_of(tmp_path / "c.parquet")
    lines = sum(1 for line in manifest.read_text().splitlines() if line.strip())
    assert [r["row"] for r in captions] == sorted({r["row"] for r in captions}) and len(captions) == lines
    # the same captions as the verb prints one image at a time
    capsys.readouterr()
    assert main(["caption", captions[0]["input"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["caption"] == captions[0]["caption"]
    assert not (tmp_path / "c.parquet.parts").exists()

    assert main(["embed", "--data", "shapes:shapes:test", "--n", "10", "--out", str(tmp_path / "e.parquet")]) == 0
    vectors = np.array([r["vector"] for r in rows_of(tmp_path / "e.parquet")])
    from polymodal.loading import load_model
    assert vectors.shape == (10, load_model(task="align").config.dim)          # the shipped aligner's space
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)

    import soundfile as sf
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "tone.wav", 0.1 * np.sin(np.arange(16000) / 5), 16000)
    (audio / "broken.wav").write_bytes(b"RIFF....WAVEfmt nothing")
    assert main(["transcribe", str(audio), "--model", "pocketsphinx", "--out", str(tmp_path / "t.parquet"),
                 "--on-bad-rows", "skip"]) == 0
    heard = {os.path.basename(r["input"]): r for r in rows_of(tmp_path / "t.parquet")}
    assert heard["broken.wav"]["error"] and heard["broken.wav"]["text"] is None
    assert heard["tone.wav"]["error"] is None and isinstance(heard["tone.wav"]["text"], str)


def test_an_existing_result_and_a_wrong_suffix_are_refused(tmp_path):
    (tmp_path / "done.parquet").write_bytes(b"")
    with pytest.raises(InputError, match="exists already"):
        batch_inference.run("caption", [], tmp_path / "done.parquet")
    with pytest.raises(InputError, match="as .parquet"):
        batch_inference.run("caption", [], tmp_path / "x.csv")


def test_a_killed_run_resumes_with_no_item_lost_or_done_twice(manifest, tmp_path):
    out = tmp_path / "killed.parquet"
    parts = tmp_path / "killed.parquet.parts"
    command = [sys.executable, "-m", "polymodal", "caption", "--data", str(manifest), "--out", str(out),
               "--chunk-size", "8"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(parts.glob("part-*.parquet"))) < 3 and time.time() < deadline and run.poll() is None:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    written = len(list(parts.glob("part-*.parquet")))
    assert not out.exists() and written >= 3, "the run should have been killed midway"
    done_before = batch_parts.done_rows(parts)

    assert subprocess.run(command, capture_output=True).returncode == 0
    rows = rows_of(out)
    lines = sum(1 for line in manifest.read_text().splitlines() if line.strip())
    assert len(rows) == lines and len({r["row"] for r in rows}) == lines          # none lost, none twice
    assert all(r["error"] is None and r["caption"] for r in rows)
    straight = tmp_path / "straight.parquet"
    assert main(["caption", "--data", str(manifest), "--out", str(straight)]) == 0
    assert [(r["row"], r["caption"]) for r in rows] == [(r["row"], r["caption"]) for r in rows_of(straight)]
    assert len(done_before) < lines


def test_a_run_started_here_finishes_on_ray_with_the_same_rows(manifest, tmp_path, capsys):
    """A local Ray instance: two Ray Data workers take over (`--ray`) a run whose first two
    chunks were written here, and the result equals an uninterrupted local run, each row once."""
    import ray
    items = batch_parts.items_from(str(manifest), [], "image", 0, 0, None, "fail")
    out, parts = tmp_path / "r.parquet", tmp_path / "r.parquet.parts"
    parts.mkdir()
    head = list(batch_parts.chunks(items, 8))[:2]
    assert sum(batch_parts.run_here("caption", None, Backend(), head, parts, "fail")) == 16
    capsys.readouterr()
    try:
        assert main(["caption", "--data", str(manifest), "--out", str(out), "--chunk-size", "8", "--ray",
                     "--ray-workers", "2"]) == 0
    finally:
        ray.shutdown()
    summary = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert summary["resumed_from"] == 16 and summary["done_now"] == len(items) - 16
    straight = tmp_path / "straight.parquet"
    batch_inference.run("caption", items, straight, chunk_size=8)
    assert [(r["row"], r["caption"]) for r in rows_of(out)] == [(r["row"], r["caption"]) for r in rows_of(straight)]
