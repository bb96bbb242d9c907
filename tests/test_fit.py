"""`polymodal fit` and `polymodal predict` on a table of image paths, text, numbers, categories
and an ID column, made here from the embedded world; bad tables are one line, exit 2, and
leave nothing behind."""
import contextlib
import csv
import io
import json
import random
import time

import numpy as np
import pytest

from polymodal.cli.main import main
from polymodal.data.table import infer_kind, infer_problem
from polymodal.experiments.fit import split
from polymodal.loading import load_model
from polymodal.tasks.table import TableTask, predict


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """60 scenes: label "red" when a red object is in the image (the caption says so too); the
    object count (plus noise) is a number column, the weather a category that carries nothing."""
    root = tmp_path_factory.mktemp("table")
    assert main(["data", "shapes", "--preset", "shapes", "--split", "train", "--n", "60", "--seed", "3",
                 "--out", str(root / "world")]) == 0
    rng, seen, rows = random.Random(0), set(), []
    for line in (root / "world" / "manifest.jsonl").read_text().splitlines():
        r = json.loads(line)
        if r["image"] in seen:
            continue
        seen.add(r["image"])
        red = any(o["colour"] == "red" for o in r["objects"])
        rows.append({"scene_id": f"s{len(rows):04d}", "image": "world/" + r["image"], "caption": r["caption"],
                     "objects": round(len(r["objects"]) + rng.random(), 3),
                     "weather": rng.choice(["sunny", "rainy", "cloudy"]), "label": "red" if red else "no-red"})
    path = root / "table.csv"
    write_csv(path, rows)
    return path, rows


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def fitted(table, tmp_path_factory):
    """The fit of the table in 20 s: (its folder, seconds taken, what it printed)."""
    path, _ = table
    out = tmp_path_factory.mktemp("fitted") / "fit"
    printed, said = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(said):
        assert main(["fit", str(path), "--label", "label", "--time-budget", "20", "--out", str(out)]) == 0
    return out, time.monotonic() - started, printed.getvalue(), said.getvalue()


def test_fit_infers_the_columns_trains_within_its_budget_and_saves_the_ablation(table, fitted, tmp_path):
    path, rows = table
    out, took, printed, said = fitted
    report = json.loads((out / "report.json").read_text())
    assert report["columns"] == {"scene_id": "id", "image": "image", "caption": "text", "objects": "number",
                                 "weather": "category"}
    assert "scene_id" in report["left_out"] and "scene_id: left out" in said
    assert report["problem"] == "classify" and report["encoders"] == {"image": "cnn", "text": "minilm"}
    assert took <= 20 * 1.1, took
    # the ablation: the full model and one run without each modality, printed and saved
    assert [r["run"] for r in [report["validation"], *report["ablation"]]] == [
        "all", "without image", "without text", "without table"]
    assert "| without text |" in printed and "| without text |" in (out / "ablation.md").read_text()
    assert (out / "ablation.csv").read_text().count("\n") == 5 and (out / "ablation.png").stat().st_size > 1000
    evals = json.loads((out / "metrics.json").read_text())["train"]
    assert evals[-1]["loss"] < evals[0]["loss"]
    assert report["validation"]["accuracy"] >= 0.75
    # the saved model is the best evaluated one: scored again on the same validation rows, it gives the same
    task = TableTask(label="label")
    examples, _ = task.load_data(str(path), n=10 ** 6)
    _, val = split(examples, 0.2, 0, True)
    predicted, _ = predict(load_model(str(out / "model")), val)
    assert np.mean([p == ex.target for p, ex in zip(predicted, val)]) == report["validation"]["accuracy"]
    # predict: a CSV with the row, the ID column and the prediction, as good as the validation says
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(out / "model"), str(path), "--out", str(preds)]) == 0
    written = list(csv.DictReader(open(preds)))
    assert list(written[0]) == ["row", "scene_id", "prediction", "probability"] and len(written) == len(rows)
    assert sum(w["prediction"] == r["label"] for w, r in zip(written, rows)) >= 0.75 * len(rows)


def test_a_budget_that_binds_is_kept_to_within_a_tenth(table, tmp_path):
    import polymodal as pm
    path, _ = table
    started = time.monotonic()
    report = pm.fit(path, "label", tmp_path / "fit", time_budget_s=8, patience=10 ** 6, epochs=10 ** 6)   # no other stop
    took = time.monotonic() - started
    assert 8 * 0.9 <= took <= 8 * 1.1 and 8 * 0.9 <= report["seconds"] <= 8 * 1.1, took
    with pytest.raises(pm.PolymodalError, match="unknown key budget"):
        pm.fit(path, "label", tmp_path / "other", budget=3)


