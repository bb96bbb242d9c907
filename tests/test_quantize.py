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
