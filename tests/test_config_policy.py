"""One config policy: an unknown key in a saved config, a recipe or any of its sections, or an
encoder's options is a one-line error naming the key and the known ones."""
import json

import pytest
import yaml

import polymodal as pm
from polymodal.cli.defaults import TRAINABLE_TASKS
from polymodal.cli.main import main
from polymodal.core.errors import ConfigError
from polymodal.loading import load_model

TINY = {"image": {"name": "cnn", "config": {"dim": 16, "channels": [8, 16]}},
        "text": {"name": "transformer", "config": {"dim": 16, "layers": 1, "heads": 2}}}
RECIPE = {"task": "vqa", "data": {"spec": "shapes:sort-of-clevr:train", "seed": 1, "n": 4},
          "model": {"encoders": TINY, "fusion": "late:mean", "hidden": 16},
          "train": {"epochs": 1, "batch_size": 2}}


def one_line_error(capsys, rc) -> str:
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("change, named", [
    (lambda r: r.update(taks="vqa"), ["taks", "task_options"]),                      # a recipe key
    (lambda r: r["model"].update(hiden=32), ["hiden", "hidden"]),                    # a model config key
    (lambda r: r["train"].update(epoch=2), ["epoch", "epochs"]),                     # a training option
    (lambda r: r.update(task_options={"jpeg_augmnt": 0.5}), ["jpeg_augmnt", "jpeg_augment"]),
    (lambda r: r["data"].update(spokn=True), ["spokn", "spoken"]),                   # a data option
    (lambda r: r["model"]["encoders"]["text"]["config"].update(layer=1), ["layer", "layers"]),
    (lambda r: r["model"]["encoders"]["image"].update(confg={}), ["confg", "config"]),
    (lambda r: r["model"].update(fusion_config={"hiddn": 8}), ["hiddn"]),
    (lambda r: r["train"].update(jpeg_augment=0.5), ["jpeg_augment", "task_options"]),   # in the wrong section
])
def test_an_unknown_key_anywhere_in_a_recipe_is_named(change, named, tmp_path, capsys):
    recipe = json.loads(json.dumps(RECIPE))
    change(recipe)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    err = one_line_error(capsys, main(["train", "--recipe", str(path), "--out", str(tmp_path / "run")]))
    for name in named:
        assert name in err, (name, err)
    assert not (tmp_path / "run" / "model").exists()


def test_an_unknown_key_in_a_saved_config_is_named(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(RECIPE))
    assert main(["train", "--recipe", str(path), "--out", str(tmp_path / "run")]) == 0
    config_path = tmp_path / "run" / "model" / "config.json"
    config = json.loads(config_path.read_text())
    assert load_model(tmp_path / "run" / "model").config.hidden == 16
    config_path.write_text(json.dumps({**config, "hiden": 32}))
    with pytest.raises(ConfigError, match="unknown key hiden; known: .*hidden"):
        load_model(tmp_path / "run" / "model")
    config_path.write_text(json.dumps([config]))
    with pytest.raises(ConfigError, match="expected a JSON object"):
        load_model(tmp_path / "run" / "model")


@pytest.mark.parametrize("task", [t for t in TRAINABLE_TASKS if t != "classify"])
def test_build_gives_an_untrained_model_for_every_trainable_task(task):
    model = pm.build(task, n=4)
    assert model.config.task == task and model.num_parameters() > 0


def test_build_refuses_what_it_cannot_build_in_a_sentence():
    with pytest.raises(ConfigError, match="manifest"):
        pm.build("classify")                      # no generated data for classification
    with pytest.raises(ConfigError, match="evaluation of align models"):
        pm.build("few-shot")
    with pytest.raises(ConfigError, match="no fusion strategy"):
        pm.build("caption", fusion="late:mean")


def test_json_nesting_is_limited_whatever_the_recursion_limit():
    """Deep JSON is refused by its depth, not by the interpreter's recursion limit: torch._dynamo
    and hypothesis raise that limit, and then 2,000 levels parsed. Brackets in strings do not count."""
    import sys

    from polymodal.core.errors import InputError
    from polymodal.core.files import MAX_JSON_DEPTH, parse_json
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(InputError, match="body: JSON nested too deeply"):
            parse_json("[" * 2000 + "1" + "]" * 2000, "body")
        with pytest.raises(InputError, match="nested too deeply"):
            parse_json(b'{"a": ' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}", "body")
    finally:
        sys.setrecursionlimit(old)
    assert parse_json('{"a": "[[[\\"[[[", "b": ' + "[" * 50 + "]" * 50 + "}", "body")["a"] == '[[["[[['
