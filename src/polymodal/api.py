"""Python entry points that mirror the CLI verbs."""
from __future__ import annotations

from pathlib import Path

from .model import MultimodalModel
from .tasks import TASKS
from .trainer import TrainConfig, Trainer
from .training_run import build_model


def build(task: str = "vqa", data: str = "shapes:sort-of-clevr:train", encoders: dict | None = None,
          fusion: str = "hybrid:cross-attention", fusion_config: dict | None = None, hidden: int = 128,
          seed: int = 0, n: int = 1000) -> MultimodalModel:
    """A new model for `task`, sized to `data` (its modalities, vocabulary and labels).

    encoders: {modality: registry name, or {"name": ..., "config": {...}}}; default: a CNN for
    images, the small transformer for text, log-mel for audio (those the data has are kept).
    """
    chosen = encoders or {"image": "cnn", "text": "transformer", "audio": "logmel"}
    spec = {"encoders": {m: e if isinstance(e, dict) else {"name": e, "config": {}} for m, e in chosen.items()},
            "fusion": fusion, "fusion_config": fusion_config or {}, "hidden": hidden}
    examples, _ = TASKS.get(task).load_examples(data, seed, n)
    return build_model(task, spec, examples)


def train(model: MultimodalModel, data: str, out: str | Path, seed: int = 0, n: int = 1000,
          val: str | None = None, val_n: int = 200, resume: bool = False, **options) -> dict:
    """Train `model` on `data` (shapes:<preset>:<split> or a manifest); options are
    TrainConfig fields (epochs, batch_size, lr, time_budget_s, ...). Returns the last metrics."""
    task = TASKS.get(model.config.task)
    train_examples, _ = task.load_examples(data, seed, n)
    val_examples = task.load_examples(val, seed + 1, val_n)[0] if val else []
    trainer = Trainer(model, task, train_examples, val_examples, out, TrainConfig.from_dict(options))
    if resume:
        trainer.resume()
    return trainer.fit()
