"""`polymodal compare`: an end-to-end model beside a system on the same questions, and the
error attribution that reruns the chain from the true caption."""
import json

import yaml

from polymodal.cli.main import main
from polymodal.data.world import shapes
from polymodal.systems import compare as harness
from polymodal.systems.core import Step, System
from polymodal.tasks import vqa
from polymodal.training import run as training_run

SPEC, SEED, N = "shapes:sort-of-clevr:test", 7, 2


def scripted_chain(scenes) -> System:
    """A captioner that is right except on the first scene, and a reader that answers every
    question right from the true caption except "closest" ones (which it always misses)."""
    truth = {scene.image.tobytes(): scene.caption for scene in scenes}
    answers = {(scene.caption, q.question): q.answer for scene in scenes for q in scene.questions}
    first = scenes[0].image.tobytes()

    def caption(items):
        return [{"caption": "nothing" if it["image"].array.tobytes() == first else truth[it["image"].array.tobytes()]}
                for it in items]

    def read(items):
        return [{"answer": "no" if "closest" in it["question"] else answers.get((it["context"], it["question"]), "no")}
                for it in items]
    return System([Step("caption", {"image": "image"}, {"caption": "text"}, caption, parameters=5),
                   Step("reader", {"context": "text", "question": "text"}, {"answer": "text"}, read,
                        wiring={"context": "caption"}, parameters=7)],
                  {"image": "image", "question": "text"}, ["caption", "answer"], "scripted")


def test_attribution_blames_the_captioner_only_where_the_true_caption_gives_the_answer():
    scenes = shapes("sort-of-clevr", "test", SEED, N)
    examples, _ = vqa.load_examples(SPEC, SEED, N)
    report = harness.compare(None, scripted_chain(scenes), examples, harness.references(SPEC, SEED, N),
                             {"spec": SPEC, "seed": SEED, "n": N})
    model, system = report["rows"]
    assert model["kind"] == "model" and system["kind"] == "system" and system["parameters"] == 12
    a = report["attribution"]["caption"]
    assert a["step"] == "caption" and a["same_as_reference"] == 0.5

    def wrong(q, answer="no"):
        return q.answer != answer
    first, second = scenes[0].questions, scenes[1].questions
    for family, c in a["per_type"].items():
        qs0 = [q for q in first if q.family == family]
        qs1 = [q for q in second if q.family == family]
        assert c["questions"] == len(qs0) + len(qs1)
        if family == "closest":           # the reader misses these whatever the caption
            assert c["lost_at"] == 0 and c["right"] == sum(not wrong(q) for q in qs0 + qs1)
        else:                             # the first scene's are lost at the captioner, unless "no" was right
            assert c["lost_after"] == 0 and c["lost_at"] == sum(wrong(q) for q in qs0)
            assert c["right"] == len(qs1) + sum(not wrong(q) for q in qs0)
    table = harness.markdown(report, "polymodal compare ...", "test machine")
    assert "system `scripted`" in table and "lost at `caption`" in table


def test_compare_cli_runs_a_yaml_chain_of_trained_models(tmp_path, capsys):
    models = {}
    for task, recipe in (("caption", "caption-sort-of-clevr"), ("text-qa", "text-qa-sort-of-clevr")):
        spec = yaml.safe_load(open(f"recipes/{recipe}.yaml"))
        spec["data"]["n"], spec["train"] = 8, {"epochs": 1, "batch_size": 8, "seed": 1}
        spec.pop("val")
        training_run.run(spec, tmp_path / task)
        models[task] = str(tmp_path / task / "model")
    chain = {"name": "tiny-chain", "inputs": {"image": "image", "question": "text"}, "outputs": ["caption", "answer"],
             "steps": [{"step": "caption", "model": models["caption"]},
                       {"step": "answer-from-text", "model": models["text-qa"], "takes": {"context": "caption"}}]}
    (tmp_path / "chain.yaml").write_text(yaml.safe_dump(chain))
    assert main(["compare", "--system", str(tmp_path / "chain.yaml"), "--data", SPEC, "--seed", "7", "--n", "1",
                 "--out", str(tmp_path / "cmp"), "--json"]) == 0
    report = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [r["name"] for r in report["rows"]] == ["vqa-sort-of-clevr", "tiny-chain"]
    counts = report["attribution"]["caption"]["per_type"].values()
    assert sum(c["right"] + c["lost_at"] + c["lost_after"] for c in counts) == report["data"]["questions"] == 20
    assert "lost at `caption`" in (tmp_path / "cmp" / "compare.md").read_text()


