"""Python entry points that mirror the CLI verbs."""
from __future__ import annotations

from pathlib import Path

from .model import MultimodalModel
from .tasks import TASKS
from .train import TrainConfig, Trainer


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
