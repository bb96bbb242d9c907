"""Object-centric pretraining of a grid image encoder on sort-of-clevr scenes.

Every sort-of-clevr scene holds one object of each of the six colours, so each token of the
encoder's grid is asked, per colour: is that object's centre in this cell, is it a circle,
and where in the cell is its centre. The encoder learns what the scene holds and where,
from images alone (no questions); fusion strategies compared on VQA then start from the
same unimodal features, as the chapter's encoder -> fusion split describes, and none of
them spends its budget discovering objects through the answers. It does not remove the
other plateau, binding the question to the object (docs/fusion.md).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..core import files
from ..data import sort_of_clevr
from ..data.world import shapes
from ..encoders.registry import build_encoder

COLOURS = list(sort_of_clevr.COLOURS)
PER_COLOUR = 4          # outputs per colour and cell: here?, circle?, x offset, y offset


def targets(scenes, side: int, image_size: int) -> dict[str, torch.Tensor]:
    """Per scene and colour: the cell holding the object's centre, its shape, its offset
    inside the cell (-0.5..0.5 of a cell)."""
    cell = image_size / side
    index = {c: i for i, c in enumerate(COLOURS)}
    where = np.zeros((len(scenes), len(COLOURS)), np.int64)
    circle = np.zeros((len(scenes), len(COLOURS)), np.float32)
    offset = np.zeros((len(scenes), len(COLOURS), 2), np.float32)
    for s, scene in enumerate(scenes):
        for o in scene.objects:
            c = index[o.colour]
            col, row = min(int(o.x // cell), side - 1), min(int(o.y // cell), side - 1)
            where[s, c] = row * side + col
            circle[s, c] = o.shape == "circle"
            offset[s, c] = (o.x / cell - col - 0.5, o.y / cell - row - 0.5)
    return {"where": torch.from_numpy(where), "circle": torch.from_numpy(circle), "offset": torch.from_numpy(offset)}


class ObjectHead(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.out = nn.Linear(dim, len(COLOURS) * PER_COLOUR)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, t, _ = tokens.shape
        return self.out(tokens).view(b, t, len(COLOURS), PER_COLOUR)     # [B, cells, colours, 4]


def losses(outputs: torch.Tensor, target: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, cell accuracy): cross-entropy over cells for where each colour is; shape and
    offset are scored only at the true cell."""
    where_logits = outputs[..., 0].transpose(1, 2)                     # [B, colours, cells]
    loss = nn.functional.cross_entropy(where_logits.flatten(0, 1), target["where"].flatten())
    at = outputs.gather(1, target["where"][:, None, :, None].expand(-1, 1, -1, PER_COLOUR)).squeeze(1)
    loss = loss + nn.functional.binary_cross_entropy_with_logits(at[..., 1], target["circle"])
    loss = loss + 4 * nn.functional.mse_loss(torch.tanh(at[..., 2:]) / 2, target["offset"])
    accuracy = (where_logits.argmax(-1) == target["where"]).float().mean()
    return loss, accuracy


def pretrain(encoder_spec: dict, path: str | Path, n: int = 10000, steps: int = 1500, batch_size: int = 32,
             seed: int = 1, lr: float = 1e-3) -> dict:
    """Train the encoder named in `encoder_spec` ({name, config}) and write its weights to
    `path` (safetensors, atomically). Returns held-out cell accuracy and time."""
    torch.manual_seed(seed)
    encoder = build_encoder(encoder_spec)
    head = ObjectHead(encoder.dim)
    started = time.perf_counter()
    scenes = shapes("sort-of-clevr", "train", seed, n)
    side, size = encoder.side, encoder.config["image_size"]
    images = [s.image for s in scenes]
    target = targets(scenes, side, size)
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr)
    rng = np.random.default_rng(seed)
    encoder.train()
    for _ in tqdm(range(steps), desc="pretraining the image encoder", unit="step", leave=False,
                  disable=not sys.stderr.isatty()):
        pick = rng.choice(n, min(batch_size, n), replace=False)
        outputs = head(encoder(encoder.processor([images[i] for i in pick])).tokens)
        loss, _ = losses(outputs, {k: v[pick] for k, v in target.items()})
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - started
    held_out = shapes("sort-of-clevr", "val", seed, 500)
    encoder.eval()
    with torch.no_grad():
        outputs = head(encoder(encoder.processor([s.image for s in held_out])).tokens)
        _, accuracy = losses(outputs, targets(held_out, side, size))
    files.save_tensors({k: v.contiguous() for k, v in encoder.state_dict().items()}, path,
                            metadata={"encoder": encoder_spec["name"]})
    return {"cell_accuracy": round(float(accuracy), 4), "seconds": round(seconds), "steps": steps}
