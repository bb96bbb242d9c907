"""The fusion-table command end to end at a tiny size: every strategy row, the paper's rows,
the JSON and the plot (the committed table is `make fusion-table`, not a test)."""
import json

from polymodal.cli.main import main


def test_compare_fusion_writes_table_json_and_plot(tmp_path, capsys):
    out, runs = tmp_path / "results", tmp_path / "runs"
    assert main(["compare-fusion", "--fusions", "early:feature,late:mean", "--n", "40", "--steps", "2",
                 "--pretrain-steps", "2", "--test-n", "5", "--out", str(out), "--runs", str(runs)]) == 0
    table = (out / "fusion_table.md").read_text()
    assert "`early:feature`" in table and "`late:mean`" in table
    assert "paper: CNN+MLP | 63%" in table and "paper: CNN+RN | >94%" in table
    assert "| answer priors (most common answer per question type) |" in table
    rows = json.loads((out / "fusion_table.json").read_text())["rows"]
    assert [r["fusion"] for r in rows] == ["early:feature", "late:mean"]
    assert all(0 <= r["relational"] <= 1 and r["parameters"] > 0 and r["test_questions"] == 100 for r in rows)
    assert (out / "fusion_table.png").stat().st_size > 1000
    assert (runs / "early:feature" / "model" / "model.safetensors").exists()
    assert "pretrained on the scenes alone (2 steps" in table     # the shared encoder, said in the note


def test_compare_fusion_refuses_unknown_strategies(tmp_path, capsys):
    assert main(["compare-fusion", "--fusions", "early:nope", "--out", str(tmp_path)]) == 2
    assert "early:nope" in capsys.readouterr().err


def test_a_rerun_reproduces_the_table(tmp_path, capsys):
    """Same seeds, same figures: the committed table's rerun check at a tiny size."""
    rows = []
    for attempt in ("first", "second"):
        out, runs = tmp_path / attempt / "results", tmp_path / attempt / "runs"
        assert main(["compare-fusion", "--fusions", "hybrid:cross-attention", "--n", "40", "--steps", "3",
                     "--pretrain-steps", "2", "--test-n", "4", "--out", str(out), "--runs", str(runs)]) == 0
        rows.append(json.loads((out / "fusion_table.json").read_text())["rows"][0])
    keep = ("relational", "non_relational", "per_type", "parameters")
    assert {k: rows[0][k] for k in keep} == {k: rows[1][k] for k in keep}
