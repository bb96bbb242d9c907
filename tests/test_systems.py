"""Systems: build-time checks, batched runs with traces, one failing item not stopping the
others, renamed and rewired steps, definitions from YAML, and real models as steps."""
import json

import numpy as np
import pytest

from polymodal.core.errors import ConfigError, InputError
from polymodal.systems import (
    STEPS,
    Step,
    System,
    SystemStepError,
    build_system,
    load_system,
)


def upper():
    return Step("upper", {"text": "text"}, {"loud": "text"}, lambda items: [{"loud": it["text"].upper()} for it in items])


def count():
    def run(items):
        for it in items:
            if "!" in it["loud"]:
                raise InputError("cannot count shouting")
        return [{"n": str(len(it["loud"]))} for it in items]
    return Step("count", {"loud": "text"}, {"n": "text"}, run)


def test_a_chain_runs_batched_and_keeps_a_trace():
    system = System([upper(), count()], {"text": "text"}, ["n"])
    results = system.run([{"text": "abc"}, {"text": "hello"}])
    assert [r.outputs for r in results] == [{"n": "3"}, {"n": "5"}]
    assert results[1].trace == [("upper", {"loud": "HELLO"}), ("count", {"n": "5"})]


def test_a_failing_item_names_the_step_and_input_and_the_others_finish():
    results = System([upper(), count()], {"text": "text"}, ["n"]).run([{"text": "ok"}, {"text": "no!"}, {"text": "x"}])
    assert [r.outputs for r in results] == [{"n": "2"}, {}, {"n": "1"}]
    assert results[1].error == "step 'count' failed on no!: cannot count shouting"
    assert results[1].trace == [("upper", {"loud": "NO!"})]          # how far it got
    with pytest.raises(SystemStepError, match="step 'count'"):
        System([upper(), count()], {"text": "text"}, ["n"])(text="no!")


def counted(step: Step, calls: list) -> Step:
    """The step, noting how many inputs each call is given."""
    def run(items):
        calls.append(len(items))
        return step.fn(items)
    return Step(step.name, step.takes, step.gives, run, step.wiring)


def test_each_step_runs_once_on_each_distinct_input():
    """Items with the same inputs to a step share its outputs: images by content (two opens
    of one scene are one input), texts by value; a bad input fails every item that has it."""
    from polymodal.modalities import Image
    first, second = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)
    looks = Step("looks", {"image": "image"}, {"loud": "text"},
                 lambda items: [{"loud": "DARK!" if it["image"].array.max() == 0 else "LIGHT"} for it in items])
    calls = {"looks": [], "count": []}
    system = System([counted(looks, calls["looks"]), counted(count(), calls["count"])], {"image": "image"}, ["n"])
    items = [{"image": Image.open(a.copy())} for a in (first, second, first, second, second)]
    results = system.run(items)
    assert calls["looks"] == [2]                    # 5 items, 2 distinct images, one batched call
    assert calls["count"] == [2, 1, 1]              # "DARK!" fails the batch, then each distinct input alone
    assert [r.outputs for r in results] == [{}, {"n": "5"}, {}, {"n": "5"}, {"n": "5"}]
    assert results[0].error == results[2].error == "step 'count' failed on an item: cannot count shouting"
    assert results[4].trace == [("looks", {"loud": "LIGHT"}), ("count", {"n": "5"})]


def test_vqa_by_caption_captions_each_scene_once():
    from polymodal.systems.compare import run_system, system_items
    from polymodal.tasks import vqa
    system = load_system("vqa-by-caption")
    calls = {}
    system.steps = [counted(s, calls.setdefault(s.name, [])) for s in system.steps]
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:test", 1, 3)
    questions = sum(len(ex.questions) for ex in examples)
    answers, _ = run_system(system, examples, latency=False)
    assert len(answers.answers) == questions == 60
    assert sum(calls[system.steps[0].name]) == 3                       # the caption step: one call per scene
    distinct = {(it["image"].array.tobytes(), it["question"]) for it in system_items(examples)}
    assert sum(calls[system.steps[-1].name]) <= len(distinct)          # the answer step: each caption and question once


