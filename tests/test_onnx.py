"""ONNX export of a model's encoders (`polymodal export --format onnx`) and running them with
ONNX Runtime (`pm.load(..., runtime="onnx")`): the same answers as PyTorch, a checked export,
and one line for what cannot be exported or run."""
import json

import numpy as np
import pytest

import polymodal as pm
from polymodal.cli.main import main
from polymodal.core.errors import InputError
from polymodal.inference.onnx_runtime import OnnxEncoder
from polymodal.tasks import vqa


def test_exported_encoders_answer_as_pytorch_does(tmp_path, capsys):
    out = tmp_path / "vqa-onnx"
    capsys.readouterr()
    assert main(["export", "vqa-sort-of-clevr", "--format", "onnx", "--out", str(out)]) == 0
    parts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["part"] for p in parts] == ["encoders.image", "encoders.text"]
    assert all(p["max_difference"] < 1e-4 for p in parts)
    assert (out / "config.json").is_file() and (out / "onnx" / "encoders.image.onnx").is_file()
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:test", 3, 5)
    items = [(ex.image, q.text) for ex in examples for q in ex.questions]
    onnx = pm.load("vqa", str(out), runtime="onnx")
    assert all(isinstance(e, OnnxEncoder) for e in onnx.model.encoders.values())
    assert [a.text for a in onnx.batch(items)] == [a.text for a in pm.load("vqa").batch(items)]
    assert main(["export", "vqa-sort-of-clevr", "--out", str(out)]) == 2          # never over an existing folder
    assert "exists already" in capsys.readouterr().err
    from PIL import Image
    Image.fromarray(examples[0].image).save(tmp_path / "scene.png")
    question = examples[0].questions[0].text
    assert main(["ask", str(tmp_path / "scene.png"), question, "--model", str(out), "--runtime", "onnx"]) == 0
    assert capsys.readouterr().out.split("\t")[0].strip() == pm.load("vqa")(examples[0].image, question).text


def test_what_cannot_be_exported_or_run_is_one_line(tmp_path, capsys):
    capsys.readouterr()
    assert main(["export", "tts-spoken-world", "--out", str(tmp_path / "tts")]) == 2
    assert "nothing to export" in capsys.readouterr().err and not (tmp_path / "tts").exists()
    with pytest.raises(InputError, match="no ONNX export in it"):
        pm.load("vqa", runtime="onnx")
    with pytest.raises(InputError, match="runtime must be one of torch, onnx"):
        pm.load("vqa", runtime="tensorrt")
    with pytest.raises(InputError, match="runs fp32 on a CPU"):
        pm.load("vqa", precision="bf16", runtime="onnx")


def test_recogniser_with_its_encoder_in_onnx_transcribes_as_pytorch_does(tmp_path, capsys):
    """The recogniser reads its windows from the encoder's processor, which the ONNX encoder
    keeps: the exported asr-spoken-world transcribes, long audio too, as PyTorch does."""
    from polymodal.speech.espeak import Voice, synthesize
    out = tmp_path / "asr-onnx"
    assert main(["export", "asr-spoken-world", "--format", "onnx", "--out", str(out)]) == 0
    capsys.readouterr()
    wave, rate = synthesize("the red circle is left of the blue square", Voice())
    long = (np.concatenate([wave] * 12), rate)          # longer than one window
    onnx, torch_path = pm.load("transcribe", str(out), runtime="onnx"), pm.load("transcribe", "asr-spoken-world")
    assert [t.text for t in onnx.batch([(wave, rate), long])] == [t.text for t in torch_path.batch([(wave, rate), long])]


def test_a_speech_readers_audio_encoder_runs_in_onnx(tmp_path, capsys):
    """vqa-spoken takes more than an Embedding from two encoders: its speech reader's word
    logits, which its text encoder reads (encode_words). Export runs the reader's audio encoder
    and the image encoder in ONNX Runtime, the reader's slots and the text encoder in PyTorch,
    and answers spoken questions as PyTorch does."""
    data, out = tmp_path / "d", tmp_path / "vqa-spoken-onnx"
    assert main(["data", "shapes", "--split", "test", "--seed", "5", "--n", "1", "--out", str(data), "--spoken"]) == 0
    assert main(["export", "vqa-spoken", "--format", "onnx", "--out", str(out)]) == 0
    assert [json.loads(line)["part"] for line in capsys.readouterr().out.splitlines()[-3:]] == \
        ["encoders.image", "encoders.audio.audio"]
    rows = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    items = [(str(data / r["image"]), None, str(data / r["audio"])) for r in rows]
    onnx = pm.load("vqa", str(out), runtime="onnx")
    assert isinstance(onnx.model.encoders["audio"].audio, OnnxEncoder)
    assert len(items) == 20
    assert [a.text for a in onnx.batch(items)] == [a.text for a in pm.load("vqa", "vqa-spoken").batch(items)]
