"""int8 dynamic quantization (`pm.load(..., precision="int8")`): linear layers become int8,
the answers stay those of fp32 on most questions, and what cannot be quantized is refused."""
import pytest
import torch

import polymodal as pm
from polymodal.core.errors import InputError
from polymodal.tasks import vqa


def test_int8_vqa_answers_as_fp32_does():
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:test", 3, 5)
    items = [(ex.image, q.text) for ex in examples for q in ex.questions]
    fp32 = [a.text for a in pm.load("vqa").batch(items)]
    int8 = pm.load("vqa", precision="int8")
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in int8.model.modules())
    assert not any(type(m) is torch.nn.Linear for m in int8.model.modules())
    same = sum(a == b.text for a, b in zip(fp32, int8.batch(items)))
    assert same >= 0.95 * len(items), (same, len(items))


def test_int8_is_refused_where_it_cannot_run():
    with pytest.raises(InputError, match="runs on a CPU"):
        pm.load("vqa", device="cuda", precision="int8")
    with pytest.raises(InputError, match="has none"):
        pm.load("speak", "espeak", precision="int8")


def test_verbs_and_batch_jobs_take_precision_int8(tmp_path, capsys):
    import pyarrow.parquet as pq
    from PIL import Image

    from polymodal.cli.main import main
    from polymodal.data import shapes
    scene = shapes("shapes", "test", 4, 1)[0]
    (tmp_path / "scenes").mkdir()
    Image.fromarray(scene.image).save(tmp_path / "scenes" / "a.png")
    capsys.readouterr()
    assert main(["caption", str(tmp_path / "scenes" / "a.png"), "--precision", "int8"]) == 0
    assert capsys.readouterr().out.strip().startswith("a ")
    assert main(["caption", str(tmp_path / "scenes"), "--precision", "int8", "--out", str(tmp_path / "c.parquet")]) == 0
    assert pq.read_table(tmp_path / "c.parquet").num_rows == 1
    assert main(["caption", str(tmp_path / "scenes"), "--precision", "int4"]) == 2
    assert "--precision" in capsys.readouterr().err
