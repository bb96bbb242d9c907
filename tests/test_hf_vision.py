"""Pretrained Hugging Face architectures through polymodal's own commands: tiny random CLIP,
BLIP, ViT+GPT-2, OWL-ViT and ViLT models are saved in Hugging Face layout and loaded through
the public path (a directory, or hf:<id> from a local cache). Each adapter's output is
checked against the transformers model run directly."""
import json
import os

import numpy as np
import pytest
import torch
from hf_tiny import BUILDERS

from polymodal.cli.main import main
from polymodal.data import shapes
from polymodal.inference.pipelines import load
from polymodal.loading import load_model


@pytest.fixture(scope="module")
def hf_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {name: build(root / name) for name, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def scene_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenes")
    assert main(["data", "shapes", "--preset", "shapes", "--split", "test", "--seed", "1", "--n", "3",
                 "--out", str(out)]) == 0
    return sorted((out / "images").iterdir()), out / "manifest.jsonl"


def run_json(capsys, argv) -> list[dict]:
    capsys.readouterr()
    assert main(argv) == 0, argv
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()] if out.lstrip().startswith("{\"") else [json.loads(out)]


def test_each_folder_loads_as_the_adapter_for_its_task(hf_dirs):
    tasks = {name: load_model(d).config.task for name, d in hf_dirs.items()}
    assert tasks == {"clip": "align", "blip": "caption", "vit-gpt2": "caption", "owlvit": "ground", "vilt": "vqa",
                     "whisper": "transcribe", "vits": "speak"}


def test_clip_embeddings_match_transformers(hf_dirs, scene_files, tmp_path, capsys):
    from transformers import CLIPModel, CLIPProcessor
    images, _ = scene_files
    assert main(["embed", str(images[0].parent), "--out", str(tmp_path / "v.npz"), "--model", str(hf_dirs["clip"])]) == 0
    with np.load(tmp_path / "v.npz") as f:
        ours = f["vectors"]
    model, proc = CLIPModel.from_pretrained(hf_dirs["clip"]), CLIPProcessor.from_pretrained(hf_dirs["clip"])
    from PIL import Image
    with torch.no_grad():
        feats = model.get_image_features(**proc(images=[np.asarray(Image.open(p).convert("RGB")) for p in images],
                                                return_tensors="pt"))
    feats = torch.nn.functional.normalize(getattr(feats, "pooler_output", feats), dim=-1).numpy()
    assert np.allclose(ours, feats, atol=1e-5)
    ranked = run_json(capsys, ["search", "a red circle", "--gallery", str(tmp_path / "v.npz"), "--json", "--model",
                               str(hf_dirs["clip"])])
    assert len(ranked) == 3
    best = run_json(capsys, ["classify", str(images[0]), "--labels", "red circle,blue square", "--json", "--model",
                             str(hf_dirs["clip"])])[0]
    with torch.no_grad():
        texts = proc(text=["a photo of a red circle.", "a photo of a blue square."], return_tensors="pt", padding=True,
                     truncation=True)
        t = model.get_text_features(**texts)
        t = torch.nn.functional.normalize(getattr(t, "pooler_output", t), dim=-1).numpy()
    assert best["label"] == ["red circle", "blue square"][int(np.argmax(feats[0] @ t.T))]
    assert run_json(capsys, ["eval", "zero-shot", "--data", "shapes:shapes:test", "--n", "6", "--json", "--model",
                             str(hf_dirs["clip"])])[0]["images"] == 6


