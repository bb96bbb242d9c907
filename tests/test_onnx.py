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


def test_a_hugging_face_clip_runs_its_image_and_text_features_in_onnx(tmp_path, capsys):
    """A CLIP folder exports its two feature parts (HFAdapter.onnx_parts), whose graphs take
    any batch and text length; loaded with runtime onnx, zero-shot gives PyTorch's labels and
    probabilities. A part the adapter lacks, and a model with no exported part, are one line."""
    from hf_tiny import build_blip, build_clip

    from polymodal.inference.onnx_runtime import GraphPart
    folder, out = build_clip(tmp_path / "clip"), tmp_path / "clip-onnx"
    capsys.readouterr()
    assert main(["export", str(folder), "--format", "onnx", "--out", str(out)]) == 0
    parts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["part"] for p in parts] == ["image", "text"] and all(p["max_difference"] < 1e-4 for p in parts)
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (40 + 7 * i, 50, 3), dtype=np.uint8) for i in range(5)]
    labels = ["blue", "red circle", "a big green square left of a small yellow triangle"]   # three lengths
    onnx, torch_path = pm.load("align", str(out), runtime="onnx"), pm.load("align", str(folder))
    assert set(onnx.model.exported) == {"image", "text"}
    assert all(isinstance(run, GraphPart) for run in onnx.model.exported.values())
    for batch in (1, 4):                # graphs run at batch sizes they were not exported with
        onnx.batch_size = torch_path.batch_size = batch
        got, expected = onnx.classify(images, labels), torch_path.classify(images, labels)
        assert [g[0][0] for g in got] == [e[0][0] for e in expected]
        assert max(abs(dict(g)[k] - p) for g, e in zip(got, expected) for k, p in e) < 1e-4
    listing = out / "onnx" / "parts.json"
    listed = json.loads(listing.read_text())
    listed["parts"]["audio"] = listed["parts"]["image"]
    listing.write_text(json.dumps(listed))
    with pytest.raises(InputError, match="lists a part 'audio'"):
        pm.load("align", str(out), runtime="onnx")
    assert main(["export", str(build_blip(tmp_path / "blip")), "--out", str(tmp_path / "blip-onnx")]) == 2
    assert "nothing to export" in capsys.readouterr().err and not (tmp_path / "blip-onnx").exists()
