"""The trainer: one loop on Hugging Face Accelerate, so the same code runs on CPU, one GPU
or many (`accelerate launch`). Checkpoints are atomic; `resume=True` continues an
interrupted run from its last checkpoint, at the batch where it stopped.
"""
from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import broadcast
from tqdm.auto import tqdm

from ..core import files
from ..core.errors import ConfigError, InputError
from ..layers import to_device
from ..models.base import Pretrained
from ..tasks.base import TrainableTask
from .config import TrainConfig
from .log import TrainingLog


def learning_rate(cfg: TrainConfig, step: int, total: int) -> float:
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    if cfg.schedule == "cosine":
        return cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))
    return cfg.lr * warm


def frozen_modules(model: Pretrained, names) -> list[torch.nn.Module]:
    """The parts `freeze` names (model.parts(): a fusion model's encoders by modality, its
    fusion and head; another model's top-level modules)."""
    parts = model.parts()
    unknown = [m for m in names if m not in parts]
    if unknown:
        raise ConfigError(f"training option freeze: the model has no part {', '.join(unknown)} "
                          f"(it has {', '.join(parts) or 'none'})")
    return [parts[m] for m in names]


def freeze(model: torch.nn.Module, names) -> None:
    """Stop the named parts learning (their forward pass then builds no graph either)."""
    for part in frozen_modules(model, names):
        part.requires_grad_(False)


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Optimizer state as flat tensors (for safetensors) plus its JSON-able rest."""
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": v for i, s in sd["state"].items() for k, v in s.items() if torch.is_tensor(v)}
    return tensors, {"param_groups": sd["param_groups"]}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state: dict = {}
    for key, value in tensors.items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def accelerator(precision: str, ddp: DistributedDataParallelKwargs) -> Accelerator:
    """An Accelerator for one run. Accelerate keeps its state per process and refuses a second
    run with another mixed precision (compare-fusion's rows, a notebook training twice); in a
    single process nothing else holds that state, so it is set afresh."""
    state = AcceleratorState._shared_state
    if state and str(state.get("_mixed_precision")) != precision and PartialState().num_processes == 1:
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available(), kwargs_handlers=[ddp])


class Trainer:
    """Trains a model for a task (tasks.base.TrainableTask: its batches, loss and evaluation)
    on its examples, writing checkpoints, metrics and the trained model into `out`."""

    def __init__(self, model: Pretrained, task: TrainableTask, train_examples, val_examples, out: str | Path,
                 cfg: TrainConfig, recipe: dict | None = None, deadline: float | None = None):
        """deadline: a time.monotonic() by which training stops, evaluations included (a caller
        sharing one wall-clock budget among runs); cfg.time_budget_s counts training steps only."""
        precision = cfg.mixed_precision
        if precision == "auto":
            precision = "bf16" if torch.cuda.is_available() else "no"
        # An encoder's pooled head is unused by token-level fusions: DDP must allow that.
        ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
        self.acc = accelerator(precision, ddp)
        self.cfg, self.task, self.out = cfg, task, Path(out)
        self.train_examples, self.val_examples = train_examples, val_examples
        self.recipe = recipe or {}
        self.raw_model = model
        self.deadline = deadline
        freeze(model, cfg.freeze)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                                weight_decay=cfg.weight_decay)
        self.model, self.opt = self.acc.prepare(model, opt)
        self.log = TrainingLog(self.out)
        self.step, self.epoch, self.batch_in_epoch, self.elapsed = 0, 0, 0, 0.0
        self.data_elapsed = 0.0                   # of elapsed: building batches (what a step waits on)
        self.best: dict | None = None             # the evaluation with the best validation score
        self.evals_since_best = 0

    # -- checkpoints ---------------------------------------------------------------
    @property
    def ckpt_root(self) -> Path:
        return self.out / "checkpoints"

    def save_checkpoint(self) -> None:
        """Weights, optimizer and loop state are written into one temporary folder that is
        renamed to step-N whole; only then does latest.json (written atomically) point to it.
        A kill at any moment leaves the previous checkpoint complete and pointed to."""
        if not self.acc.is_main_process:
            return
        name = f"step-{self.step:07d}"
        if (self.ckpt_root / name).exists():           # this step is saved already (a periodic
            self.log.write()                           # checkpoint at an epoch's end): its eval is not
            return
        with files.atomic_directory(self.ckpt_root / name) as tmp:
            self.acc.unwrap_model(self.model).write_files(tmp)
            tensors, meta = optimizer_tensors(self.base_optimizer())
            tensors["rng.torch"] = torch.get_rng_state()      # dropout masks resume exactly
            files.save_tensors(tensors, tmp / "optimizer.safetensors")
            files.save_json({"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                                  "elapsed": self.elapsed, "data_elapsed": self.data_elapsed, "optimizer": meta, "train": asdict(self.cfg),
                                  "recipe": self.recipe}, tmp / "state.json")
        self.log.write()
        files.save_json({"latest": name}, self.ckpt_root / "latest.json")
        for old in self.ckpt_root.glob("step-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)

    def base_optimizer(self) -> torch.optim.Optimizer:
        return self.opt.optimizer          # accelerate wraps it

    def resume(self) -> bool:
        pointer = self.ckpt_root / "latest.json"
        if not pointer.exists():
            return False
        folder = self.ckpt_root / files.load_json(pointer)["latest"]
        state = files.load_json(folder / "state.json")
        loaded = type(self.raw_model).from_pretrained(folder)
        self.acc.unwrap_model(self.model).load_state_dict(loaded.state_dict())
        tensors = files.load_tensors(folder / "optimizer.safetensors")
        if "rng.torch" in tensors:
            torch.set_rng_state(tensors.pop("rng.torch"))
        restore_optimizer(self.base_optimizer(), tensors, state["optimizer"])
        self.step, self.epoch = state["step"], state["epoch"]
        self.batch_in_epoch, self.elapsed = state["batch_in_epoch"], state["elapsed"]
        self.data_elapsed = state.get("data_elapsed", 0.0)      # checkpoints from before it was kept
        self.log.load(up_to_step=self.step, mid_epoch=self.batch_in_epoch > 0)
        return True

    # -- the loop ------------------------------------------------------------------
    def batches(self, epoch: int) -> list[list]:
        order = np.random.default_rng([self.cfg.seed, epoch]).permutation(len(self.train_examples))
        bs, world = self.cfg.batch_size, self.acc.num_processes
        # Every rank must take the same number of steps (DDP all-reduces each one): drop the
        # remainder that does not fill a batch on every rank.
        order = order[: len(order) // (bs * world) * bs * world]
        order = order[self.acc.process_index::world]
        return [[self.train_examples[i] for i in order[s:s + bs]] for s in range(0, len(order) - bs + 1, bs)]

    def fit(self) -> dict:
        steps_per_epoch = len(self.batches(0))
        if steps_per_epoch == 0:
            raise InputError(f"{len(self.train_examples)} training items: fewer than one batch of "
                             f"{self.cfg.batch_size}; lower --batch-size or add data")
        total = steps_per_epoch * self.cfg.epochs
        patience_ran_out = False
        while self.epoch < self.cfg.epochs and not self.out_of_time() and not patience_ran_out:
            self.train_epoch(steps_per_epoch, total)
            if self.batch_in_epoch < steps_per_epoch:     # stopped early (budget or max_steps)
                break
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            self.evaluate_and_log()
            patience_ran_out = self.note_best()
            self.save_checkpoint()
        if not self.log.evals or self.log.evals[-1]["step"] != self.step:   # stopped mid-epoch
            self.evaluate_and_log()
            self.note_best()
        self.save_checkpoint()
        if self.acc.is_main_process:
            if not (self.cfg.keep_best and self.best):        # with keep_best, model/ holds the best already
                self.acc.unwrap_model(self.model).save_pretrained(self.out / "model")
            self.log.plot(self.task.curve_metrics)
        if self.best is None:
            return self.log.last()
        return {**self.log.last(), "best": self.best, "stopped_by_patience": patience_ran_out}

    def note_best(self) -> bool:
        """After an evaluation: with keep_best, save the model when its validation score is the
        best yet (task.selection); -> whether `patience` evaluations have passed without one."""
        if not (self.cfg.keep_best or self.cfg.patience) or not self.val_examples:
            return False
        if self.acc.is_main_process:            # only the main process evaluates
            name, lower = self.task.selection
            value = self.log.evals[-1].get(name)
            if value is None:
                raise ConfigError(f"the {self.task.model_task} task's evaluation gives no {name} to choose the "
                                  f"best by")
            if self.best is None or (value < self.best[name] if lower else value > self.best[name]):
                self.best, self.evals_since_best = dict(self.log.evals[-1]), 0
                if self.cfg.keep_best:
                    self.acc.unwrap_model(self.model).save_pretrained(self.out / "model")
            else:
                self.evals_since_best += 1
        stop = torch.tensor([float(self.cfg.patience is not None and self.evals_since_best >= self.cfg.patience)],
                            device=self.acc.device)
        if self.acc.num_processes > 1:          # every rank stops at the same epoch
            stop = broadcast(stop, from_process=0)
        return bool(stop.item())

    def out_of_time(self) -> bool:
        """A stop short of the planned epochs: time budget spent or max_steps reached.
        Under DDP the main process's clock decides for all, so no rank is left waiting."""
        if self.cfg.max_steps is not None and self.step >= self.cfg.max_steps:
            return True
        if self.cfg.time_budget_s is None and self.deadline is None:
            return False
        over = (self.cfg.time_budget_s is not None and self.elapsed >= self.cfg.time_budget_s) or (
            self.deadline is not None and time.monotonic() >= self.deadline)
        spent = torch.tensor([float(over)], device=self.acc.device)
        if self.acc.num_processes > 1:
            spent = broadcast(spent, from_process=0)
        return bool(spent.item())

    def train_mode(self, model) -> None:
        """Training mode, except for frozen encoders: their BatchNorm statistics stay as they came."""
        model.train()
        for part in frozen_modules(self.acc.unwrap_model(model), self.cfg.freeze):
            part.eval()

    def train_epoch(self, steps_per_epoch: int, total: int) -> None:
        self.train_mode(self.model)
        batches = self.batches(self.epoch)
        bar = tqdm(total=steps_per_epoch, initial=self.batch_in_epoch, desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}",
                   disable=not (self.acc.is_main_process and sys.stderr.isatty()), leave=False)
        while self.batch_in_epoch < steps_per_epoch and not self.out_of_time():
            started = time.perf_counter()
            rng = np.random.default_rng([self.cfg.seed, self.epoch, self.batch_in_epoch])
            loss = self.train_step(batches[self.batch_in_epoch], rng, total)
            self.step, self.batch_in_epoch = self.step + 1, self.batch_in_epoch + 1
            self.elapsed += time.perf_counter() - started
            self.log.add_train(self.step, loss)
            bar.update(1)
            bar.set_postfix(loss=f"{self.log.running_loss():.3f}")
            if self.step % self.cfg.checkpoint_every == 0:
                self.save_checkpoint()
        bar.close()

    def train_step(self, examples, rng, total: int) -> float:
        started = time.perf_counter()
        batch, targets = self.task.make_batch(self.raw_model, examples, rng)
        batch, targets = to_device(batch, self.acc.device), to_device(targets, self.acc.device)
        self.data_elapsed += time.perf_counter() - started
        for group in self.opt.param_groups:
            group["lr"] = learning_rate(self.cfg, self.step, total)
        with self.acc.autocast():
            loss = self.task.loss(self.model(batch), targets)
        self.opt.zero_grad(set_to_none=True)
        self.acc.backward(loss)
        if self.cfg.grad_clip:
            self.acc.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        return loss.item()

    def evaluate_and_log(self) -> None:
        metrics = {}
        if self.acc.is_main_process:
            model = self.acc.unwrap_model(self.model)
            self.recalibrate_batchnorm(model)
            if self.val_examples:
                metrics = self.task.evaluate(model, self.val_examples, self.cfg.eval_batch_size, self.acc.device)
        self.log.add_eval(self.epoch, self.step, self.elapsed, metrics, self.data_elapsed)

    @torch.no_grad()
    def recalibrate_batchnorm(self, model, batches: int = 32) -> None:
        """BatchNorm's running statistics trail a fast-changing network, and a model evaluated
        with them can score far below what it does in training mode. Before each evaluation
        (and so before saving) they are recomputed as plain averages over `batches` training
        batches, with the weights as they are now."""
        frozen = {id(m) for part in frozen_modules(model, self.cfg.freeze) for m in part.modules()}
        norms = [m for m in model.modules()
                 if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and id(m) not in frozen]
        if not norms:
            return
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None                       # None: cumulative average
        self.train_mode(model)
        rng = np.random.default_rng([self.cfg.seed, 10 ** 6])
        order = rng.permutation(len(self.train_examples))
        bs = self.cfg.batch_size
        for start in range(0, min(len(order), batches * bs), bs):
            examples = [self.train_examples[i] for i in order[start:start + bs]]
            batch, _ = self.task.make_batch(model, examples, rng)
            model(to_device(batch, self.acc.device))
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
