"""The hostile files the corpus names, written into one folder: `make(folder)` -> a dict of
name -> path (str)."""
from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np

DEEP = 100_000          # nesting depth of the deep JSON and YAML


def png(array: np.ndarray) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def scene_png() -> bytes:
    from polymodal.data import shapes
    return png(shapes("sort-of-clevr", "test", 0, 1)[0].image)


def wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    import soundfile as sf
    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def wav_claiming(rate: int, samples: int = 4000) -> bytes:
    """A PCM WAV whose header claims `rate` Hz over a few thousand real samples."""
    data = (np.random.default_rng(0).normal(0, 0.1, samples) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, (rate * 2) & 0xFFFFFFFF, 2, 16)
    return b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + \
        b"data" + struct.pack("<I", len(data)) + data


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height over a few real bytes (a decompression bomb's shape)."""
    import zlib
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def nested(depth: int = DEEP, leaf: str = "x") -> str:
    return "[" * depth + json.dumps(leaf) + "]" * depth


def model_folder(root: Path, name: str, config) -> str:
    folder = root / name
    folder.mkdir()
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"")
    return str(folder)


def shipped_config(name: str) -> dict:
    from polymodal.loading import SHIPPED_DIR
    return json.loads((SHIPPED_DIR / name / "config.json").read_text())


