"""Training metrics: kept in memory, written as CSV + JSON, drawn as a curve PNG."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..core import files as checkpoint


class TrainingLog:
    def __init__(self, out: Path, smoothing: int = 50):
        self.out = Path(out)
        self.train: list[dict] = []      # {step, loss}
        self.evals: list[dict] = []      # {epoch, step, elapsed_s, train_loss, <metrics>}
        self.smoothing = smoothing

    def add_train(self, step: int, loss: float) -> None:
        self.train.append({"step": step, "loss": loss})

    def running_loss(self) -> float:
        recent = self.train[-self.smoothing:]
        return sum(r["loss"] for r in recent) / max(1, len(recent))

    def add_eval(self, epoch: int, step: int, elapsed: float, metrics: dict, data_elapsed: float = 0.0) -> None:
        """elapsed: seconds in training steps so far; data_elapsed: of them, building batches
        (logged as data_share: near 0 when the model, not the data, sets the pace)."""
        flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        flat.update({f"{k}_{sub}": v for k, d in metrics.items() if isinstance(d, dict) for sub, v in d.items()})
        self.evals.append({"epoch": epoch, "step": step, "elapsed_s": round(elapsed, 1),
                           "data_share": round(data_elapsed / elapsed, 3) if elapsed else 0.0,
                           "train_loss": round(self.running_loss(), 5), **flat})

    def last(self) -> dict:
        return self.evals[-1] if self.evals else {"train_loss": self.running_loss()}

    def write(self) -> None:
        """Called by the main process only (the trainer's checkpoints)."""
        checkpoint.save_json({"evals": self.evals, "train": self.train}, self.out / "metrics.json")
        if self.evals:
            fields = sorted({k for e in self.evals for k in e}, key=lambda k: (k not in ("epoch", "step"), k))
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fields)
            writer.writeheader()
            writer.writerows(self.evals)
            checkpoint.save_text(buf.getvalue(), self.out / "metrics.csv")

    def load(self, up_to_step: int, mid_epoch: bool = False) -> None:
        """The log as it was at `up_to_step`. mid_epoch: the run stopped there inside an
        epoch, and the evaluation made at the stop is dropped, so the resumed log reads as
        an uninterrupted run's."""
        path = self.out / "metrics.json"
        if path.exists():
            data = json.loads(path.read_text())
            self.train = [r for r in data["train"] if r["step"] <= up_to_step]
            self.evals = [r for r in data["evals"] if r["step"] < up_to_step or r["step"] == up_to_step and not mid_epoch]

    def plot(self, keys: tuple = ("accuracy",)) -> Path | None:
        """Loss curve, and beside it the validation metrics named in `keys` (0..1 scales)."""
        if not self.train:
            return None
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
        steps = [r["step"] for r in self.train]
        k = max(1, min(self.smoothing, len(steps) // 10))
        smooth = [sum(r["loss"] for r in self.train[max(0, i - k + 1):i + 1]) / min(k, i + 1) for i in range(len(steps))]
        ax_loss.plot(steps, smooth)
        ax_loss.set(xlabel="step", ylabel="training loss", yscale="log", title="loss")
        shown = []
        for key in keys:
            points = [(e["step"], e[key]) for e in self.evals if key in e]
            if points:
                ax_acc.plot(*zip(*points), marker="o", label=key.replace("_", " "))
                shown += [v for _, v in points]
        ax_acc.set(xlabel="step", ylabel="validation", title="validation")
        if all(0 <= v <= 1 for v in shown):      # shares and rates; an error in the data's units keeps its own
            ax_acc.set_ylim(0, 1)
        if ax_acc.lines:
            ax_acc.legend(loc="lower right")
        fig.tight_layout()
        path = self.out / "training_curve.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path