def test_compare_refuses_a_system_without_an_answer(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"name": "c", "inputs": {"image": "image"}, "outputs": ["caption"],
                                                     "steps": [{"step": "caption"}]}))
    assert main(["compare", "--system", str(tmp_path / "s.yaml"), "--data", SPEC, "--n", "1"]) == 2
    assert "needs 'answer'" in capsys.readouterr().err


def test_eval_takes_a_system_where_a_model_would_be(tmp_path, capsys):
    chain = {"name": "vqa-only", "inputs": {"image": "image", "question": "text"}, "outputs": ["answer"],
             "steps": [{"step": "vqa"}]}                      # the shipped model, as a one-step system
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(chain))
    args = ["--data", SPEC, "--seed", "7", "--n", "2", "--json"]
    assert main(["eval", "vqa", *args]) == 0
    direct = json.loads(capsys.readouterr().out)
    assert main(["eval", "vqa", "--system", str(tmp_path / "s.yaml"), *args]) == 0
    assert json.loads(capsys.readouterr().out) == direct
    assert main(["eval", "caption", "--system", str(tmp_path / "s.yaml"), *args]) == 2
    assert "not caption" in capsys.readouterr().err


def test_a_text_question_answerer_reads_misread_words_as_unknown(tmp_path):
    from polymodal.inference.registry import PIPELINES
    recipe = yaml.safe_load(open("recipes/text-qa-signs.yaml"))
    recipe["data"]["n"], recipe["train"] = 8, {"epochs": 1, "batch_size": 8, "seed": 1}
    recipe.pop("val")
    training_run.run(recipe, tmp_path / "qa")
    from polymodal.loading import load_model
    qa = PIPELINES.build("text-qa", load_model(tmp_path / "qa" / "model"))
    assert qa("doop egg", "what is the last word?").text in qa.model.config.labels    # "doop": never seen


def test_the_ocr_step_reads_signs_left_to_right():
    from polymodal.data.world import shapes
    from polymodal.systems.steps import STEPS
    scenes = shapes("signs", "test", 7, 2)                   # "pen car", "bus cat": read right
    read = STEPS.build("read-text")
    assert [r["text"] for r in read.fn([{"image": s.image} for s in scenes])] == [s.transcript for s in scenes]


def test_a_voice_assistant_is_asked_in_test_voices_and_heard_back(capsys):
    """Spoken questions reach a system that takes audio; its spoken answers are transcribed
    back; an item the recogniser heard nothing of is a wrong answer, not a crash."""
    from polymodal.speech.text import normalize_transcript
    from polymodal.systems.definition import load_system
    examples, _ = vqa.load_examples(SPEC, SEED, 1, spoken=True)
    items = harness.system_items(examples, {"image": "image", "audio": "audio"})
    assert all(it["audio"].duration > 0.5 for it in items)
    from polymodal.data.spoken.voices import all_voices
    voices = {it["audio"].source.strip("<").split("@")[0] for it in items}
    assert voices <= set(all_voices("test")) and not voices & set(all_voices("train"))
    system = load_system("voice-assistant")
    answers, results = harness.run_system(system, examples, latency=False)
    heard = harness.heard_back(results, "pocketsphinx-answers")
    answered = [(a, h) for a, h, r in zip(answers.answers, heard, results) if not r.error]
    assert answered and answers.failed == len(results) - len(answered)
    # what the assistant said is what a listener hears (eSpeak -> pocketsphinx, answers only)
    assert sum(normalize_transcript(a) == h for a, h in answered) >= 0.8 * len(answered)
    assert main(["eval", "vqa", "--system", "voice-assistant", "--data", SPEC, "--seed", "7", "--n", "1",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0 <= report["spoken_answer"]["accuracy"] <= 1 and report["spoken_answer"]["questions"] == 20