def make(folder) -> dict[str, str]:
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    f: dict[str, str] = {}

    def put(name: str, data: bytes | str) -> None:
        path = root / name
        path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
        f[name] = str(path)

    scene = scene_png()
    put("scene.png", scene)
    from polymodal.data import shapes
    drawn = shapes("shapes", "test", 0, 1)[0]
    put("shapes.png", png(drawn.image))
    f["shapes-object"] = f"{drawn.objects[0].colour} {drawn.objects[0].shape}"
    put("speech.wav", wav())
    # images
    put("empty.png", b"")
    put("truncated.png", scene[: len(scene) // 2])
    put("header-only.png", scene[:16])
    put("text-renamed.png", "a red circle\n")
    put("wav-renamed.png", wav(0.1))
    put("garbage.png", bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8)))
    put("bomb.png", png_claiming(100_000, 100_000))
    put("zero-size.png", png_claiming(0, 0))
    put("one-pixel.png", png(np.zeros((1, 1, 3), np.uint8)))
    put("scene.jpg.png", scene)             # a PNG named oddly still reads
    (root / "folder.png").mkdir()
    f["folder.png"] = str(root / "folder.png")
    f["missing.png"] = str(root / "no-such-image.png")
    # audio
    put("empty.wav", b"")
    put("header-only.wav", wav()[:44])
    put("truncated.wav", wav()[:30])
    put("garbage.wav", bytes(np.random.default_rng(2).integers(0, 256, 3000, dtype=np.uint8)))
    put("png-renamed.wav", scene)
    put("rate-2000000011.wav", wav_claiming(2_000_000_011))
    put("rate-999983.wav", wav_claiming(999_983))
    put("rate-1.wav", wav_claiming(1))
    put("rate-0.wav", wav_claiming(0))
    put("long.wav", wav(30.0, 8000))
    f["missing.wav"] = str(root / "no-such.wav")
    # video clips, asked about with a tiny (untrained) video QA model
    from video_clips import bad_clips, tiny_video_qa
    for label, (data, _) in bad_clips().items():
        put(f"{label.replace(' ', '-')}.mp4", data)
    f["video-qa-model"] = tiny_video_qa(root / "video-qa-model")
    # texts, prompts, lists
    put("non-utf8.txt", b"what shape is the \xff\xfe red object?\n")
    put("nul-line.txt", "a red circle\nthe blue\x00 square\n")
    put("surrogate.txt", "a red \ud800 circle\n")
    put("blank.txt", "   \n\n \t \n")
    put("empty.txt", "")
    put("huge-line.txt", "red " * 300_000)
    put("images.txt", f"{root / 'scene.png'}\n{root / 'no-such-image.png'}\n")
    # manifests
    put("nested.jsonl", json.dumps({"image": "scene.png", "question": "what shape is the red object?",
                                    "answer": "circle"}) + "\n" + "{\"image\": " + nested() + "}\n")
    put("nul.jsonl", json.dumps({"image": "scene.png", "question": "what\x00 shape?", "answer": "circle"}) + "\n")
    put("surrogate.jsonl", '{"image": "scene.png", "question": "what \\ud800 shape?", "answer": "circle"}\n')
    put("blank-question.jsonl", json.dumps({"image": "scene.png", "question": "   ", "answer": "circle"}) + "\n")
    put("number-question.jsonl", json.dumps({"image": "scene.png", "question": 7, "answer": "circle"}) + "\n")
    put("non-utf8.jsonl", b'{"image": "scene.png", "question": "what \xff?", "answer": "circle"}\n')
    put("not-json.jsonl", "{image: scene.png}\n")
    put("list-row.jsonl", "[1, 2, 3]\n")
    put("missing-image.jsonl", json.dumps({"image": "gone.png", "question": "what shape?", "answer": "circle"}) + "\n")
    put("nan.jsonl", '{"image": "scene.png", "question": "what shape?", "answer": NaN}\n')
    put("bad.csv", b"image,question,answer\nscene.png,\"unclosed,circle\n\xff\xfe,x,y\n")
    # recipes (YAML)
    def recipe(body: str) -> str:
        return f"task: vqa\ndata:\n  train: shapes:sort-of-clevr:train\n  n: 8\ntraining:\n  epochs: 1\n{body}"
    put("recipe-lr-word.yaml", recipe("  lr: fast\n"))
    put("recipe-lr-nan.yaml", recipe("  lr: .nan\n"))
    put("recipe-epochs-float.yaml", recipe("  batch_size: 2.5\n"))
    put("recipe-n-word.yaml", "task: vqa\ndata:\n  train: shapes:sort-of-clevr:train\n  n: ten\n")
    put("recipe-n-negative.yaml", "task: vqa\ndata:\n  train: shapes:sort-of-clevr:train\n  n: -5\n")
    put("recipe-train-list.yaml", "task: vqa\ndata:\n  train: [1, 2]\n")
    put("recipe-non-utf8.yaml", b"task: vqa\n# caf\xe9\ndata:\n  train: shapes:sort-of-clevr:train\n")
    put("recipe-unknown-key.yaml", recipe("  learning_rate: 0.1\n"))
    put("recipe-python-tag.yaml", "task: !!python/object/apply:os.system ['echo pwned']\n")
    put("recipe-deep.yaml", "task: vqa\nextra: " + "[" * 20_000 + "]" * 20_000 + "\n")
    put("recipe-list.yaml", "- task\n- vqa\n")
    put("recipe-empty.yaml", "")
    put("recipe-seed-huge.yaml", f"task: vqa\ndata:\n  train: shapes:sort-of-clevr:train\n  seed: {2**70}\n")
    put("recipe-fusion-number.yaml", "task: vqa\nmodel:\n  fusion: 7\n")
    put("recipe-tabs.yaml", "task: vqa\n\tdata: x\n")
    # systems (YAML)
    put("system-tag.yaml", "name: x\nsteps: !!python/object/apply:os.system ['echo pwned']\n")
    put("system-unknown-step.yaml", "name: x\ninputs: {image: image}\nsteps:\n  - {step: teleport}\n")
    put("system-unknown-key.yaml", "name: x\ninputs: {image: image}\nsteps: []\nflavour: sweet\n")
    put("system-deep.yaml", "name: " + "[" * 20_000 + "]" * 20_000 + "\n")
    put("system-non-utf8.yaml", b"name: \xff\n")
    put("system-list.yaml", "- step\n")
    # model folders
    vqa = shipped_config("vqa-sort-of-clevr")
    f["model-config-list"] = model_folder(root, "model-config-list", "[1, 2, 3]")
    f["model-config-not-json"] = model_folder(root, "model-config-not-json", "{kind: multimodal")
    f["model-config-nested"] = model_folder(root, "model-config-nested", "{\"kind\": " + nested() + "}")
    f["model-config-wrong-types"] = model_folder(root, "model-config-wrong-types",
                                                 {**vqa, "dim": "wide", "num_answers": [1]})
    f["model-config-unknown-kind"] = model_folder(root, "model-config-unknown-kind", {**vqa, "kind": "teleporter"})
    f["model-config-unknown-key"] = model_folder(root, "model-config-unknown-key", {**vqa, "flavour": "sweet"})
    f["model-config-nan"] = model_folder(root, "model-config-nan", json.dumps(vqa)[:-1] + ', "dropout": NaN}')
    f["model-empty-weights"] = model_folder(root, "model-empty-weights", vqa)
    f["model-no-config"] = str(root / "model-no-config")
    (root / "model-no-config").mkdir()
    hf = root / "hf-pickled"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "clip", "architectures": ["CLIPModel"]}))
    (hf / "pytorch_model.bin").write_bytes(b"\x80\x04\x95" + b"\0" * 64)      # the start of a pickle
    f["hf-pickled"] = str(hf)
    f["out-file"] = str(root / "an-existing-file.txt")
    (root / "an-existing-file.txt").write_text("keep me\n")
    f["root"] = str(root)
    return f