@pytest.mark.parametrize("name", ["blip", "vit-gpt2"])
def test_captions_match_transformers_generate(name, hf_dirs, scene_files, capsys):
    images, manifest = scene_files
    ours = run_json(capsys, ["caption", str(images[0]), "--json", "--beams", "2", "--model", str(hf_dirs[name])])[0]
    adapter = load_model(hf_dirs[name])
    from PIL import Image
    pixels = adapter.processor.image_processor(images=[np.asarray(Image.open(images[0]).convert("RGB"))],
                                               return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        ids = adapter.model.generate(pixel_values=pixels, num_beams=2, max_new_tokens=30, do_sample=False)
    expected = " ".join(adapter.processor.tokenizer.batch_decode(ids, skip_special_tokens=True)[0].split())
    assert ours["caption"] == expected and 0 <= ours["score"] <= 1
    metrics = run_json(capsys, ["eval", "caption", "--data", str(manifest), "--json", "--model", str(hf_dirs[name])])[0]
    assert metrics["images"] == 3 and "cider" in metrics


def test_owlvit_box_is_the_best_patch_in_pixels(hf_dirs, scene_files, capsys):
    images, manifest = scene_files
    ours = run_json(capsys, ["ground", str(images[0]), "the red circle", "--json", "--model", str(hf_dirs["owlvit"])])[0]
    adapter = load_model(hf_dirs["owlvit"])
    from PIL import Image
    array = np.asarray(Image.open(images[0]).convert("RGB"))
    inputs = adapter.processor.tokenizer(["the red circle"], padding="max_length", truncation=True, return_tensors="pt")
    with torch.no_grad():
        out = adapter.model(pixel_values=adapter.processor.image_processor(images=[array], return_tensors="pt")
                            ["pixel_values"], **inputs)
    best = out.logits[0, :, 0].argmax()
    cx, cy, w, h = (out.pred_boxes[0, best] * 64).tolist()
    assert np.allclose(ours["box"], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], atol=0.01)
    assert run_json(capsys, ["eval", "ground", "--data", str(manifest), "--json",
                             "--model", str(hf_dirs["owlvit"])])[0]["phrases"] > 0


def test_vilt_answers_are_its_best_label(hf_dirs, scene_files, capsys):
    images, _ = scene_files
    question = "what is the shape of the red object?"
    ours = run_json(capsys, ["ask", str(images[0]), question, "--json", "--model", str(hf_dirs["vilt"])])[0]
    adapter = load_model(hf_dirs["vilt"])
    from PIL import Image
    from transformers import ViltProcessor
    proc = ViltProcessor.from_pretrained(hf_dirs["vilt"])
    with torch.no_grad():
        logits = adapter.model(**proc(images=[np.asarray(Image.open(images[0]).convert("RGB"))], text=[question],
                                      return_tensors="pt")).logits
    assert ours["answer"] == adapter.model.config.id2label[int(logits.argmax())]
    pipe = load("vqa", str(hf_dirs["vilt"]))          # the Python surface: one image, many questions
    scene = shapes("sort-of-clevr", "test", 0, 1)[0]
    answers = pipe.batch([(scene.image, q.question) for q in scene.questions[:4]])
    assert len(answers) == 4 and all(a.text in adapter.config.labels for a in answers)


