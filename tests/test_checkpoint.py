"""MultimodalModel checkpoints: safetensors + config.json, validated on load, written atomically."""
import json
import struct

import numpy as np
import pytest
import safetensors
import torch

from polymodal.core import files as checkpoint
from polymodal.core.errors import ConfigError, InputError
from polymodal.models.multimodal import ModelConfig, MultimodalModel

torch.set_num_threads(1)

VOCAB = ["what", "is", "the", "shape", "of", "red", "blue", "object", "?"]
QUESTIONS = ["what is the shape of the red object ?", "what is the shape of the blue object ?", "red object"]


def tiny_config(**overrides) -> ModelConfig:
    spec = dict(
        encoders={"image": {"name": "cnn", "config": {"dim": 16, "channels": [8, 8], "strides": [2, 2],
                                                      "image_size": 32}},
                  "text": {"name": "transformer", "config": {"vocab": VOCAB, "dim": 16, "layers": 1, "heads": 2}}},
        fusion="early:feature", labels=["square", "circle", "yes"], task="vqa", hidden=16)
    spec.update(overrides)
    return ModelConfig(**spec)


def tiny_batch(model):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in QUESTIONS]
    return model.preprocess({"image": images, "text": QUESTIONS})


@pytest.fixture
def saved(tmp_path):
    """(model in eval mode, its folder): BatchNorm statistics moved off their defaults first,
    so a checkpoint that dropped buffers would not round-trip."""
    torch.manual_seed(0)
    model = MultimodalModel(tiny_config())
    with torch.no_grad():
        model.train()(tiny_batch(model))
    model.eval()
    folder = model.save_pretrained(tmp_path / "model")
    return model, folder


def test_round_trip_gives_identical_outputs(saved):
    model, folder = saved
    loaded = MultimodalModel.from_pretrained(folder)
    assert not loaded.training
    assert loaded.config == model.config
    batch = tiny_batch(model)
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch), model(batch), rtol=0, atol=0)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, rtol=0, atol=0, msg=name)


def test_folder_holds_only_safetensors_and_json(saved):
    model, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    raw = (folder / "model.safetensors").read_bytes()
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + header_len])          # safetensors: u64 length + JSON header
    assert header["__metadata__"] == {"format": "polymodal"}
    with safetensors.safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        assert set(f.keys()) == set(model.state_dict())
    assert json.loads((folder / "config.json").read_text())["fusion"] == "early:feature"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_weights_are_an_input_error_naming_the_file(saved, damage):
    _, folder = saved
    weights = folder / "model.safetensors"
    raw = weights.read_bytes()
    weights.write_bytes({"garbage": b"not a safetensors file at all" * 10,
                         "truncated": raw[: len(raw) // 2], "empty": b""}[damage])
    with pytest.raises(InputError, match="model.safetensors") as err:
        MultimodalModel.from_pretrained(folder)
    assert "\n" not in str(err.value)


def test_missing_weights_or_config_are_input_errors(saved, tmp_path):
    _, folder = saved
    (folder / "model.safetensors").unlink()
    with pytest.raises(InputError, match="model.safetensors"):
        MultimodalModel.from_pretrained(folder)
    with pytest.raises(InputError, match="config.json"):
        MultimodalModel.from_pretrained(tmp_path / "nowhere")


def test_unknown_fusion_in_config_is_a_config_error_naming_it(saved):
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    config["fusion"] = "early:telepathy"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="early:telepathy"):
        MultimodalModel.from_pretrained(folder)


def test_invalid_config_json_is_an_input_error(saved):
    _, folder = saved
    (folder / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="config.json"):
        MultimodalModel.from_pretrained(folder)


@pytest.mark.parametrize("change", ["hidden", "labels", "channels"])
def test_weights_not_matching_config_are_an_input_error(saved, change):
    _, folder = saved
    config = json.loads((folder / "config.json").read_text())
    if change == "hidden":
        config["hidden"] = 24
    elif change == "labels":
        config["labels"].append("no")
    else:
        config["encoders"]["image"]["config"]["channels"] = [8, 8, 8]
        config["encoders"]["image"]["config"]["strides"] = [2, 2, 2]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="do not match") as err:
        MultimodalModel.from_pretrained(folder)
    assert str(folder) in str(err.value) and "\n" not in str(err.value)


def test_failed_write_leaves_the_previous_checkpoint_intact(saved, monkeypatch):
    model, folder = saved
    before = (folder / "model.safetensors").read_bytes()

    def half_written(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 100)                  # a partial file, then the disk "fills up"
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", half_written)
    torch.manual_seed(1)
    other = MultimodalModel(tiny_config())
    with pytest.raises(OSError, match="No space"):
        other.save_pretrained(folder)
    assert (folder / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"], "temp file left"
    monkeypatch.undo()
    loaded = MultimodalModel.from_pretrained(folder)
    batch = tiny_batch(model)
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch), model(batch), rtol=0, atol=0)


def test_failed_json_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    checkpoint.save_json({"step": 1}, path)

    def broken_dump(obj, f, **kwargs):
        f.write('{"step": ')
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint.json, "dump", broken_dump)
    with pytest.raises(OSError):
        checkpoint.save_json({"step": 2}, path)
    monkeypatch.undo()
    assert checkpoint.load_json(path) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
