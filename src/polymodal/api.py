"""Python entry points that mirror the CLI verbs: `pm.build` (train's model from flags),
`pm.train` (a training run), `pm.fit` (a model for a table) and `pm.finetune` (`train --init`: a pretrained Hugging Face task
model trained further); `pm.load` is inference.pipelines.load."""
from __future__ import annotations

from pathlib import Path

from .core.errors import ConfigError
from .encoders.registry import encoder_spec
from .experiments import fit as table_fit
from .models.base import Pretrained
from .training import finetune as tuning
from .training.config import TrainConfig
from .training.run import build_model, trainable_task
from .training.trainer import Trainer

DEFAULT_ENCODERS = {"image": "cnn", "text": "transformer", "audio": "logmel", "video": "frames"}


def build(task: str = "vqa", data: str | None = None, encoders: dict | None = None, fusion: str | None = None,
          fusion_config: dict | None = None, hidden: int = 128, seed: int = 0, n: int = 1000) -> Pretrained:
    """A new, untrained model for `task`, sized to `data` (its modalities, vocabulary and labels;
    default: the task's generated training data).

    encoders: {modality: registry name, a pretrained model (`hf:<repo-id>` or a folder; frozen,
    its embeddings cached), or {"name": ..., "config": {...}}}; default: a CNN for images, the
    small transformer for text, log-mel for audio, the frames encoder for video (those the data
    has are kept).
    fusion: the strategy of a fusion model (vqa, classify, text-qa; default
    hybrid:cross-attention); a task whose model is of its own kind (caption, align, ...) takes
    none. The model is a MultimodalModel, or the task's own kind (a Captioner, an Aligner, ...).
    """
    built = trainable_task(task)
    chosen = encoders or DEFAULT_ENCODERS
    spec = built.model_spec({m: e if isinstance(e, dict) else encoder_spec(e, m) for m, e in chosen.items()},
                            fusion, fusion_config or {}, hidden)
    data = data or built.default_data
    if data is None:
        raise ConfigError(f"a {task} model is sized by a manifest of its data: pass data=PATH")
    examples, _ = built.load_data(data, seed, n)
    return build_model(built, spec, examples)


def train(model: Pretrained, data: str, out: str | Path, seed: int = 0, n: int = 1000,
          val: str | None = None, val_n: int = 200, resume: bool = False, **options) -> dict:
    """Train `model` on `data` (shapes:<preset>:<split>, spoken:<split> or a manifest).
    options: TrainConfig fields (epochs, batch_size, lr, time_budget_s, ...) and the task's own
    options (e.g. jpeg_augment). Returns the last metrics."""
    task_class = type(trainable_task(model.config.task))
    task_keys = set(task_class.Options.keys())
    task = task_class(**{k: v for k, v in options.items() if k in task_keys})
    cfg = TrainConfig.from_dict({k: v for k, v in options.items() if k not in task_keys}, "train options")
    train_examples, _ = task.load_data(data, seed, n)
    val_examples = task.load_data(val, seed + 1, val_n)[0] if val else []
    trainer = Trainer(model, task, train_examples, val_examples, out, cfg)
    if resume:
        trainer.resume()
    return trainer.fit()


def finetune(init: str, task: str, data: str, out: str | Path, seed: int = 0, n: int = 1000, val: str | None = None,
             val_n: int = 200, progress: bool = True, **options) -> dict:
    """Fine-tune the pretrained Hugging Face model `init` (hf:<repo-id> or a folder) for `task`
    (caption, align, vqa, transcribe) on `data`; saved in Hugging Face layout in out/model.
    options: training.finetune.FinetuneConfig fields (tune "full" | "lora", lora_rank,
    lora_targets, lora_save "merged" | "adapter", epochs, batch_size, lr, time_budget_s, ...).
    Returns the run's report (losses, parameter counts)."""
    built = trainable_task(task)
    examples, _ = built.load_data(data, seed, n)
    val_examples = built.load_data(val, seed + 1, val_n)[0] if val else []
    cfg = tuning.FinetuneConfig.from_dict({"seed": seed, **options}, "fine-tune options")
    return tuning.finetune(init, task, examples, val_examples, out, cfg, progress)


def fit(table: str | Path, label: str, out: str | Path, time_budget_s: float | None = None, **options) -> dict:
    """A model for a table's `label` column (`polymodal fit`): each column's modality inferred,
    encoders and fusion chosen, validation split, early stopping, best checkpoint and the
    modality ablation; the model in out/model. options: experiments.fit.FitOptions fields
    (problem, columns, encoders, fusion, val_share, epochs, patience, ablation, seed).
    Returns the report (also out/report.json)."""
    unknown = sorted(set(options) - set(table_fit.FitOptions.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"fit options: unknown key {unknown[0]}; known: "
                          f"{', '.join(sorted(table_fit.FitOptions.__dataclass_fields__))}")
    return table_fit.fit(table, out, table_fit.FitOptions(label=label, time_budget_s=time_budget_s, **options))
