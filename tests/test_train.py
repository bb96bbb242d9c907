"""The trainer: what a run writes, exact resume after an interruption, checkpoint pruning,
and a small learning test that fails if the loop does not actually learn."""
import copy
import json

import pytest
import torch
from safetensors.torch import load_file

from polymodal.core.errors import ConfigError, InputError
from polymodal.data.sort_of_clevr import question_vocabulary
from polymodal.data.world import shapes
from polymodal.models.multimodal import ModelConfig, MultimodalModel
from polymodal.tasks.vqa import Question, VQAExample, VQATask
from polymodal.training import run as training_run
from polymodal.training.config import TrainConfig
from polymodal.training.trainer import Trainer

torch.set_num_threads(1)

TINY_MODEL = {
    "encoders": {"image": {"name": "cnn", "config": {"dim": 16, "channels": [8, 8], "strides": [2, 2],
                                                     "image_size": 32}},
                 "text": {"name": "transformer", "config": {"dim": 16, "layers": 1, "heads": 2}}},
    "fusion": "early:feature", "hidden": 16,
}
# 16 scenes / batch 4 = 4 steps per epoch, 8 in all; a checkpoint every 3 steps plus each epoch end.
RECIPE = {
    "task": "vqa",
    "data": {"spec": "shapes:sort-of-clevr:train", "seed": 1, "n": 16},
    "val": {"spec": "shapes:sort-of-clevr:val", "seed": 1, "n": 4},
    "model": TINY_MODEL,
    "train": {"batch_size": 4, "epochs": 2, "seed": 3, "warmup_steps": 2, "checkpoint_every": 3},
}
STEPS = 8


