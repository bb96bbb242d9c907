"""The training loop's options (a recipe's `train:` section): nothing task-specific; a task's
own options are its tasks.base.TaskOptions (a recipe's `task_options:`)."""
from __future__ import annotations

from dataclasses import dataclass

from ..core.config import Config
from ..core.errors import ConfigError


@dataclass
class TrainConfig(Config):
    epochs: int = 10
    batch_size: int = 32              # items per step (for VQA: images, each with its questions)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    schedule: str = "constant"        # constant after warm-up: a decay tied to a short budget
                                      # can halve the rate just before a breakthrough
    grad_clip: float = 1.0
    checkpoint_every: int = 500       # steps; a checkpoint is also written at each epoch end
    eval_batch_size: int = 64
    seed: int = 0
    time_budget_s: float | None = None
    max_steps: int | None = None      # stop (with a checkpoint) after this many steps in all
    mixed_precision: str = "auto"     # "auto": bf16 on a GPU, none on CPU
    patience: int | None = None       # stop after this many evaluations without a better validation score
    keep_best: bool = False           # save the model of the best validation score (task.selection), not the last
    freeze: tuple = ()                # parts of the model kept as they start (Pretrained.parts(): for a
                                      # fusion model its encoders by modality, "fusion" and "head"),
                                      # e.g. taken from a trained model by `init`: no gradients, no
                                      # optimizer state

    def __post_init__(self):
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ConfigError(f"training option patience must be a positive integer, got {self.patience!r}")
        for name in ("epochs", "batch_size", "checkpoint_every", "eval_batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"training option {name} must be a positive integer, got {getattr(self, name)!r}")
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"training option schedule must be constant or cosine, got {self.schedule!r}")
        if self.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ConfigError(f"mixed_precision must be auto, no, bf16 or fp16, got {self.mixed_precision!r}")
        if not self.lr > 0:
            raise ConfigError(f"training option lr must be positive, got {self.lr!r}")
