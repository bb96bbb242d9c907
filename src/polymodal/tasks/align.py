"""Image-text alignment (CLIP-style): contrastive training; retrieval both ways; zero-shot
classification from label prompts; few-shot classification from k examples per class.

Contrastive targets are *every* text in the batch that is true of the image, not just its
own caption: in a world of 18 colour+shape pairs, "a red circle" is often true of several
images of one batch, and calling those negatives would teach the model to contradict itself.

Self-supervision (`view_loss` in the model config, as in SLIP): each image is also matched
with a shifted, mirrored, colour-permuted view of itself among the batch's other views. Text
alone only asks the encoder to tell the three trained shapes apart; matching views asks it to
keep whatever tells one scene from another, outlines included, which is what few-shot
classes it never saw (a star, a cross) rely on.

Binding (`factors` in the model config, models/binding.py): the shipped aligner embeds an
image as a sum over its cells, and a text as a sum over its words, of colour x shape x place
outer products, so that a colour is scored together with the shape in the same cell, not
with any shape of the scene.

Hard negatives (`hard_negatives` in the recipe): a random batch rarely holds the text that
differs from an image's own in one binding ("a red square" beside a red circle and a blue
square), so a bag of colours and shapes scores as well as the scene. Foils add exactly those
texts, false of their image, so the embedding has to bind each colour to its shape.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from ..data.shapes_preset import COLOURS, EXTRA_SHAPES, OPPOSITE, SHAPES, allowed_pairs, indefinite, parse_caption
from ..errors import InputError
from ..layers import to_device
from . import TASKS, image_text
from .caption_metrics import SceneTruth, describes
from .image_text import ImageTextExample, open_image

PARTIAL_TEXT = 0.5      # share of training texts that describe only part of the scene
PAIR_LABELS = [f"{c} {s}" for c in COLOURS for s in SHAPES]      # zero-shot presence classes


load_examples = image_text.load_examples
vocabulary = image_text.vocabulary


def training_text(ex: ImageTextExample, rng: np.random.Generator) -> str:
    """The caption, or (PARTIAL_TEXT of the time, when the scene is known) one part of it:
    a single object ("a red circle") or a single relation ("a red circle left of a blue square")."""
    text = ex.captions[int(rng.integers(len(ex.captions)))]
    if ex.objects is None or rng.random() >= PARTIAL_TEXT:
        return text
    parts = [indefinite(f"{o['colour']} {o['shape']}") for o in ex.objects]
    parts += [f"{indefinite(' '.join(a))} {rel} {indefinite(' '.join(b))}" for a, rel, b in parse_caption(text).relations]
    return parts[int(rng.integers(len(parts)))]


def renamed(text: str, old: str, new: str) -> str:
    """`text` with its first mention of the object `old` naming `new`, article fixed."""
    def replace(m):
        return f"the {new}" if m.group(1) == "the" else indefinite(new)
    return re.sub(rf"\b(an?|the) {old}\b", replace, text, count=1)


def foil(text: str, ex: ImageTextExample, rng: np.random.Generator) -> str | None:
    """`text` with one thing changed so that it is false of the scene: an object's colour or
    shape taken from another object of the scene (a binding foil) or from any training pair,
    or a relation reversed. None when no change tried makes it false."""
    truth, facts = truth_of(ex), parse_caption(text)
    if truth is None or not facts.objects:
        return None
    training_pairs = allowed_pairs("train", SHAPES)     # never a held-out pair, even as a negative
    scene = [(o["colour"], o["shape"]) for o in ex.objects]
    for _ in range(8):
        colour, shape = facts.objects[int(rng.integers(len(facts.objects)))]
        if facts.relations and rng.random() < 0.25:
            a, rel, b = facts.relations[int(rng.integers(len(facts.relations)))]
            changed = text.replace(f"{' '.join(a)} {rel} ", f"{' '.join(a)} {OPPOSITE[rel]} ", 1)
        else:
            others = [o for o in scene if o != (colour, shape)]
            if others and rng.random() < 0.7:
                other = others[int(rng.integers(len(others)))]
                swaps = [(other[0], shape), (colour, other[1])]
            else:
                swaps = [training_pairs[int(rng.integers(len(training_pairs)))]]
            new = swaps[int(rng.integers(len(swaps)))]
            if new not in training_pairs or new == (colour, shape):
                continue
            changed = renamed(text, f"{colour} {shape}", " ".join(new))
        if changed != text and not describes(parse_caption(changed), truth):
            return changed
    return None


def truth_of(ex: ImageTextExample) -> SceneTruth | None:
    return SceneTruth.build(ex.captions[0], ex.objects) if ex.objects and ex.captions else None


def positives(texts: list[str], examples: list[ImageTextExample]) -> torch.Tensor:
    """[images, texts] bool: text j is true of image i (by the scene when known, else by
    being one of the image's own captions)."""
    parsed = [parse_caption(t) for t in texts]
    truths = [truth_of(ex) for ex in examples]
    out = torch.zeros(len(examples), len(texts), dtype=torch.bool)
    for i, (ex, truth) in enumerate(zip(examples, truths)):
        for j, (text, facts) in enumerate(zip(texts, parsed)):
            # its own captions always count (a manifest's wording may lie outside the grammar)
            out[i, j] = text in ex.captions or (truth is not None and describes(facts, truth))
    return out


@torch.no_grad()
def embed_images(model, images: list, batch_size: int = 128, device=None, progress: bool = False) -> torch.Tensor:
    from tqdm.auto import tqdm
    model.eval()
    device = device or next(model.parameters()).device
    chunks = []
    for start in tqdm(range(0, len(images), batch_size), disable=not progress, desc="embedding images"):
        pixels = model.preprocess({"image": [open_image(im) for im in images[start:start + batch_size]]})["image"]
        chunks.append(model.encode_image(to_device(pixels, device)).float().cpu())
    return torch.cat(chunks)


@torch.no_grad()
def embed_texts(model, texts: list[str], batch_size: int = 256, device=None) -> torch.Tensor:
    model.eval()
    device = device or next(model.parameters()).device
    chunks = [model.encode_text(to_device(model.preprocess({"text": texts[s:s + batch_size]})["text"], device))
              for s in range(0, len(texts), batch_size)]
    return torch.cat(chunks).float().cpu()


def recall_at(scores: torch.Tensor, hits: torch.Tensor, k: int) -> float:
    """scores, hits: [queries, items]; a query scores if any of its top k items is a hit."""
    top = scores.topk(min(k, scores.shape[1]), dim=1).indices
    return float(hits.gather(1, top).any(1).float().mean())


def retrieval_metrics(model, examples, batch_size=128, device=None, progress=False, image_emb=None) -> dict:
    """R@1 and R@5 both ways over the examples as a gallery; each image's first caption is
    its query text, and any image the text is true of counts as a hit."""
    texts = [ex.captions[0] for ex in examples]
    image_emb = embed_images(model, [ex.image for ex in examples], batch_size, device, progress) \
        if image_emb is None else image_emb
    sims = image_emb @ embed_texts(model, texts, device=device).T             # [images, texts]
    hits = positives(texts, examples)
    out = {"gallery": len(examples)}
    for k in (1, 5):
        out[f"text_to_image_r{k}"] = recall_at(sims.T, hits.T, k)
        out[f"image_to_text_r{k}"] = recall_at(sims, hits, k)
    return out


def zero_shot_scores(model, image_emb: torch.Tensor, labels: list[str], device=None) -> torch.Tensor:
    """[images, labels] probabilities from the prompts made of the labels."""
    prompts = [model.config.prompt.format(label) for label in labels]
    logits = model.scale().detach().cpu() * image_emb @ embed_texts(model, prompts, device=device).T
    return logits.softmax(-1)


def presence_metrics(model, examples, image_emb, device=None) -> dict:
    """Zero-shot presence of colour+shape pairs: for an image with k objects, the share of
    its k best-scoring pair prompts that are really in it (R-precision), and how often the
    single best one is."""
    scores = zero_shot_scores(model, image_emb, PAIR_LABELS, device)
    rprec, top1 = [], []
    for ex, row in zip(examples, scores):
        present = {f"{o['colour']} {o['shape']}" for o in ex.objects}
        best = [PAIR_LABELS[i] for i in row.argsort(descending=True)[:len(present)].tolist()]
        rprec.append(len(present & set(best)) / len(present))
        top1.append(best[0] in present)
    return {"zero_shot_presence": float(np.mean(rprec)), "zero_shot_top1": float(np.mean(top1))}


def label_metrics(model, examples, image_emb, device=None) -> dict:
    """Zero-shot classification of a manifest with a label column: top-1 accuracy over its labels."""
    labels = sorted({str(ex.label) for ex in examples})
    best = zero_shot_scores(model, image_emb, labels, device).argmax(-1).tolist()
    return {"zero_shot_accuracy": float(np.mean([labels[b] == str(ex.label) for b, ex in zip(best, examples)])),
            "labels": len(labels)}


def zero_shot_metrics(model, examples, batch_size=128, device=None, progress=False) -> dict:
    image_emb = embed_images(model, [ex.image for ex in examples], batch_size, device, progress)
    if all(ex.objects for ex in examples):
        return {"images": len(examples), **presence_metrics(model, examples, image_emb, device)}
    if all(ex.label is not None for ex in examples):
        return {"images": len(examples), **label_metrics(model, examples, image_emb, device)}
    raise InputError("zero-shot evaluation needs generated scenes or a manifest with a label column")


def alignment_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy both ways, against the spread over every true pairing; a text true of
    no image of the batch (a foil) is only a negative, so it has no text-to-image term."""
    logits = logits.float()
    i2t = -(targets / targets.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    true_of_some = targets.sum(0) > 0
    t, lg = targets[:, true_of_some], logits[:, true_of_some]
    t2i = -(t / t.sum(0, keepdim=True) * lg.log_softmax(0)).sum(0).mean()
    return (i2t + t2i) / 2


VIEW_TEMPERATURE = 0.1      # SimCLR's value for batches of this size


def view_loss(z: torch.Tensor) -> torch.Tensor:
    """NT-Xent over [2N, D] unit vectors where rows i and i + N are two views of one image:
    each must pick its partner out of the other 2N - 2."""
    z = z.float()
    n = z.shape[0] // 2
    sims = (z @ z.T / VIEW_TEMPERATURE).fill_diagonal_(float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return torch.nn.functional.cross_entropy(sims, partner)


# -- few-shot ------------------------------------------------------------------------------
FEW_SHOT_SHAPES = SHAPES + EXTRA_SHAPES       # the star and the cross: never in alignment training


def few_shot_images(seed: int, per_class: int) -> dict[str, list[np.ndarray]]:
    """Single-object scenes of each of FEW_SHOT_SHAPES in random colours, sizes and places."""
    from ..data.shapes_preset import object_scene
    from ..data.world import scene_rng
    colours = list(COLOURS)
    out = {}
    for shape in FEW_SHOT_SHAPES:
        images = []
        for i in range(per_class):
            rng = scene_rng("shapes", f"few-shot/{shape}", seed, i)
            images.append(object_scene(rng, colours[int(rng.integers(len(colours)))], shape).image)
        out[shape] = images
    return out


# What a few-shot class may not depend on (classes of shapes in any colour, size and place).
# Averaging an image's embeddings over views that change only that is test-time augmentation
# (colour: the 6 orders of the RGB channels; mirror: left-right). A factored aligner
# (models/binding.py) has colour and place as factors of its embedding, so those are
# contracted out instead: the embedding's second moment over the factors kept, which no
# image view can give for place. 5-shot over five shapes, the star and the cross unseen, the
# aligner trained with seven shapes (`eval few-shot`, seed 7): plain embeddings 58%, colour
# and place contracted 92%; colour and mirror as views instead scored 81% (40 images a shape).
INVARIANCES = ("colour", "mirror", "place")
VIEW_INVARIANCES = ("colour", "mirror")
FACTOR_NAMES = ("colour", "shape", "place")          # the order of models/binding.py's factors


def invariant_views(array: np.ndarray, invariances: tuple[str, ...]) -> list[np.ndarray]:
    """The image under every combination of the named view invariances: colour (the 6
    orders of the RGB channels) and mirror (left-right)."""
    import itertools
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
    factors = getattr(getattr(model, "config", None), "factors", None)
    contracted = tuple(i for i in invariances if factors and i in ("colour", "place"))
    if "place" in invariances and not contracted:
        raise InputError("invariance place needs a factored aligner (one with factors, such as align-shapes)")
    views = tuple(i for i in invariances if i not in contracted)
    if not views:
        emb = embed_images(model, images, batch_size, device)
    else:
        from ..modalities import Image
        out = []
        for image in images:
            array = image if isinstance(image, np.ndarray) else getattr(image, "array", None)
            views_of = invariant_views(array if array is not None else Image.open(image).array, views)
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


@TASKS.register("align")
class AlignTask:
    name = "align"
    curve_metrics = ("text_to_image_r1", "text_to_image_r5", "zero_shot_presence")
    load_examples = staticmethod(load_examples)
    vocabulary = staticmethod(vocabulary)

    @staticmethod
    def modalities(examples) -> list[str]:
        return ["image", "text"]

    @staticmethod
    def build_model(spec: dict, examples):
        from ..models.aligner import Aligner, AlignerConfig
        return Aligner(AlignerConfig.from_dict(image_text.fill_text_vocab(spec, vocabulary(examples)[0])))

    @staticmethod
    def make_batch(model, examples, rng, cfg):
        if any(not ex.captions for ex in examples):
            raise InputError("alignment training needs a caption for every image")
        rng = rng if rng is not None else np.random.default_rng(0)
        examples = [image_text.jpeg_augmented(ex, rng, cfg) for ex in examples]
        texts = [training_text(ex, rng) for ex in examples]
        if cfg.hard_negatives:
            foils = [foil(t, ex, rng) for t, ex in zip(texts, examples) if rng.random() < cfg.hard_negatives]
            texts += [f for f in foils if f is not None]
        images = [open_image(ex.image) for ex in examples]
        batch = model.preprocess({"image": images, "text": texts})
        if getattr(model.config, "view_loss", 0):
            from ..processors.image import augmented_view
            batch["views"] = model.preprocess({"image": [augmented_view(getattr(im, "array", im), rng)
                                                         for im in images]})["image"]
        return batch, positives(texts, examples).float()

    @staticmethod
    def loss(outputs, targets):
        if isinstance(outputs, dict):
            return alignment_loss(outputs["logits"], targets) + outputs["view_loss"] * view_loss(outputs["views"])
        return alignment_loss(outputs, targets)

    @staticmethod
    def evaluate(model, examples, batch_size=128, device=None, progress=False) -> dict:
        image_emb = embed_images(model, [ex.image for ex in examples], batch_size, device, progress)
        out = retrieval_metrics(model, examples, batch_size, device, image_emb=image_emb)
        if all(ex.objects for ex in examples):
            out.update(presence_metrics(model, examples, image_emb, device))
        return out

