"""Read a `shapes` image back into its objects: colour, shape and box.

The inverse of rendering, for judging images that models draw or edit: every pixel is given
the nearest of the world's colours (or the white background), each colour's connected
regions above a minimum size are objects, and each region's shape is the drawable shape
whose mask, drawn in the region's box, overlaps it best (intersection over union). Being
tolerant of tints, speckle and JPEG artefacts matters more here than speed: generated
images are never as clean as rendered ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..modalities import as_array
from . import draw
from .shapes_preset import EXTRA_SHAPES, SHAPES
from .sort_of_clevr import COLOURS

WHITE = (255, 255, 255)
MAX_COLOUR_DISTANCE = 120.0     # RGB distance from the white-to-colour line beyond which a
                                # pixel is no colour of the world
MIN_MIX = 0.5                   # how far from white towards the colour a pixel must be
MIN_AREA = 20                   # px; the smallest shape (a 10 px triangle) covers about 45


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


def colour_map(image: np.ndarray) -> np.ndarray:
    """[H, W] index into list(COLOURS) per pixel, -1 for background or no colour.

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
    return nearest


def best_shape(region: np.ndarray, box: list[int], shapes: tuple[str, ...]) -> tuple[str, float]:
    """The shape whose mask overlaps the region best, each tried at sizes and positions a
    pixel or two around the region's box: blurred or lossy edges (a thin apex lost to JPEG)
    shrink a region, and its box with it."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    size = max(region.shape)
    if region.shape[0] != region.shape[1]:                  # draw.shape_mask draws on a square
        region = np.pad(region, ((0, size - region.shape[0]), (0, size - region.shape[1])))
    scores = {}
    for shape in shapes:
        best = 0.0
        for half in {max(2, round(side / 2) + d) for d in (0, 1)}:
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    x, y = (x0 + x1) // 2 + dx, (y0 + y1) // 2 + dy
                    mask = draw.shape_mask(shape, x, y, half, size)
                    union = np.logical_or(mask, region).sum()
                    best = max(best, float(np.logical_and(mask, region).sum() / union) if union else 0.0)
        scores[shape] = best
    shape = max(scores, key=scores.get)
    return shape, scores[shape]


def parse(image, shapes: tuple[str, ...] = SHAPES + EXTRA_SHAPES, min_area: int = MIN_AREA) -> list[ParsedObject]:
    """The objects in a shapes-world image (uint8 HxWx3 or an Image), left to right."""
    from scipy import ndimage
    array = as_array(image)
    colours = colour_map(array)
    names = list(COLOURS)
    found = []
    for c, name in enumerate(names):
        labels, count = ndimage.label(colours == c)
        for k, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
            region = labels == k
            area = int(region.sum())
            if area < min_area:
                continue
            box = [xs.start, ys.start, xs.stop, ys.stop]
            shape, fit = best_shape(region, box, shapes)
            found.append(ParsedObject(name, shape, box, round(fit, 3), area))
    return sorted(found, key=lambda o: (o.centre[0], o.centre[1]))
