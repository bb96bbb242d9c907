"""Few-shot classification with an aligner's image embeddings: k example images per class,
each query labelled by the nearest class mean (prototype) or a logistic-regression probe.

What a few-shot class may not depend on (classes of shapes in any colour, size and place)
can be taken out of each embedding: averaged over image views that change only that (colour:
the 6 orders of the RGB channels; mirror: left-right), or, for a factored aligner
(models/binding.py), whose embedding has colour and place as factors, contracted out: the
embedding's second moment over the factors kept, which no image view can give for place.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from ..core.errors import InputError
from ..data.shapes_preset import COLOURS, EXTRA_SHAPES, SHAPES, object_scene
from ..data.world import scene_rng
from ..modalities import Image
from ..models.aligner import Aligner
from .align import embed_images

FEW_SHOT_SHAPES = SHAPES + EXTRA_SHAPES       # the star and the cross: never in alignment training
INVARIANCES = ("colour", "mirror", "place")
VIEW_INVARIANCES = ("colour", "mirror")
FACTOR_NAMES = ("colour", "shape", "place")          # the order of models/binding.py's factors


def few_shot_images(seed: int, per_class: int) -> dict[str, list[np.ndarray]]:
    """Single-object scenes of each of FEW_SHOT_SHAPES in random colours, sizes and places."""
    colours = list(COLOURS)
    out = {}
    for shape in FEW_SHOT_SHAPES:
        images = []
        for i in range(per_class):
            rng = scene_rng("shapes", f"few-shot/{shape}", seed, i)
            images.append(object_scene(rng, colours[int(rng.integers(len(colours)))], shape).image)
        out[shape] = images
    return out


def invariant_views(array: np.ndarray, invariances: tuple[str, ...]) -> list[np.ndarray]:
    """The image under every combination of the named view invariances: colour (the 6
    orders of the RGB channels) and mirror (left-right)."""
    unknown = set(invariances) - set(VIEW_INVARIANCES)
    if unknown:
        raise InputError(f"unknown invariance {', '.join(sorted(unknown))}; known: {', '.join(INVARIANCES)}")
    views = [array[..., list(order)] for order in itertools.permutations(range(3))] if "colour" in invariances \
        else [array]
    if "mirror" in invariances:
        views += [v[:, ::-1] for v in views]
    return [np.ascontiguousarray(v) for v in views]


def contract_factors(emb: torch.Tensor, factors: list[int], invariances: tuple[str, ...]) -> torch.Tensor:
    """[N, prod(factors)] factored embeddings -> unit vectors of their second moment over the
    factors not named: sum over the named factors' coordinates of kept x kept outer products."""
    drop = [i for i, name in enumerate(FACTOR_NAMES) if name in invariances]
    keep = [i for i in range(len(factors)) if i not in drop]
    sizes = [factors[i] for i in drop], [factors[i] for i in keep]
    order = [0] + [1 + i for i in drop + keep]                          # dim 0: the batch
    t = emb.view(len(emb), *factors).permute(*order).reshape(len(emb), int(np.prod(sizes[0])), int(np.prod(sizes[1])))
    return torch.nn.functional.normalize((t.transpose(1, 2) @ t).flatten(1), dim=-1)


def embed_invariant(model, images: list, invariances: tuple[str, ...] = (), batch_size: int = 128,
                    device=None) -> torch.Tensor:
    """Unit embeddings of the images, invariant to what `invariances` names (just the
    embeddings when it names nothing): views averaged, factors contracted."""
    unknown = set(invariances) - set(INVARIANCES)
    if unknown:
        raise InputError(f"unknown invariance {', '.join(sorted(unknown))}; known: {', '.join(INVARIANCES)}")
    factors = model.config.factors if isinstance(model, Aligner) else None
    contracted = tuple(i for i in invariances if factors and i in ("colour", "place"))
    if "place" in invariances and not contracted:
        raise InputError("invariance place needs a factored aligner (one with factors, such as align-shapes)")
    views = tuple(i for i in invariances if i not in contracted)
    if not views:
        emb = embed_images(model, images, batch_size, device)
    else:
        out = []
        for image in images:
            array = image if isinstance(image, np.ndarray) else Image.open(image).array
            views_of = invariant_views(array, views)
            out.append(torch.nn.functional.normalize(embed_images(model, views_of, batch_size, device).mean(0), dim=0))
        emb = torch.stack(out)
    return contract_factors(emb, factors, contracted) if contracted else emb


def fit_probe(x: torch.Tensor, y: torch.Tensor, classes: int, steps: int = 100) -> torch.nn.Linear:
    """A logistic-regression probe on (normalised) embeddings, fitted with L-BFGS."""
    probe = torch.nn.Linear(x.shape[1], classes)
    opt = torch.optim.LBFGS(probe.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(probe(x), y) + 1e-3 * probe.weight.square().sum()
        loss.backward()
        return loss
    opt.step(closure)
    return probe


def few_shot_predict(support: dict[str, torch.Tensor], queries: torch.Tensor, method: str = "prototype") -> list[str]:
    """support: label -> [k, D] embeddings; queries [N, D] -> the label of each query."""
    labels = sorted(support)
    if method == "prototype":
        protos = torch.nn.functional.normalize(torch.stack([support[c].mean(0) for c in labels]), dim=-1)
        best = (queries @ protos.T).argmax(-1)
    elif method == "probe":
        x = torch.cat([support[c] for c in labels])
        y = torch.cat([torch.full((len(support[c]),), i) for i, c in enumerate(labels)])
        with torch.enable_grad():
            probe = fit_probe(x, y, len(labels))
        best = probe(queries).argmax(-1)
    else:
        raise InputError(f"few-shot method must be prototype or probe, got {method!r}")
    return [labels[i] for i in best.tolist()]


def few_shot_metrics(model, by_label: dict[str, list], shots: int = 5, episodes: int = 20, seed: int = 0,
                     method: str = "prototype", batch_size: int = 128, device=None,
                     invariances: tuple[str, ...] = ()) -> dict:
    """Episodes of `shots` support images per class (the rest are queries): accuracy overall
    and per class, averaged over episodes."""
    if any(len(images) <= shots for images in by_label.values()):
        raise InputError(f"few-shot needs more than {shots} images of every class (some are the queries)")
    emb = {c: embed_invariant(model, images, invariances, batch_size, device) for c, images in by_label.items()}
    rng = np.random.default_rng(seed)
    accuracies, per_label = [], {c: [] for c in emb}
    for _ in range(episodes):
        order = {c: rng.permutation(len(e)) for c, e in emb.items()}
        support = {c: emb[c][order[c][:shots]] for c in emb}
        truth = [c for c in emb for _ in order[c][shots:]]
        queries = torch.cat([emb[c][order[c][shots:]] for c in emb])
        predicted = few_shot_predict(support, queries, method)
        right = [t == p for t, p in zip(truth, predicted)]
        accuracies.append(np.mean(right))
        for c in emb:
            per_label[c].append(np.mean([r for r, t in zip(right, truth) if t == c]))
    return {"few_shot_accuracy": float(np.mean(accuracies)), "few_shot_std": float(np.std(accuracies)),
            "per_label": {c: float(np.mean(v)) for c, v in per_label.items()}, "shots": shots,
            "classes": len(emb), "episodes": episodes, "method": method, "invariances": list(invariances)}
