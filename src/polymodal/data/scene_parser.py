"""Read a `shapes` image back into its objects: colour, shape and box.

The inverse of rendering, for judging images that models draw or edit, so it reads strictly:

* Regions: every pixel is given the nearest of the world's colours along the line from white
  to that colour (edges blend into the background), and each colour's connected regions
  above a minimum size are objects.
* Colour: the world's palette colour nearest (RGB distance) to the median of the region's
  core pixels, if it lies within 40% of the way to the next palette colour from there
  (orange and yellow, 99 apart, allow 40; blue, 221 from gray, 88); else the colour is
  "unclear": a colour half way between two of the world's is neither.
* Shape: the world's own rendering of each shape (draw.shape_mask) at the object's size,
  its box aligned with the region's, compared by intersection over union; the best is the
  shape, unless it fits less than MIN_FIT (a broken or merged region) or no better than the
  next shape by MIN_MARGIN, when the shape is "unclear", as it is when the box is not square
  (every shape of the world has a square box: an oval is no circle). A small rounded square
  is no circle: the world draws a circle of that size differently, and a square of that
  size fits it as well or better.

It reads rendered scenes exactly, and JPEG copies (quality 75) without a mistake
(tests/test_scene_parser.py); an "unclear" object meets no prompt.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..modalities import as_array
from . import draw
from .shapes_preset import EXTRA_SHAPES, SHAPES
from .sort_of_clevr import COLOURS

WHITE = (255, 255, 255)
UNCLEAR = "unclear"
MAX_COLOUR_DISTANCE = 120.0     # RGB distance from the white-to-colour line beyond which a
                                # pixel is no colour of the world
MIN_MIX = 0.5                   # how far from white towards the colour a pixel must be
MIN_AREA = 20                   # px; the smallest shape (a 10 px triangle) covers about 45
CORE_MIX = 0.8                  # pixels this far towards their colour are the region's core
MIN_FIT = 0.75                  # IoU with the world's rendering of the shape
MIN_MARGIN = 0.06               # IoU over the next best shape (a rounded square is no circle)
WINDOW_MARGIN = 4               # px around an object's box in which shapes are compared
MAX_SKEW = 2                    # px between a box's width and height (a JPEG copy can lose 2)


@dataclass
class ParsedObject:
    colour: str
    shape: str
    box: list[int]              # [x0, y0, x1, y1], x1/y1 exclusive
    fit: float                  # IoU of the region with the chosen shape's mask (1 = exact)
    area: int

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


def colour_map(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([H, W] index into list(COLOURS) per pixel, -1 for background or no colour; [H, W] how
    far each pixel is from white towards that colour, 0-1).

    A pixel is read as a mix of white and one colour (edges blur into the background, and
    lossy copies blend them): the colour whose white-to-colour line passes nearest to it,
    if the pixel is at least half-way along that line and near enough to it."""
    white = np.array(WHITE, dtype=np.float32)
    lines = np.array(list(COLOURS.values()), dtype=np.float32) - white                 # [6, 3]
    pixels = np.asarray(image, dtype=np.float32)[..., :3] - white                      # [H, W, 3]
    alpha = np.clip(pixels @ lines.T / (lines ** 2).sum(-1), 0, 1)                     # [H, W, 6]
    residual = np.linalg.norm(pixels[:, :, None, :] - alpha[..., None] * lines, axis=-1)
    residual[alpha < MIN_MIX] = np.inf
    nearest = residual.argmin(-1)
    nearest[residual.min(-1) > MAX_COLOUR_DISTANCE] = -1
    return nearest, np.take_along_axis(alpha, nearest.clip(0)[..., None], -1)[..., 0]


PALETTE = np.array(list(COLOURS.values()), np.float32)
_apart = np.linalg.norm(PALETTE[:, None] - PALETTE[None], axis=-1)
np.fill_diagonal(_apart, np.inf)
PALETTE_REACH = _apart.min(1) * 0.4          # per colour: 40% of the way to its nearest other


def palette_colour(pixels: np.ndarray) -> str:
    """The palette colour nearest to the median of `pixels` ([N, 3]), or UNCLEAR."""
    median = np.median(np.asarray(pixels, np.float32), axis=0)
    distances = np.linalg.norm(PALETTE - median, axis=1)
    best = int(distances.argmin())
    return list(COLOURS)[best] if distances[best] < PALETTE_REACH[best] else UNCLEAR


