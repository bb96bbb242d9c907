"""The table encoder: a row's numbers and categories as tokens, one per column.

A number becomes its column's vector scaled by the standardised value, plus the column's
bias (the FT-Transformer's numerical tokenizer); a category becomes its column's embedding of
that value. Every fusion takes the tokens like any modality's; the pooled vector is an MLP of
all of them flattened. A missing number counts as its column's mean; a missing or unseen
category as the column's own "unknown" entry (index 0).
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import ConfigError, InputError
from ..data.table import as_number
from .base import Embedding, Encoder
from .registry import ENCODERS

UNKNOWN = 0


class TableProcessor:
    """Rows ({column: value}) -> {"numbers": [B, N] standardised, "categories": [B, C] indices}."""

    def __init__(self, numbers: list[list], categories: list[list]):
        self.numbers, self.categories = numbers, categories
        self.index = [{v: i + 1 for i, v in enumerate(values)} for _, values in categories]

    def __call__(self, rows: list[dict]) -> dict:
        numbers = torch.zeros(len(rows), len(self.numbers))
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise InputError(f"a table input is a {{column: value}} row, got {type(row).__name__}")
            for j, (name, mean, std) in enumerate(self.numbers):
                given = row.get(name)
                value = as_number(given)
                if value is None and given not in (None, ""):
                    raise InputError(f"column {name!r}: {given!r} is not a number")
                numbers[i, j] = 0.0 if value is None else (value - mean) / std
        categories = torch.tensor([[self.index[j].get(str(row.get(name)), UNKNOWN) if row.get(name) not in (None, "")
                                    else UNKNOWN for j, (name, _) in enumerate(self.categories)] for row in rows],
                                  dtype=torch.long).reshape(len(rows), len(self.categories))
        return {"numbers": numbers, "categories": categories}


class TableEncoder(Encoder):
    modality = "table"

    def __init__(self, numbers: list[list] | None = None, categories: list[list] | None = None, dim: int = 64):
        super().__init__()
        numbers, categories = list(numbers or []), list(categories or [])
        if not numbers and not categories:
            raise ConfigError("the table encoder needs at least one number or category column")
        for entry in numbers:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str) and entry[2] > 0):
                raise ConfigError(f"table encoder numbers: each is [name, mean, std > 0], got {entry!r}")
        for entry in categories:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list)):
                raise ConfigError(f"table encoder categories: each is [name, [values]], got {entry!r}")
        self.config = dict(numbers=numbers, categories=categories, dim=dim)
        self.processor = TableProcessor(numbers, categories)
        self.dim = dim
        self.number_weight = nn.Parameter(torch.randn(len(numbers), dim) * 0.1)
        self.number_bias = nn.Parameter(torch.zeros(len(numbers), dim))
        sizes = [len(values) + 1 for _, values in categories]
        self.offsets = torch.tensor([0] + sizes[:-1]).cumsum(0) if sizes else torch.zeros(0, dtype=torch.long)
        self.category_embed = nn.Embedding(max(1, sum(sizes)), dim)
        width = (len(numbers) + len(categories)) * dim
        self.pool = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, inputs: dict) -> Embedding:
        numbers, categories = inputs["numbers"], inputs["categories"]
        tokens = [numbers.unsqueeze(-1) * self.number_weight + self.number_bias]
        if categories.shape[1]:
            tokens.append(self.category_embed(categories + self.offsets.to(categories.device)))
        x = torch.cat(tokens, 1)
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return Embedding(x, mask, self.pool(x.flatten(1)))


ENCODERS.register("table")(TableEncoder)