def test_mismatched_chains_are_refused_when_built():
    with pytest.raises(ConfigError, match="step 'count' takes 'loud' \\(text\\), which neither"):
        System([count()], {"text": "text"}, ["n"])
    with pytest.raises(ConfigError, match="step 'upper' takes 'text' as text, but the system's inputs give it as audio"):
        System([upper()], {"text": "audio"}, ["loud"])
    with pytest.raises(ConfigError, match="no step gives its output 'shout'"):
        System([upper()], {"text": "text"}, ["shout"])
    with pytest.raises(ConfigError, match="unknown kind 'smell'"):
        Step("nose", {"air": "smell"}, {}, lambda items: items)


def test_definitions_rename_and_rewire(tmp_path, monkeypatch):
    monkeypatch.setitem(STEPS._builders, "upper", upper)
    monkeypatch.setitem(STEPS._builders, "count", count)
    system = build_system({"inputs": {"words": "text"}, "outputs": ["size"],
                           "steps": [{"step": "upper", "takes": {"text": "words"}},
                                     {"step": "count", "gives": {"n": "size"}}]})
    assert system(words="four").outputs == {"size": "4"}
    with pytest.raises(ConfigError, match="gives loud, not 'noise'"):
        build_system({"inputs": {"text": "text"}, "outputs": [], "steps": [{"step": "upper", "gives": {"noise": "x"}}]})
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ninputs: {text: text}\nsteps:\n  - {step: upper}\noutputs: [loud]\n")
    assert load_system(path)(text="hi").outputs == {"loud": "HI"}
    path.write_text("inputs: [")
    with pytest.raises(InputError, match="not valid YAML"):
        load_system(path)
    with pytest.raises(InputError, match="not a built-in system"):
        load_system(tmp_path / "nowhere.yaml")


def test_real_models_as_steps_speak_and_listen():
    """eSpeak speaks the shipped VQA model's answer; pocketsphinx hears it back."""
    from polymodal.data import shapes
    system = build_system({"inputs": {"image": "image", "question": "text"}, "outputs": ["answer", "heard"],
                           "steps": [{"step": "vqa"}, {"step": "speak", "voice": "en-us", "takes": {"text": "answer"}},
                                     {"step": "transcribe", "model": "pocketsphinx-answers", "gives": {"text": "heard"}}]})
    scenes = shapes("sort-of-clevr", "test", 1, 2)
    items = [{"image": s.image, "question": q.question} for s in scenes for q in s.questions]
    results = system.run(items + [{"image": scenes[0].image, "question": ""}])
    heard = sum(r.error is None and r.outputs["heard"] == r.outputs["answer"] for r in results[:40])
    assert heard >= 24, heard                      # pocketsphinx mishears some single words; most come back
    assert results[40].error.startswith("step 'vqa' failed") and "empty" in results[40].error
    assert isinstance(results[0].trace[1][1]["audio"].waveform, np.ndarray)


def test_system_cli(tmp_path, capsys):
    from PIL import Image

    from polymodal.cli.main import main
    from polymodal.data import shapes
    capsys.readouterr()
    assert main(["system", "list"]) == 0
    listed = capsys.readouterr().out
    assert "voice-assistant\ttranscribe -> vqa -> speak" in listed and "detect\tdetect" in listed
    scene = shapes("shapes", "test", 2, 1)[0]
    Image.fromarray(scene.image).save(tmp_path / "scene.png")
    labels = ",".join(f"{o.colour} {o.shape}" for o in scene.objects)
    assert main(["system", "run", "detect", "--image", str(tmp_path / "scene.png"), "--text", f"labels={labels}",
                 "--json", "--trace"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [b["label"] for b in out["boxes"]] == labels.split(",") and out["trace"][0]["step"] == "detect"
    from polymodal.tasks.metrics.boxes import iou
    assert all(iou(b["box"], o.box()) >= 0.5 for b, o in zip(out["boxes"], scene.objects))   # the shipped grounder
    assert main(["system", "run", "voice-assistant", "--image", str(tmp_path / "scene.png")]) == 2
    assert "needs audio" in capsys.readouterr().err
