"""Fine-tuning pretrained Hugging Face task models (`train --init`): tiny random BLIP, ViT+GPT-2,
CLIP, ViLT and Whisper, built here in Hugging Face layout, train on the embedded world's data;
the loss falls, the saved folder is read back by transformers' own from_pretrained with the
same outputs as polymodal's, and LoRA trains only its adapters."""
import json

import pytest
import torch
from hf_tiny import build_blip, build_clip, build_owlvit, build_vilt, build_vit_gpt2, build_whisper

from polymodal.cli.main import main
from polymodal.hf.lora import ADAPTER_FOLDER
from polymodal.loading import load_model
from polymodal.tasks.registry import TASKS
from polymodal.tasks.vqa import VQAExample
from polymodal.training.finetune import FinetuneConfig, batch_values, finetune, training_items

FAMILIES = {   # name: (builder, task, data, the transformers class that reads the saved folder)
    "blip": (build_blip, "caption", "shapes:shapes:train", "BlipForConditionalGeneration"),
    "vit-gpt2": (build_vit_gpt2, "caption", "shapes:shapes:train", "VisionEncoderDecoderModel"),
    "clip": (build_clip, "align", "shapes:shapes:train", "CLIPModel"),
    "vilt": (build_vilt, "vqa", "shapes:sort-of-clevr:train", "ViltForQuestionAnswering"),
    "whisper": (lambda folder: build_whisper(folder, seconds=10), "transcribe", "spoken:train",
                "WhisperForConditionalGeneration"),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("task-models")
    return {name: build(root / name) for name, (build, *_) in FAMILIES.items()}


def examples_for(name: str, folder, n: int = 8) -> list:
    _, task, data, _ = FAMILIES[name]
    examples, _ = TASKS.build(task).load_data(data, 0, n)
    if name == "vilt":      # the tiny ViLT's answers are few: keep the questions it can be taught
        answers = set(load_model(str(folder)).config.labels)
        examples = [VQAExample(e.image, [q for q in e.questions if q.answer in answers]) for e in examples]
    return examples


def outputs(adapter, name: str, values: dict) -> torch.Tensor:
    """The tensor polymodal's adapter computes for a batch (logits of its task)."""
    torch.manual_seed(0)        # ViLT draws the order of its image patches
    with torch.no_grad():
        if name in ("blip", "vit-gpt2"):
            pixels = adapter.preprocess(values)["image"]
            tokens = dict(adapter.caption_tokens(values["text"]))
            extra = adapter.decoder_inputs(tokens) or {"decoder_input_ids": tokens["input_ids"]}
            return adapter.model(pixel_values=pixels, **extra).logits
        if name == "clip":
            return adapter(adapter.preprocess(values))
        if name == "vilt":
            return adapter(adapter.preprocess(values))
        features = adapter.processor.feature_extractor([a.resampled(adapter.rate).waveform for a in values["audio"]],
                                                       sampling_rate=adapter.rate, return_tensors="pt")
        start = torch.full((len(values["audio"]), 1), adapter.model.config.decoder_start_token_id)
        return adapter.model(input_features=features["input_features"], decoder_input_ids=start).logits


def same_with_transformers(folder, name, values) -> None:
    """transformers' own class reads the folder: every weight equal to those polymodal loads,
    and, run inside polymodal's adapter, the outputs equal to polymodal's (to float rounding:
    polymodal runs BLIP's vision attention through SDPA and CLIP's on its own code, transformers
    eagerly: logits of a few units agree to 1e-5)."""
    import transformers
    ours = load_model(str(folder))
    theirs = getattr(transformers, FAMILIES[name][3]).from_pretrained(str(folder)).eval()
    mine = ours.model.state_dict()
    assert all(torch.equal(mine[k], v) for k, v in theirs.state_dict().items()) and mine.keys() == \
        theirs.state_dict().keys()
    reference = outputs(ours, name, values)
    ours.model = theirs
    assert torch.allclose(outputs(ours, name, values), reference, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_fine_tuning_lowers_the_loss_and_transformers_reads_the_result(models, name, tmp_path):
    examples = examples_for(name, models[name])
    task = FAMILIES[name][1]
    result = finetune(str(models[name]), task, examples, examples[:2], tmp_path, FinetuneConfig(epochs=4, lr=1e-3),
                      progress=False)
    losses = [row["train_loss"] for row in result["history"]]
    assert losses[-1] < losses[0] - 0.05, losses
    assert result["trainable_parameters"] == result["parameters"] and result["adapter_parameters"] == 0
    assert all("val_loss" in row for row in result["history"])
    saved = json.loads((tmp_path / "finetune.json").read_text())
    assert saved["steps"] == result["steps"] == 4 * -(-len(training_items(task, examples)) // 8)
    values = batch_values(training_items(task, examples)[:3])
    same_with_transformers(tmp_path / "model", name, values)
    before = outputs(load_model(str(models[name])), name, values)
    assert not torch.allclose(outputs(load_model(str(tmp_path / "model")), name, values), before)


@pytest.mark.parametrize("name", ["blip", "clip", "vilt", "whisper"])
def test_lora_trains_only_its_adapters_and_merged_equals_base_plus_adapter(models, name, tmp_path):
    from peft import PeftModel
    task, examples = FAMILIES[name][1], examples_for(name, models[name])
    options = dict(tune="lora", lora_rank=4, epochs=3, lr=5e-3)
    apart = finetune(str(models[name]), task, examples, [], tmp_path / "apart",
                     FinetuneConfig(**options, lora_save="adapter"), progress=False)
    merged = finetune(str(models[name]), task, examples, [], tmp_path / "merged", FinetuneConfig(**options),
                      progress=False)
    # rank 4 on each targeted projection: 4 x (in + out) weights
    base = load_model(str(models[name])).model
    targets = [m for n, m in base.named_modules() if isinstance(m, torch.nn.Linear)
               and n.rsplit(".", 1)[-1] in ("query", "value", "q_proj", "v_proj", "qkv")]
    assert apart["trainable_parameters"] == apart["adapter_parameters"] == sum(4 * (m.in_features + m.out_features)
                                                                               for m in targets) > 0
    assert merged["trainable_parameters"] == apart["trainable_parameters"]
    assert apart["trainable_parameters"] < apart["parameters"] / 5
    assert apart["last_loss"] != apart["first_loss"]
    assert (tmp_path / "apart" / "model" / ADAPTER_FOLDER / "adapter_config.json").is_file()
    values = batch_values(training_items(task, examples)[:3])
    # base + adapter, unmerged (peft on the base transformers reads) == the merged save
    import transformers
    cls = getattr(transformers, FAMILIES[name][3])
    adapter = load_model(str(models[name]))
    adapter.model = PeftModel.from_pretrained(cls.from_pretrained(str(tmp_path / "apart" / "model")),
                                              str(tmp_path / "apart" / "model" / ADAPTER_FOLDER)).eval()
    unmerged = outputs(adapter, name, values)
    assert torch.allclose(outputs(load_model(str(tmp_path / "merged" / "model")), name, values), unmerged, atol=1e-5)
    assert torch.allclose(outputs(load_model(str(tmp_path / "apart" / "model")), name, values), unmerged, atol=1e-5)
    assert not torch.allclose(outputs(load_model(str(models[name])), name, values), unmerged, atol=1e-5)


def test_the_cli_fine_tunes_and_serves_the_result(models, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--task", "caption", "--init", str(models["blip"]), "--data", "shapes:shapes:train",
                 "--n", "6", "--epochs", "2", "--lr", "0.001", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["steps"] == 2 and (out / "model" / "config.json").is_file()
    assert main(["eval", "caption", "--model", str(out / "model"), "--data", "shapes:shapes:test", "--n", "2",
                 "--json"]) == 0
    assert "fact_f1" in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("argv, says", [
    (["--task", "vqa"], "for caption, not for vqa"),
    (["--task", "caption", "--tune", "none"], "tune must be one of full, lora"),
    (["--task", "caption", "--fusion", "late:mean"], "--init fine-tunes a pretrained model from flags"),
    (["--task", "ground", "--owlvit"], "cannot fine-tune a OwlViTForObjectDetection"),
    (["--task", "caption", "--polymodal-folder"], "--init takes a Hugging Face model folder"),
])
def test_what_cannot_be_fine_tuned_is_one_line(models, tmp_path, capsys, argv, says):
    init = str(models["blip"])
    if "--owlvit" in argv:
        argv, init = argv[:-1], str(build_owlvit(tmp_path / "owlvit"))
    if "--polymodal-folder" in argv:
        argv, init = argv[:-1], "caption-shapes"
    out = tmp_path / "run"
    capsys.readouterr()
    code = main(["train", *argv, "--init", init, "--data", "shapes:shapes:train", "--n", "2", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert not (out / "model").exists()