def test_hf_ids_come_from_the_local_cache_only(hf_dirs, tmp_path, monkeypatch, capsys):
    """hf:<org/name> is found in a Hugging Face cache laid out as the hub client writes it;
    a missing one is a one-line error that says how to get it, and nothing is downloaded."""
    cache = tmp_path / "cache"
    snapshot = cache / "models--tiny--clip" / "snapshots" / ("0" * 40)
    snapshot.parent.mkdir(parents=True)
    os.symlink(hf_dirs["clip"], snapshot)
    (cache / "models--tiny--clip" / "refs").mkdir()
    (cache / "models--tiny--clip" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(cache))
    capsys.readouterr()
    assert main(["embed", "--text", "a red circle", "--out", str(tmp_path / "t.npz"), "--model", "hf:tiny/clip"]) == 0
    capsys.readouterr()
    assert main(["embed", "--text", "a red circle", "--out", str(tmp_path / "t.npz"), "--model", "hf:tiny/none"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hf:tiny/none" in err and "huggingface-cli download" in err


def test_wrong_task_and_unsupported_type_are_one_line_errors(hf_dirs, tmp_path, scene_files, capsys):
    images, _ = scene_files
    capsys.readouterr()
    assert main(["caption", str(images[0]), "--model", str(hf_dirs["clip"])]) == 2
    assert "a model for align, not for caption" in capsys.readouterr().err
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert main(["caption", str(images[0]), "--model", str(odd)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'bert' is not supported" in err


def test_load_on_a_mixed_precision_path(hf_dirs, scene_files):
    """pm.load(..., precision="bf16") runs the same pipeline under autocast: same best labels
    as fp32 on this model, probabilities close; a bad precision or device is a one-line error."""
    from polymodal.core.errors import InputError
    from polymodal.inference.fast_path import OnFastPath
    images, _ = scene_files
    labels = ["red circle", "blue square", "green triangle"]
    fp32, bf16 = load("align", str(hf_dirs["clip"])), load("align", str(hf_dirs["clip"]), precision="bf16")
    assert isinstance(bf16, OnFastPath) and not isinstance(fp32, OnFastPath)
    bf16.batch_size = 2                                  # attributes pass through to the pipeline
    assert bf16.pipeline.batch_size == 2
    a, b = fp32.classify(images, labels), bf16.classify(images, labels)
    assert [r[0][0] for r in a] == [r[0][0] for r in b]
    assert max(abs(dict(x)[k] - dict(y)[k]) for x, y in zip(a, b) for k in labels) < 0.05
    with pytest.raises(InputError, match="precision must be one of"):
        load("align", str(hf_dirs["clip"]), precision="int3")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device"):
            load("align", str(hf_dirs["clip"]), device="cuda")


@pytest.mark.parametrize("name", ["clip", "blip", "vit-gpt2", "owlvit", "vilt", "whisper", "vits"])
def test_every_adapter_runs_with_bf16_weights(hf_dirs, scene_files, name):
    """precision="bf16": the Hugging Face weights are held in bf16 and each task still gives
    its usual kind of result (floats, not bf16 tensors, reach the caller)."""
    from polymodal.modalities import Audio
    images, _ = scene_files
    folder = str(hf_dirs[name])
    task = load_model(hf_dirs[name]).config.task
    pipe = load(task, folder, precision="bf16")
    assert {p.dtype for p in pipe.pipeline.model.model.parameters()} == {torch.bfloat16}
    speech = Audio(0.1 * np.sin(np.linspace(0, 2000, 16000)).astype(np.float32), 16000)
    result = {"align": lambda: pipe.classify(images[:1], ["red circle", "blue square"])[0][0][1],
              "caption": lambda: pipe(images[0]).score, "ground": lambda: pipe(images[0], "the red circle").score,
              "vqa": lambda: pipe(images[0], "is there a red circle?").score,
              "transcribe": lambda: pipe(speech).score, "speak": lambda: float(pipe("a red circle").waveform.std())}[task]()
    assert isinstance(result, float) and np.isfinite(result)


def test_blip_vision_layers_run_fused_and_chunked_with_the_eager_result(hf_dirs, monkeypatch):
    """BLIP's eager vision attention is switched to SDPA when loaded (hf/fast_layers.py): the
    same values, and the eager forward still answers a call that asks for attention weights;
    its MLP and attention run a few images at a time, with the values of one call over all of them."""
    from polymodal.hf import fast_layers
    adapter = load_model(hf_dirs["blip"])
    switched = [m for m in adapter.model.modules() if hasattr(m, "eager_forward")]
    assert {type(m).__name__ for m in switched} == {"BlipAttention", "BlipMLP", "BlipTextSelfAttention"}
    layer = next(m for m in switched if type(m).__name__ == "BlipAttention")
    x = torch.randn(5, 17, layer.embed_dim)
    with torch.no_grad():
        fused, weights = layer(x)
        eager, eager_weights = layer.eager_forward(x)
        assert weights is None and torch.allclose(fused, eager, atol=1e-5)
        assert torch.equal(layer(x, output_attentions=True)[1], eager_weights)
        mlp = next(m for m in switched if type(m).__name__ == "BlipMLP")
        item = 17 * mlp.fc1.out_features * x.element_size()
        for chunk in (item, 2 * item, 10 ** 9):         # 1, 2 (then 1 left), all 5 at once
            monkeypatch.setattr(fast_layers, "CHUNK_BYTES", chunk)
            assert torch.allclose(mlp(x), mlp.eager_forward(x), atol=1e-6)
            assert torch.allclose(layer(x)[0], eager, atol=1e-5)
        assert torch.equal(mlp(x), mlp.eager_forward(x))     # one chunk, its GELU in place: the same values


def test_blip_cross_attention_folded_gives_transformers_values_and_captions(hf_dirs):
    """BLIP's text cross-attention runs from the image tokens themselves (keys and values
    folded into the query and context): the eager layer's context, with and without a mask,
    in fp32 (one fused attention) and bf16 (two products, whose probabilities are the eager
    layer's too), and transformers' own captions from its unswitched model."""
    from transformers import BlipForConditionalGeneration
    adapter = load_model(hf_dirs["blip"])
    layer = next(m for m in adapter.model.modules() if type(m).__name__ == "BlipTextSelfAttention"
                 and hasattr(m, "eager_forward"))
    x, image = torch.randn(3, 5, layer.query.in_features), torch.randn(3, 11, layer.key.in_features)
    mask = torch.zeros(3, 1, 1, 11)
    mask[1, ..., 7:] = torch.finfo(torch.float32).min
    with torch.no_grad():
        for m in (None, mask):
            folded = layer(x, encoder_hidden_states=image, encoder_attention_mask=m)
            eager = layer.eager_forward(x, encoder_hidden_states=image, encoder_attention_mask=m)
            assert folded[1] is None and torch.allclose(folded[0], eager[0], atol=1e-5)
        self_attention = layer(x)[0]
        assert torch.equal(self_attention, layer.eager_forward(x)[0])
        layer.to(torch.bfloat16)
        x, image = x.bfloat16(), image.bfloat16()
        for m in (None, mask.bfloat16()):
            folded = layer(x, encoder_hidden_states=image, encoder_attention_mask=m)
            eager = layer.eager_forward(x, encoder_hidden_states=image, encoder_attention_mask=m)
            assert all(torch.allclose(a.float(), b.float(), atol=0.05) for a, b in zip(folded, eager))
        layer.float()
    plain = BlipForConditionalGeneration.from_pretrained(hf_dirs["blip"]).eval()
    assert not any(hasattr(m, "eager_forward") for m in plain.modules())
    images = [np.random.default_rng(i).integers(0, 256, (40, 56, 3), dtype=np.uint8) for i in range(3)]
    pixels = adapter.preprocess({"image": images})["image"]
    with torch.no_grad():
        theirs = plain.generate(pixel_values=pixels, max_new_tokens=12, do_sample=False)
    texts = adapter.processor.tokenizer.batch_decode(theirs, skip_special_tokens=True)
    assert [c.text for c in adapter.generate(pixels, max_length=12)] == [" ".join(t.split()) for t in texts]
    quantized = load("caption", str(hf_dirs["blip"]), precision="int8")     # int8 projections: the eager layer
    assert isinstance(quantized(images[0]).text, str)



def logp_to_the_end(out, end: int) -> torch.Tensor:
    """Each sequence's log-probability from a transformers generate output (scores kept): the
    sum over its new tokens up to and including its first end token."""
    new = out.sequences[:, -len(out.scores):]
    logp = torch.stack(out.scores, 1).log_softmax(-1).gather(2, new[..., None])[..., 0]
    ended = (new == end).int()
    return logp.masked_fill(ended.cumsum(1) - ended > 0, 0.0).sum(1)


def test_blip_greedy_loop_gives_transformers_tokens_and_scores(hf_dirs, monkeypatch):
    """polymodal's own greedy loop for BLIP (hf/blip_greedy.py) takes transformers' tokens, with
    the image keys and values folded or projected once, and scores each caption by its tokens
    up to its end token; the adapter runs it, and a config that asks for more than greedy
    decoding, or a model in training mode, goes to transformers' generate."""
    from transformers import BlipForConditionalGeneration

    from polymodal.hf import blip_greedy, vision
    plain = BlipForConditionalGeneration.from_pretrained(hf_dirs["blip"]).eval()
    decoder, text = plain.text_decoder, plain.config.text_config
    with torch.no_grad():       # a stronger pull of the image on the words, so that captions differ
        for layer in decoder.bert.encoder.layer:
            layer.crossattention.self.value.weight.mul_(30)
    image = torch.randn(8, 5, decoder.config.encoder_hidden_size, generator=torch.Generator().manual_seed(0)) * 3
    with torch.no_grad():
        out = decoder.generate(input_ids=torch.full((8, 1), text.bos_token_id), eos_token_id=text.sep_token_id,
                               pad_token_id=text.pad_token_id, encoder_hidden_states=image,
                               encoder_attention_mask=torch.ones(8, 5, dtype=torch.long), max_new_tokens=12,
                               do_sample=False, output_scores=True, return_dict_in_generate=True)
    ended = (out.sequences == text.sep_token_id).any(1)
    assert 0 < int(ended.sum()) < len(image) and len(set(map(tuple, out.sequences.tolist()))) > 3
    for fold in (1, 10 ** 6):        # the cross-attention folded, then from the image's keys and values
        monkeypatch.setattr(blip_greedy, "fold_from", lambda image, n=fold: n)
        tokens, logp = blip_greedy.greedy_decode(decoder, image, text.bos_token_id, text.sep_token_id,
                                                 text.pad_token_id, 12)
        assert torch.equal(tokens, out.sequences)
        assert torch.allclose(logp, logp_to_the_end(out, text.sep_token_id), atol=1e-4)

    adapter, plain = load_model(hf_dirs["blip"]), BlipForConditionalGeneration.from_pretrained(hf_dirs["blip"]).eval()
    images = [np.random.default_rng(i).integers(0, 256, (40, 56, 3), dtype=np.uint8) for i in range(3)]
    pixels = adapter.preprocess({"image": images})["image"]
    for kwargs in ({}, {"repetition_penalty": 1.5}):
        for key, value in kwargs.items():        # transformers' generate, not the loop
            monkeypatch.setattr(adapter.model.text_decoder.generation_config, key, value)
            monkeypatch.setattr(vision, "greedy_decode", None)
        with torch.no_grad():
            out = plain.generate(pixel_values=pixels, max_new_tokens=12, do_sample=False, output_scores=True,
                                 return_dict_in_generate=True, **kwargs)
        captions = adapter.generate(pixels, max_length=12)
        if not kwargs:
            greedy_texts = [c.text for c in captions]
        assert [c.text for c in captions] == [" ".join(t.split()) for t in adapter.processor.tokenizer.batch_decode(
            out.sequences, skip_special_tokens=True)]
        expected = logp_to_the_end(out, text.sep_token_id).exp()
        assert torch.allclose(torch.tensor([c.score for c in captions]), expected, rtol=1e-4)
    with pytest.raises(ValueError, match="eval mode"):      # the loop leaves dropout out
        blip_greedy.greedy_decode(decoder.train(), image, text.bos_token_id, text.sep_token_id, text.pad_token_id, 12)
    # a model in training mode (dropout 0 here): transformers' generate, as the loop is None now
    monkeypatch.setattr(adapter.model.text_decoder.generation_config, "repetition_penalty", 1.0)
    adapter.model.train()
    assert [c.text for c in adapter.generate(pixels, max_length=12)] == greedy_texts