def test_a_pretrained_encoder_that_would_eat_the_budget_gives_way_to_one_from_scratch(table, tmp_path, capsys):
    import polymodal as pm
    path, rows = table
    # texts no other test encodes: the cache must not make MiniLM's first batch look free
    fresh = [{**r, "caption": f"{r['caption']} seen by walker {i * 7919}"} for i, r in enumerate(rows)]
    write_csv(tmp_path / "fresh.csv", fresh)
    (tmp_path / "world").symlink_to(path.parent / "world")
    report = pm.fit(tmp_path / "fresh.csv", "label", tmp_path / "fit", time_budget_s=0.05, ablation=False,
                    columns={"image": "ignore"})
    assert report["encoders"] == {"text": "transformer"}
    assert "minilm would take about" in capsys.readouterr().err
    report = pm.fit(tmp_path / "fresh.csv", "label", tmp_path / "named", time_budget_s=0.05, ablation=False,
                    columns={"image": "ignore"}, encoders={"text": "minilm"})
    assert report["encoders"] == {"text": "minilm"}          # one the user names is kept


def test_fit_regresses_a_number_and_reads_parquet(table, tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    path, rows = table
    numbers = [{**{k: v for k, v in r.items() if k not in ("label", "image")},
                "price": 10.0 * float(r["objects"]) + 0.5 * (r["weather"] == "sunny")} for r in rows]
    pq.write_table(pa.Table.from_pylist(numbers), tmp_path / "prices.parquet")
    out = tmp_path / "fit"
    assert main(["fit", str(tmp_path / "prices.parquet"), "--label", "price", "--time-budget", "8", "--no-ablation",
                 "--column", "caption=ignore", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["problem"] == "regress" and report["metric"] == "rmse" and report["ablation"] == []
    assert report["left_out"]["caption"] == "given"
    spread = (sum((n["price"] - sum(m["price"] for m in numbers) / len(numbers)) ** 2 for n in numbers)
              / len(numbers)) ** 0.5
    assert report["validation"]["rmse"] < spread     # better than predicting the mean
    assert main(["predict", str(out / "model"), str(tmp_path / "prices.parquet"), "--out", str(tmp_path / "p.csv")]) == 0
    assert list(csv.DictReader(open(tmp_path / "p.csv")))[0].keys() == {"row", "scene_id", "prediction"}


@pytest.mark.parametrize("case, says", [
    ("missing image files", "column 'image': 2 of 60 files are missing (first: row 3"),
    ("one class", "has one class ('red') in every row"),
    ("three rows", "3 rows; fit needs at least 10"),
    ("an encoder folder that is not a model", "not a Hugging Face model folder"),
    ("no such label", "no column 'price' for --label"),
])
def test_a_bad_table_is_one_line_exit_2_and_nothing_written(table, tmp_path, capsys, case, says):
    path, rows = table
    bad, extra = tmp_path / "bad.csv", []
    if case == "missing image files":
        write_csv(bad, [{**r, "image": "world/images/gone.png"} if i in (1, 7) else r for i, r in enumerate(rows)])
    elif case == "one class":
        write_csv(bad, [{**r, "label": "red"} for r in rows])
    elif case == "three rows":
        write_csv(bad, rows[:3])
    elif case == "an encoder folder that is not a model":
        (tmp_path / "weights").mkdir()
        (tmp_path / "weights" / "notes.txt").write_text("not a model")
        bad, extra = path, ["--image-encoder", str(tmp_path / "weights")]
    else:
        bad, extra = path, []
    (bad.parent / "world").exists() or (bad.parent / "world").symlink_to(path.parent / "world")
    label = "price" if case == "no such label" else "label"
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["fit", str(bad), "--label", label, *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_predict_refuses_a_table_without_the_models_columns_and_a_model_fit_did_not_make(table, fitted, tmp_path,
                                                                                          capsys):
    path, rows = table
    write_csv(tmp_path / "fewer.csv", [{k: v for k, v in r.items() if k != "caption"} for r in rows])
    (tmp_path / "world").symlink_to(path.parent / "world")
    capsys.readouterr()
    assert main(["predict", str(fitted[0] / "model"), str(tmp_path / "fewer.csv"), "--out", str(tmp_path / "p.csv")]) == 2
    assert "reads column 'caption', which the table lacks" in capsys.readouterr().err
    assert main(["predict", "caption-shapes", str(path), "--out", str(tmp_path / "p.csv")]) == 2
    assert "not one `polymodal fit` made" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("name, values, kind", [
    ("id", [str(i) for i in range(20)], "id"),
    ("row_number", list(range(1, 21)), "id"),                # 1..n once each: a counter
    ("code", [f"x{i:03d}" for i in range(20)], "id"),         # one different word per row
    ("age", [20 + i % 7 for i in range(20)], "number"),
    ("city", ["paris", "oslo", "rome", "paris"] * 5, "category"),
    ("review", [f"a fine product, {i} stars of five" for i in range(20)], "text"),
    ("photo", [f"img/{i}.JPG" for i in range(20)], "image"),
    ("clip", [f"a/{i}.wav" for i in range(20)], "audio"),
    ("blank", [""] * 20, "ignore"),
])
def test_each_columns_kind_is_inferred_from_its_values(name, values, kind):
    assert infer_kind(name, values)[0] == kind


def test_the_problem_follows_the_labels_values():
    assert infer_problem(["cat", "dog"]) == "classify"
    assert infer_problem(["1", "2", "3", "1"]) == "classify"
    assert infer_problem([0.5, 1.25, 3.0]) == "regress"
    assert infer_problem(list(range(100))) == "regress"
