"""Fine-tuning a pretrained Hugging Face task model on a user's data (`polymodal train --init`).

The model is one polymodal already runs (hf/: BLIP and vision encoder-decoders caption, CLIP
aligns, ViLT answers, Whisper transcribes); it trains on its own loss (the adapter's
`training_loss`), in full or through LoRA adapters (peft), and is saved in Hugging Face layout
in `out/model`, so `transformers` loads it directly and every polymodal verb serves it:

- tune "full": every weight trains;
- tune "lora": only the adapters train (rank `lora_rank`, on `lora_targets`); they are then
  merged into the weights (`lora_save: merged`) or saved apart, beside the unchanged base, in
  `out/model/adapter` (`lora_save: adapter`; transformers: `model.load_adapter(...)`; polymodal
  merges it on loading).

The run's losses and counts go to `out/finetune.json`.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core import files
from ..core.config import Config
from ..core.errors import ConfigError, InputError
from ..hf.base import HFAdapter
from ..hf.loading import quiet
from ..hf.lora import ADAPTER_FOLDER, adapter_parameters, peft_module, with_lora
from ..loading import load_model
from ..modalities import Image
from ..tasks.transcribe import audio_of

TUNES = ("full", "lora")
LORA_SAVES = ("merged", "adapter")
TASKS_TUNED = ("caption", "align", "vqa", "transcribe", "ground")


@dataclass
class FinetuneConfig(Config):
    tune: str = "full"
    lora_rank: int = 8
    lora_targets: list | None = None      # linear layers' names; default hf.lora.LORA_TARGETS
    lora_save: str = "merged"             # merged into the weights, or "adapter" beside the base
    epochs: int = 3
    batch_size: int = 8
    lr: float | None = None               # default 5e-5 in full, 5e-4 for LoRA
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    time_budget_s: float | None = None
    max_steps: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.tune not in TUNES:
            raise ConfigError(f"tune must be one of {', '.join(TUNES)} for a fine-tune, got {self.tune!r}")
        if self.lora_save not in LORA_SAVES:
            raise ConfigError(f"lora_save must be one of {', '.join(LORA_SAVES)}, got {self.lora_save!r}")
        for name in ("lora_rank", "epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"fine-tune option {name} must be a positive integer, got {getattr(self, name)!r}")
        if self.lr is None:
            self.lr = 5e-4 if self.tune == "lora" else 5e-5
        if not self.lr > 0:
            raise ConfigError(f"fine-tune option lr must be positive, got {self.lr!r}")


def pixels_of(image) -> object:
    """A training image as the adapters take it (an array or an Image; a path is opened)."""
    return image if isinstance(image, (np.ndarray, Image)) else Image.open(image)


def training_items(task: str, examples: list) -> list[dict]:
    """A task's examples as the plain items an adapter's training_loss takes, one per pair
    (each caption of an image, each question, each utterance, each phrase). Images and audio
    stay as given (paths, arrays) until their batch is made."""
    if task in ("caption", "align"):
        items = [{"image": ex.image, "text": c} for ex in examples for c in ex.captions]
    elif task == "vqa":
        items = [{"image": ex.image, "text": q.text, "answer": q.answer} for ex in examples for q in ex.questions]
        if any(it["answer"] is None for it in items):
            raise InputError("fine-tuning a VQA model needs an answer for every question")
    elif task == "transcribe":
        items = [{"example": ex, "text": ex.transcript} for ex in examples]
        if any(not it["text"] for it in items):
            raise InputError("fine-tuning a recogniser needs a transcript for every utterance")
    elif task == "ground":
        items = [{"image": ex.image, "text": ex.phrase, "box": ex.box} for ex in examples]
    else:
        raise ConfigError(f"--init fine-tunes a {' / '.join(TASKS_TUNED)} model, not a {task} one")
    if not items:
        raise InputError(f"no {task} training pairs in the data (a caption, question, transcript or phrase each)")
    return items


def batch_values(items: list[dict]) -> dict:
    """Items -> the column-wise values of one batch (images and audio opened now)."""
    values: dict = {}
    for it in items:
        for key, value in it.items():
            if key == "image":
                value = pixels_of(value)
            elif key == "example":
                key, value = "audio", audio_of(value)
            values.setdefault(key, []).append(value)
    return values


def load_task_model(init: str, task: str) -> HFAdapter:
    model = load_model(init)
    if not isinstance(model, HFAdapter):
        raise InputError(f"{init}: --init takes a Hugging Face model folder or hf:<repo-id>; to start a polymodal "
                         f"model from trained weights, give `init` in its recipe's model")
    if model.task != task:
        raise InputError(f"{init}: a Hugging Face model for {model.task}, not for {task}")
    if not model.trains:
        raise InputError(f"{init}: polymodal cannot fine-tune a {type(model.model).__name__} (transformers gives "
                         f"it no training loss)")
    return model


def mean_loss(model: HFAdapter, items: list[dict], batch_size: int) -> float:
    model.eval()
    with torch.no_grad():
        losses = [float(model.training_loss(batch_values(items[i:i + batch_size])))
                  for i in range(0, len(items), batch_size)]
    return float(np.mean(losses))


def save_tuned(model: HFAdapter, directory: Path, lora_save: str | None) -> None:
    """The tuned model in Hugging Face layout, written atomically: LoRA merged into the weights,
    or (lora_save "adapter") the base unchanged with the adapter in directory/adapter."""
    if lora_save == "merged":
        model.model = model.model.merge_and_unload()
    elif lora_save == "adapter":
        with files.atomic_directory(directory) as tmp, quiet():
            model.model.save_pretrained(str(tmp / ADAPTER_FOLDER))      # the adapter's weights and config only
            model.model = model.model.unload()                          # the base, adapters taken out
            model.model.save_pretrained(str(tmp))
            model.processor.save_pretrained(str(tmp))
        return
    model.save_pretrained(directory)


def finetune(init: str, task: str, train_examples: list, val_examples: list, out: str | Path,
             cfg: FinetuneConfig, progress: bool = True) -> dict:
    """Train the pretrained model `init` for `task` on the examples; save it in out/model."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; --out names the run's folder")
    model = load_task_model(init, task)
    train_items, val_items = training_items(task, train_examples), []
    if val_examples:
        val_items = training_items(task, val_examples)
    torch.manual_seed(cfg.seed)
    if cfg.tune == "lora":
        peft_module()
        model.model = with_lora(model.model, cfg.lora_rank, cfg.lora_targets, str(init))
    trainable = [p for p in model.model.parameters() if p.requires_grad]
    counts = {"parameters": sum(p.numel() for p in model.model.parameters()),
              "trainable_parameters": sum(p.numel() for p in trainable),
              "adapter_parameters": adapter_parameters(model.model)}
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    steps_per_epoch = math.ceil(len(train_items) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs if cfg.max_steps is None else min(cfg.max_steps, steps_per_epoch * cfg.epochs)
    history: list[dict] = []
    losses: list[float] = []
    start, step, stopped = time.monotonic(), 0, "epochs"
    bar = tqdm(total=total, desc=f"fine-tune {task} ({cfg.tune})", disable=not progress, file=sys.stderr)
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(len(train_items))
        epoch_losses = []
        for i in range(0, len(order), cfg.batch_size):
            loss = model.training_loss(batch_values([train_items[j] for j in order[i:i + cfg.batch_size]]))
            value = float(loss.detach())
            if not math.isfinite(value):
                raise InputError(f"the training loss is {value} at step {step + 1}: lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
            optimizer.step()
            step += 1
            epoch_losses.append(value)
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
            if cfg.max_steps is not None and step >= cfg.max_steps:
                stopped = "max_steps"
            elif cfg.time_budget_s is not None and time.monotonic() - start >= cfg.time_budget_s:
                stopped = "time_budget"
            if stopped != "epochs":
                break
        losses += epoch_losses
        row = {"epoch": epoch + 1, "steps": step, "train_loss": float(np.mean(epoch_losses))}
        if val_items:
            row["val_loss"] = mean_loss(model, val_items, cfg.batch_size)
        history.append(row)
        if stopped != "epochs":
            break
    bar.close()
    model.eval()
    save_tuned(model, out / "model", cfg.lora_save if cfg.tune == "lora" else None)
    result = {"task": task, "init": str(init), **counts, "steps": step, "stopped_by": stopped,
              "seconds": round(time.monotonic() - start, 2), "first_loss": losses[0], "last_loss": losses[-1],
              "history": history, "options": asdict(cfg), "model": str(out / "model")}
    files.save_json(result, out / "finetune.json")
    return result
