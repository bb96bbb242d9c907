"""The command-line contract: output shapes, exit status 2 with one
stderr line naming the bad input, and no traceback. Mostly in-process through cli.main; a
few through the installed `polymodal` command for the real exit status."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image as PILImage

from polymodal.cli.main import main

QUESTION = "what is the shape of the red object?"
FAMILIES = {"shape", "left", "top", "closest", "furthest", "count"}
ROOT = Path(__file__).resolve().parents[1]
EXE = next((p for p in (ROOT / ".venv" / "bin" / "polymodal", Path(sys.executable).parent / "polymodal")
            if p.exists()), None)


def assert_one_line_error(rc, capsys, *names) -> str:
    """Exit 2, nothing on stdout, exactly one stderr line that contains every one of names."""
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("polymodal: error: ")
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    assert out == ""
    return lines[0]


def labels(model: Path) -> list[str]:
    return json.loads((model / "config.json").read_text())["labels"]


def rows(manifest: Path) -> list[dict]:
    return [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]


def write_rows(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def bad_manifest(shapes_manifest):
    """A copy of the exported manifest (same folder) whose row 2 lacks `question` and whose
    row 4 is not JSON; the other 58 rows are good."""
    lines = shapes_manifest.read_text().splitlines()
    row2 = json.loads(lines[1])
    del row2["question"]
    path = shapes_manifest.with_name("bad.jsonl")
    write_rows(path, [lines[0], json.dumps(row2), lines[2], "{not json", *lines[3:]])
    yield path
    path.unlink()


@pytest.fixture
def png(shapes_manifest) -> Path:
    return shapes_manifest.parent / rows(shapes_manifest)[0]["image"]


# -- data shapes -------------------------------------------------------------------------


def test_data_shapes_writes_pngs_and_a_manifest_relative_to_itself(shapes_manifest):
    table = rows(shapes_manifest)
    assert len(table) == 3 * 20
    for row in table:
        assert {"image", "question", "answer", "family"} <= set(row)
        assert not Path(row["image"]).is_absolute()
        assert row["family"] in FAMILIES and row["question"].endswith("?")
    images = sorted({row["image"] for row in table})
    assert len(images) == 3
    assert [sum(r["image"] == im for r in table) for im in images] == [20, 20, 20]
    for im in images:
        with PILImage.open(shapes_manifest.parent / im) as pil:
            assert (pil.format, pil.size) == ("PNG", (75, 75))


@pytest.mark.parametrize("flag", ["--preset", "--split"])
def test_data_shapes_unknown_preset_or_split(flag, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["data", "shapes", flag, "nope", "--n", "1", "--out", str(out)])
    assert_one_line_error(rc, capsys, "'nope'", "known:")
    assert not out.exists()


def test_out_that_is_a_file_is_an_error_not_a_traceback(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("")
    rc = main(["data", "shapes", "--n", "1", "--out", str(taken)])
    assert_one_line_error(rc, capsys, taken)


@pytest.mark.parametrize("argv", [["data", "shapes", "--n", "0", "--out", "x"],
                                  ["eval", "vqa", "--data", "shapes:sort-of-clevr:test", "--batch-size", "0"]])
def test_counts_below_one_are_usage_errors(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "0 is outside the allowed range: between 1 and" in err


# -- eval --------------------------------------------------------------------------------


def check_metrics(metrics: dict, questions: int) -> None:
    assert metrics["questions"] == questions
    for key in ("accuracy", "relational_accuracy", "non_relational_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert set(metrics["per_type"]) == FAMILIES
    assert all(0.0 <= v <= 1.0 for v in metrics["per_type"].values())


def test_eval_json_prints_one_object(trained_model, capsys):
    rc = main(["eval", "vqa", "--data", "shapes:sort-of-clevr:test", "--seed", "2", "--n", "3",
               "--model", str(trained_model), "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    check_metrics(json.loads(out), 60)          # json.loads: the whole stdout is one object


def test_eval_on_the_exported_manifest_matches_the_generated_scenes(trained_model, shapes_manifest, capsys):
    model = ["--model", str(trained_model), "--json"]
    assert main(["eval", "vqa", "--data", str(shapes_manifest), *model]) == 0
    from_manifest = json.loads(capsys.readouterr().out)
    check_metrics(from_manifest, 60)
    assert main(["eval", "vqa", "--data", "shapes:sort-of-clevr:test", "--seed", "3", "--n", "3", *model]) == 0
    assert json.loads(capsys.readouterr().out) == from_manifest    # PNG is lossless: same answers


# -- ask ---------------------------------------------------------------------------------


def test_ask_one_image(trained_model, png, capsys):
    assert main(["ask", str(png), QUESTION, "--model", str(trained_model)]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1
    assert out.strip() in labels(trained_model)


def test_ask_a_folder_answers_each_image(trained_model, png, capsys):
    assert main(["ask", str(png.parent), QUESTION, "--model", str(trained_model)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(p) for p in sorted(png.parent.glob("*.png"))]
    for line in lines:
        image, question, answer, score = line.split("\t")
        assert question == QUESTION and answer in labels(trained_model) and 0 <= float(score) <= 1


def test_ask_data_manifest_json_one_line_per_row(trained_model, shapes_manifest, capsys):
    assert main(["ask", "--data", str(shapes_manifest), "--model", str(trained_model), "--json"]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    table = rows(shapes_manifest)
    assert [a["question"] for a in answers] == [r["question"] for r in table]
    assert [a["image"] for a in answers] == [str(shapes_manifest.parent / r["image"]) for r in table]
    assert all(a["answer"] in labels(trained_model) and 0 <= a["score"] <= 1 for a in answers)


# -- bad input: exit 2, one line naming it ------------------------------------------------


def test_ask_corrupt_png(trained_model, tmp_path, capsys):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(97, 161)))
    rc = main(["ask", str(bad), QUESTION, "--model", str(trained_model)])
    assert_one_line_error(rc, capsys, bad, "not a readable image")


def test_ask_truncated_png(trained_model, png, tmp_path, capsys):
    bad = tmp_path / "truncated.png"
    data = png.read_bytes()
    bad.write_bytes(data[:len(data) // 2])
    rc = main(["ask", str(bad), QUESTION, "--model", str(trained_model)])
    assert_one_line_error(rc, capsys, bad, "truncated or corrupt")


def test_ask_missing_image(trained_model, tmp_path, capsys):
    missing = tmp_path / "nowhere.png"
    rc = main(["ask", str(missing), QUESTION, "--model", str(trained_model)])
    assert_one_line_error(rc, capsys, missing, "no such file")


def test_ask_unknown_word_names_the_word(trained_model, png, capsys):
    rc = main(["ask", str(png), "what is the shape of the purple object?", "--model", str(trained_model)])
    assert_one_line_error(rc, capsys, "unknown word 'purple'")


@pytest.mark.parametrize("verb", [["eval", "vqa"], ["ask"]])
def test_malformed_manifest_row_is_named(verb, trained_model, bad_manifest, capsys):
    rc = main([*verb, "--data", str(bad_manifest), "--model", str(trained_model)])
    assert_one_line_error(rc, capsys, f"{bad_manifest} row 2", "missing column 'question'")


def test_invalid_json_row_is_named(trained_model, shapes_manifest, tmp_path, capsys):
    lines = shapes_manifest.read_text().splitlines()
    bad = write_rows(shapes_manifest.with_name("badjson.jsonl"), [*lines[:2], "{not json", *lines[2:]])
    try:
        rc = main(["eval", "vqa", "--data", str(bad), "--model", str(trained_model)])
    finally:
        bad.unlink()
    assert_one_line_error(rc, capsys, f"{bad} row 3", "invalid JSON")


def test_train_skips_bad_rows_and_lists_them(bad_manifest, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--task", "vqa", "--data", str(bad_manifest), "--fusion", "early:feature",
               "--epochs", "1", "--batch-size", "1", "--on-bad-rows", "skip", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["step"] == 3            # 3 images, batch of 1
    skipped = rows(out / "skipped_rows.jsonl")
    assert [s["row"] for s in skipped] == [2, 4]
    assert "missing column 'question'" in skipped[0]["reason"] and "invalid JSON" in skipped[1]["reason"]
    assert (out / "model" / "model.safetensors").is_file()


def test_train_unknown_fusion_lists_the_known_ones(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--task", "vqa", "--data", "shapes:sort-of-clevr:train", "--n", "2",
               "--fusion", "nope", "--epochs", "1", "--batch-size", "2", "--out", str(out)])
    assert_one_line_error(rc, capsys, "unknown fusion 'nope'", "early:feature", "hybrid:cross-attention", "late:mean")
    assert not (out / "model").exists()


def test_model_directory_that_does_not_exist(png, tmp_path, capsys):
    missing = tmp_path / "no-model"
    rc = main(["ask", str(png), QUESTION, "--model", str(missing)])
    assert_one_line_error(rc, capsys, missing, "nor a local directory")


def test_corrupt_model_weights(trained_model, png, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(trained_model / "config.json", broken / "config.json")
    (broken / "model.safetensors").write_bytes(bytes(range(256)) * 4)
    rc = main(["ask", str(png), QUESTION, "--model", str(broken)])
    assert_one_line_error(rc, capsys, broken / "model.safetensors", "not a readable safetensors file")


def test_resume_without_a_checkpoint(tmp_path, capsys):
    rc = main(["train", "--task", "vqa", "--data", "shapes:sort-of-clevr:train", "--n", "2",
               "--fusion", "early:feature", "--epochs", "1", "--batch-size", "2", "--out", str(tmp_path),
               "--resume"])
    assert_one_line_error(rc, capsys, tmp_path, "nothing to resume")
    assert not (tmp_path / "model").exists()


# -- the installed command: real exit status, no traceback -----------------------------


def run_cli(*args) -> subprocess.CompletedProcess:
    assert EXE is not None, "no polymodal command next to this Python"
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=120, env=env)


def test_command_exit_0_and_one_json_object(trained_model):
    r = run_cli("eval", "vqa", "--data", "shapes:sort-of-clevr:test", "--seed", "2", "--n", "1",
                "--model", trained_model, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["questions"] == 20


@pytest.mark.parametrize("case", ["corrupt-image", "bad-manifest-row"])
def test_command_bad_input_exit_2_without_traceback(case, trained_model, bad_manifest, tmp_path):
    if case == "corrupt-image":
        bad = tmp_path / "corrupt.png"
        bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(64)))
        r, named = run_cli("ask", bad, QUESTION, "--model", trained_model), str(bad)
    else:
        r, named = run_cli("eval", "vqa", "--data", bad_manifest, "--model", trained_model), "row 2"
    assert r.returncode == 2
    assert "Traceback" not in r.stdout + r.stderr and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], r.stderr


# -- review follow-ups ---------------------------------------------------------------------

def test_corrupt_image_in_a_manifest_is_a_bad_row(shapes_manifest, trained_model, tmp_path, capsys):
    """Images are decoded when the manifest is read: a corrupt one is a named, skippable row,
    not a crash in the middle of training."""
    folder = shapes_manifest.parent
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    lines = shapes_manifest.read_text().splitlines()
    row = json.loads(lines[0]) | {"image": "broken.png"}
    path = write_rows(folder / "with-broken.jsonl", [json.dumps(row), *lines[1:20]])
    try:
        rc = main(["eval", "vqa", "--data", str(path), "--model", str(trained_model)])
        assert_one_line_error(rc, capsys, f"{path} row 1", "broken.png")
        out = tmp_path / "run"
        assert main(["train", "--task", "vqa", "--data", str(path), "--fusion", "early:feature", "--epochs", "1",
                     "--batch-size", "1", "--on-bad-rows", "skip", "--out", str(out)]) == 0
        assert "skipped" in capsys.readouterr().err
        assert [r["row"] for r in rows(out / "skipped_rows.jsonl")] == [1]
    finally:
        path.unlink()
        (folder / "broken.png").unlink()


def test_numbers_in_json_text_columns_are_read_as_text(shapes_manifest, trained_model, capsys):
    lines = shapes_manifest.read_text().splitlines()
    first = json.loads(lines[0])
    path = write_rows(shapes_manifest.with_name("numeric.jsonl"),
                      [json.dumps(first | {"answer": 3, "family": "count"}), *lines[1:20]])
    try:
        assert main(["eval", "vqa", "--data", str(path), "--model", str(trained_model), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["questions"] == 20   # the int answer is "3", counted
    finally:
        path.unlink()


def test_ask_generated_scenes_and_image_lists(trained_model, png, tmp_path, capsys):
    assert main(["ask", "--data", "shapes:sort-of-clevr:test", "--n", "1", "--model", str(trained_model),
                 "--json"]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(answers) == 20 and answers[0]["image"] == "shapes:sort-of-clevr:test#0"
    listing = tmp_path / "list.txt"
    listing.write_text(f"{png}\n\n{png}\n")
    assert main(["ask", str(listing), QUESTION, "--model", str(trained_model)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_recipe_without_a_model_is_a_one_line_error(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("task: vqa\ndata: {spec: 'shapes:sort-of-clevr:train', n: 2}\n")
    rc = main(["train", "--recipe", str(recipe), "--out", str(tmp_path / "run")])
    assert_one_line_error(rc, capsys, "model")


def test_a_missing_modality_is_refused_by_fusions_that_need_it(trained_model):
    from polymodal.core.errors import InputError
    from polymodal.models.multimodal import MultimodalModel
    model = MultimodalModel.from_pretrained(trained_model)
    batch = model.preprocess({"text": [QUESTION]})
    with pytest.raises(InputError, match="needs image"):
        model(batch)


@pytest.mark.parametrize("verb", ["caption", "classify"])
def test_results_are_printed_batch_by_batch(verb, shapes_manifest, monkeypatch):
    """Many inputs: each batch's lines are out (flushed) before the next batch runs, so a pipe
    sees the first results early; and every image is opened before the first batch runs."""
    from polymodal.cli.commands import align as align_verbs
    from polymodal.cli.commands import caption as caption_verb
    from polymodal.inference import pipelines
    events = []
    method = {"caption": (pipelines.CaptionPipeline, "batch"), "classify": (pipelines.AlignPipeline, "classify")}[verb]
    run = getattr(*method)

    def logged(self, items, *args, **kwargs):
        events.append(f"run {len(items)}")
        return run(self, items, *args, **kwargs)
    monkeypatch.setattr(*method, logged)
    monkeypatch.setattr({"caption": caption_verb, "classify": align_verbs}[verb], "emit", lambda line: events.append("line"))
    from polymodal.tasks import align
    embed_labels = align.label_vectors
    monkeypatch.setattr(align, "label_vectors", lambda *a, **k: events.append("labels") or embed_labels(*a, **k))
    folder = shapes_manifest.parent / "images"
    extra = ["--labels", "red circle,blue square"] if verb == "classify" else []
    assert main([verb, str(folder), "--batch-size", "2", *extra]) == 0
    n = len(list(folder.glob("*.png")))
    assert n >= 3
    expected = []
    for start in range(0, n, 2):
        expected += [f"run {min(2, n - start)}"] + ["labels"] * (verb == "classify" and start == 0) + \
            ["line"] * min(2, n - start)
    assert events == expected              # classify: the labels' prompts embedded once, not once a batch


@pytest.mark.parametrize("argv, code", [(["data", "shapes", "--preset", "shapes", "--split", "test", "--n", "2"], 0),
                                        (["data", "shapes", "--preset", "nope"], 2)])
def test_the_command_skips_the_teardown_but_not_what_the_program_registered_to_run_at_exit(argv, code, tmp_path):
    """entry() ends the process at once after main (no freeing of every module's objects); the
    program's atexit functions still run and the exit status is main's."""
    marker, out = tmp_path / "atexit-ran", tmp_path / "scenes"
    script = ("import atexit, sys; from pathlib import Path; from polymodal.cli.main import entry; "
              f"atexit.register(Path({str(marker)!r}).write_text, 'yes'); "
              f"sys.argv = ['polymodal', *{argv!r}, '--out', {str(out)!r}]; entry()")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == code, r.stderr
    assert marker.read_text() == "yes"
    assert ("wrote 2 shapes scenes" in r.stderr) == (code == 0)
