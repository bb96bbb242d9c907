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


def test_on_a_manifest_with_a_frozen_pretrained_tower_the_table_costs_one_encoding_pass(tmp_path, tiny_vit_dir,
                                                                                          capsys):
    for split, n in (("train", 12), ("val", 4)):
        # a seed no other test draws: the cache is per process, and these images must be new to it
        assert main(["data", "shapes", "--preset", "sort-of-clevr", "--split", split, "--seed", "917", "--n", str(n),
                     "--out", str(tmp_path / split)]) == 0
    out = tmp_path / "results"
    argv = ["compare-fusion", "--data", str(tmp_path / "train" / "manifest.jsonl"), "--image-encoder",
            str(tiny_vit_dir), "--fusions", "early:feature,late:mean,hybrid:film", "--steps", "4", "--batch-size", "4",
            "--out", str(out), "--runs", str(tmp_path / "runs")]
    assert main(argv) == 2 and "needs --val" in capsys.readouterr().err
    assert main(argv + ["--val", str(tmp_path / "val" / "manifest.jsonl")]) == 0
    rows = json.loads((out / "fusion_table.json").read_text())["rows"]
    assert [r["fusion"] for r in rows] == ["early:feature", "late:mean", "hybrid:film"]
    # 16 distinct images: each embedded once by the first strategy, read back by the others
    assert [r["embeddings_computed"] for r in rows] == [16, 0, 0]
    assert all(r["embeddings_reused"] > 0 for r in rows) and all(0 <= r["accuracy"] <= 1 for r in rows)
    assert "| `hybrid:film` |" in (out / "fusion_table.md").read_text() and (out / "fusion_table.png").exists()
    assert main(argv[:-4] + ["--val", str(tmp_path / "val" / "manifest.jsonl"), "--fusions", "hybrid:relation",
                             "--out", str(out), "--runs", str(tmp_path / "runs")]) == 2
    assert "no fusion-table settings for hybrid:relation on a manifest" in capsys.readouterr().err