def outline_box(region: np.ndarray, box: list[int]) -> list[int]:
    """The region's box without stray pixels: those touching at most one other pixel of the
    region (a speck a generated image leaves beside a shape, or a triangle's one-pixel
    apex, which the shape sizes tried in shape_fits allow for)."""
    x0, y0, x1, y1 = box
    part = region[y0:y1, x0:x1]
    padded = np.pad(part, 1)
    neighbours = padded[:-2, 1:-1].astype(int) + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
    kept = part & (neighbours >= 2)
    if not kept.any():
        return box
    ys, xs = np.nonzero(kept)
    return [x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1]


def shape_fits(region: np.ndarray, box: list[int], shapes: tuple[str, ...]) -> dict[str, float]:
    """Each shape's IoU with the region, the shape drawn as the world draws it at the
    object's size, placed at the box's centre or a pixel around it (a lossy edge moves the
    box). The size is half of the box's longer side, or one pixel more (a JPEG copy loses up
    to two pixels of a small triangle's thin corners): whichever lets some shape fit best,
    and then every shape is judged at that one size, so that a small square is never
    compared with a larger circle."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    size = side + 2 * WINDOW_MARGIN           # a square window around the box, in which to compare
    ox, oy = x0 - WINDOW_MARGIN, y0 - WINDOW_MARGIN
    window = np.pad(region, size)[oy + size:oy + 2 * size, ox + size:ox + 2 * size]
    cx, cy = (x0 + x1) / 2 - ox, (y0 + y1) / 2 - oy
    xs = range(int(np.floor(cx)) - 1, int(np.ceil(cx)) + 2)
    ys = range(int(np.floor(cy)) - 1, int(np.ceil(cy)) + 2)
    area = window.sum()
    by_size = []
    for half in sorted({max(2, side // 2), max(2, (side + 1) // 2), max(2, side // 2 + 1)}):
        fits = {}
        for shape in shapes:
            best = 0.0
            for x in xs:
                for y in ys:
                    mask = world_mask(shape, x, y, half, size)
                    overlap = np.logical_and(mask, window).sum()
                    best = max(best, float(overlap / (area + mask.sum() - overlap)))
            fits[shape] = best
        by_size.append(fits)
    return max(by_size, key=lambda fits: max(fits.values()))


@functools.lru_cache(maxsize=16384)
def world_mask(shape: str, x: int, y: int, half: int, size: int) -> np.ndarray:
    mask = draw.shape_mask(shape, x, y, half, size)
    mask.flags.writeable = False
    return mask


def best_shape(region: np.ndarray, box: list[int], shapes: tuple[str, ...]) -> tuple[str, float]:
    """(shape, its IoU): the best-fitting shape, or UNCLEAR when it fits less than MIN_FIT, no
    better than the runner-up by MIN_MARGIN (a small disc half way to a rounded square), or
    its box is not square: the world draws every shape in a square box (an oval is no circle)."""
    fits = shape_fits(region, box, shapes)
    ranked = sorted(fits.values(), reverse=True) + [0.0]
    shape = max(fits, key=fits.get)
    square = abs((box[2] - box[0]) - (box[3] - box[1])) <= MAX_SKEW
    clear = ranked[0] >= MIN_FIT and ranked[0] - ranked[1] >= MIN_MARGIN and square
    return (shape if clear else UNCLEAR), fits[shape]


def parse(image, shapes: tuple[str, ...] = SHAPES + EXTRA_SHAPES, min_area: int = MIN_AREA) -> list[ParsedObject]:
    """The objects in a shapes-world image (uint8 HxWx3 or an Image), left to right."""
    from scipy import ndimage
    array = as_array(image)[..., :3]
    colours, mix = colour_map(array)
    found = []
    for c in range(len(COLOURS)):
        labels, count = ndimage.label(colours == c)
        for k, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
            region = labels == k
            area = int(region.sum())
            if area < min_area:
                continue
            core = region & (mix >= CORE_MIX)
            colour = palette_colour(array[core if core.any() else region])
            box = [xs.start, ys.start, xs.stop, ys.stop]
            shape, fit = best_shape(region, outline_box(region, box), shapes)
            found.append(ParsedObject(colour, shape, box, round(fit, 3), area))
    return sorted(found, key=lambda o: (o.centre[0], o.centre[1]))
