"""Shared, session-scoped artefacts for the CLI tests: one tiny trained VQA model and one
small exported sort-of-clevr manifest, each made once through the real command line."""
import contextlib
import io
import json

import pytest
import torch

from polymodal.cli import main


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """The run folder of `polymodal train` on 8 scenes, 1 epoch of 2 steps (a few seconds)."""
    torch.set_num_threads(1)      # the test machine is shared; one thread is plenty here
    run = tmp_path_factory.mktemp("run")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(["train", "--task", "vqa", "--data", "shapes:sort-of-clevr:train", "--n", "8", "--seed", "1",
                   "--fusion", "early:feature", "--epochs", "1", "--batch-size", "4", "--out", str(run)])
    assert rc == 0
    assert json.loads(stdout.getvalue())["step"] == 2          # 8 scenes / batch of 4
    for name in ("metrics.json", "metrics.csv", "training_curve.png"):
        assert (run / name).is_file(), name
    assert (run / "checkpoints" / "latest.json").is_file()
    return run


@pytest.fixture(scope="session")
def trained_model(trained_run):
    model = trained_run / "model"
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()
    return model


@pytest.fixture(scope="session")
def shapes_manifest(tmp_path_factory):
    """manifest.jsonl (and images/) of 3 sort-of-clevr test scenes, seed 3."""
    out = tmp_path_factory.mktemp("shapes")
    assert main(["data", "shapes", "--preset", "sort-of-clevr", "--split", "test",
                 "--seed", "3", "--n", "3", "--out", str(out)]) == 0
    manifest = out / "manifest.jsonl"
    assert manifest.is_file()
    return manifest