def step_folders(run):
    return sorted(p.name for p in (run / "checkpoints").glob("step-*"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """(run folder, step-* folders present after each checkpoint) of an uninterrupted run."""
    seen = []
    original = Trainer.save_checkpoint

    def spy(self):
        original(self)
        seen.append((self.step, step_folders(self.out)))

    run = tmp_path_factory.mktemp("uninterrupted") / "a"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Trainer, "save_checkpoint", spy)
        training_run.run(copy.deepcopy(RECIPE), run)
    return run, seen


def weights(run):
    return load_file(str(run / "model" / "model.safetensors"))


def metrics(run):
    return json.loads((run / "metrics.json").read_text())


# (a) ---------------------------------------------------------------------------------
def test_a_run_writes_metrics_plot_checkpoint_and_model(uninterrupted):
    run, _ = uninterrupted
    for name in ("metrics.json", "metrics.csv", "training_curve.png", "checkpoints/latest.json"):
        assert (run / name).is_file(), name
    assert (run / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = metrics(run)
    assert [r["step"] for r in data["train"]] == list(range(1, STEPS + 1))
    assert all(r["loss"] > 0 for r in data["train"])
    assert [(e["epoch"], e["step"]) for e in data["evals"]] == [(1, 4), (2, 8)]
    assert all(0 <= e["accuracy"] <= 1 and e["questions"] == 80 for e in data["evals"])   # 4 scenes x 20
    csv_lines = (run / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,step,") and "accuracy" in csv_lines[0] and len(csv_lines) == 3
    model = MultimodalModel.from_pretrained(run / "model")
    assert model.config.fusion == "early:feature" and model.config.task == "vqa"
    assert {"yes", "no", "square", "circle"} <= set(model.config.labels)


def test_an_epochs_eval_is_kept_when_its_step_was_checkpointed_already(tmp_path):
    """A periodic checkpoint on an epoch's last step used to stop the epoch's own save, and
    with it the writing of that epoch's eval: the final eval was lost from metrics.json."""
    recipe = copy.deepcopy(RECIPE)
    recipe["train"]["checkpoint_every"] = 4                    # = the steps of one epoch
    training_run.run(recipe, tmp_path / "run")
    assert [(e["epoch"], e["step"]) for e in metrics(tmp_path / "run")["evals"]] == [(1, 4), (2, 8)]
    assert (tmp_path / "run" / "metrics.csv").read_text().count("\n") == 3


# (c) ---------------------------------------------------------------------------------
def test_c_only_the_latest_checkpoint_folder_is_kept(uninterrupted):
    run, seen = uninterrupted
    assert [s for s, _ in seen][:4] == [3, 4, 6, 8], seen       # several checkpoints were written
    for step, folders in seen:
        assert folders == [f"step-{step:07d}"], (step, folders)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest.json", f"step-{STEPS:07d}"]
    assert json.loads((run / "checkpoints" / "latest.json").read_text()) == {"latest": f"step-{STEPS:07d}"}
    folder = run / "checkpoints" / f"step-{STEPS:07d}"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors",
                                                       "optimizer.safetensors", "state.json"]
    state = json.loads((folder / "state.json").read_text())
    assert (state["step"], state["epoch"], state["batch_in_epoch"]) == (STEPS, 2, 0)
    # the checkpoint's weights are the final model's
    final, ckpt = weights(run), load_file(str(folder / "model.safetensors"))
    for name, tensor in final.items():
        torch.testing.assert_close(ckpt[name], tensor, rtol=0, atol=0, msg=name)


# (b) ---------------------------------------------------------------------------------
@pytest.mark.parametrize("stop", [3, 4, 6])      # mid-epoch 1, exactly at its end, mid-epoch 2
def test_b_resume_gives_the_same_weights_as_an_uninterrupted_run(uninterrupted, tmp_path, monkeypatch, stop):
    run_a, _ = uninterrupted
    run_b = tmp_path / "b"
    interrupted = copy.deepcopy(RECIPE)
    interrupted["train"]["max_steps"] = stop
    training_run.run(interrupted, run_b)
    state = json.loads((run_b / "checkpoints" / f"step-{stop:07d}" / "state.json").read_text())
    assert state["step"] == stop and state["epoch"] * 4 + state["batch_in_epoch"] == stop
    assert step_folders(run_b) == [f"step-{stop:07d}"]

    steps_taken = []
    original = Trainer.train_step
    monkeypatch.setattr(Trainer, "train_step", lambda self, *a: steps_taken.append(self.step) or original(self, *a))
    training_run.run(copy.deepcopy(RECIPE), run_b, resume=True)
    assert steps_taken == list(range(stop, STEPS)), "resume must continue where it stopped, not restart"

    a, b = weights(run_a), weights(run_b)
    assert set(a) == set(b)
    for name in a:      # BatchNorm running statistics included
        torch.testing.assert_close(b[name], a[name], rtol=1e-6, atol=1e-6, msg=name)
    # the metrics log continues too: same losses at the same steps, same evaluations
    log_a, log_b = metrics(run_a), metrics(run_b)
    assert [r["step"] for r in log_b["train"]] == list(range(1, STEPS + 1))
    for ra, rb in zip(log_a["train"], log_b["train"]):
        assert rb["loss"] == pytest.approx(ra["loss"], rel=1e-6, abs=1e-6), (ra, rb)
    strip = lambda evals: [{k: v for k, v in e.items() if k not in ("elapsed_s", "data_share", "train_loss")} for e in evals]
    assert strip(log_b["evals"]) == strip(log_a["evals"])
    assert step_folders(run_b) == [f"step-{STEPS:07d}"]


def test_resume_without_a_checkpoint_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="nothing to resume"):
        training_run.run(copy.deepcopy(RECIPE), tmp_path / "empty", resume=True)


# (d) ---------------------------------------------------------------------------------
def left_top_examples(split, n):
    """'is the red object on the left / at the top?', answers from the object list: the
    answer needs the image *and* the question (which of the two is asked)."""
    out = []
    for s in shapes("sort-of-clevr", split, 0, n):
        red = next(o for o in s.objects if o.colour == "red")
        out.append(VQAExample(s.image, [
            Question("is the red object on the left?", "yes" if red.x < 37.5 else "no", "left"),
            Question("is the red object at the top?", "yes" if red.y < 37.5 else "no", "top")]))
    return out


def test_d_the_trainer_learns_a_simple_vqa_task(tmp_path):
    """~2 s. Over 8 init seeds this setup reached 0.88-0.98 accuracy; chance is ~0.5 and a
    model ignoring the question could not pass both question types."""
    train, val = left_top_examples("train", 200), left_top_examples("val", 100)
    torch.manual_seed(0)
    model = MultimodalModel(ModelConfig(
        encoders={"image": TINY_MODEL["encoders"]["image"],
                  "text": {"name": "transformer", "config": {"vocab": question_vocabulary(), "dim": 16,
                                                             "layers": 1, "heads": 2}}},
        fusion="early:feature", fusion_config={"hidden": 32}, labels=["no", "yes"], task="vqa", hidden=16))
    before = VQATask().evaluate(model, val)["accuracy"]
    assert before < 0.65, before
    result = Trainer(model, VQATask(), train, val, tmp_path,
                     TrainConfig(epochs=10, batch_size=16, lr=3e-3, warmup_steps=5, seed=0)).fit()
    assert result["accuracy"] > 0.8, result
    assert result["per_type_left"] > 0.75 and result["per_type_top"] > 0.75, result
    trained = VQATask().evaluate(MultimodalModel.from_pretrained(tmp_path / "model"), val)
    assert trained["accuracy"] == pytest.approx(result["accuracy"])


def test_jpeg_augmentation_changes_some_training_images_only():
    import numpy as np

    from polymodal.data.world import shapes
    from polymodal.tasks import vqa
    examples = vqa.examples_from_scenes(shapes("sort-of-clevr", "train", 1, 40))
    options = vqa.VQAOptions(jpeg_augment=0.5, jpeg_quality=(50, 60))
    rng = np.random.default_rng(0)
    out = [vqa.augmented(ex, rng, options) for ex in examples]
    changed = sum(not np.array_equal(a.image, b.image) for a, b in zip(examples, out))
    assert 8 <= changed <= 32, changed                       # about half, never all or none
    assert all(a.questions is b.questions for a, b in zip(examples, out))
    assert vqa.augmented(examples[0], rng, vqa.VQAOptions()).image is examples[0].image   # off by default


def test_a_frozen_encoder_keeps_its_weights_and_the_rest_learns(tmp_path):
    recipe = copy.deepcopy(RECIPE)
    recipe["train"].update(epochs=1, freeze=["image"])
    recipe.pop("val")
    examples, _ = VQATask().load_examples("shapes:sort-of-clevr:train", 1, 16)
    torch.manual_seed(recipe["train"]["seed"])
    start = training_run.build_model(VQATask(), recipe["model"], examples).state_dict()
    training_run.run(recipe, tmp_path / "run")
    end = weights(tmp_path / "run")
    image = [k for k in start if k.startswith("encoders.image.")]
    assert image and all(torch.equal(start[k], end[k]) for k in image)
    assert not all(torch.equal(start[k], end[k]) for k in start if k not in image)
    recipe["train"]["freeze"] = ["audio"]
    with pytest.raises(ConfigError, match="has no part audio"):
        training_run.run(recipe, tmp_path / "run2")


def test_runs_of_different_mixed_precision_follow_each_other_in_one_process(tmp_path):
    """Accelerate keeps its state per process; a second run in another precision (compare-fusion's
    rows, a notebook) must not be refused."""
    for precision in ("no", "bf16", "no"):
        recipe = copy.deepcopy(RECIPE)
        recipe["train"].update({"epochs": 1, "mixed_precision": precision})
        training_run.run(recipe, tmp_path / precision)
        assert (tmp_path / precision / "model" / "model.safetensors").exists()
