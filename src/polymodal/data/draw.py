"""Pixel masks of the `shapes` preset's flat shapes.

Each shape lies inside the half-open pixel box [x - half, x + half) x [y - half, y + half),
so its box is exactly 2*half pixels wide. (sort-of-clevr draws its circles the paper's way,
around a centre pixel, in its own module.)
"""
from __future__ import annotations

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw


def _polygon_mask(points: list[tuple[float, float]], size: int) -> np.ndarray:
    canvas = PILImage.new("1", (size, size), 0)
    ImageDraw.Draw(canvas).polygon(points, fill=1)
    return np.asarray(canvas, dtype=bool)


def _star_points(x: float, y: float, half: float) -> list[tuple[float, float]]:
    points = []
    for k in range(10):                       # 5 outer and 5 inner corners, apex up
        radius = half if k % 2 == 0 else half * 0.45
        angle = np.pi / 2 + k * np.pi / 5
        points.append((x + radius * np.cos(angle), y - radius * np.sin(angle)))
    return points


REGULAR_CORNERS = {"diamond": 4, "pentagon": 5, "hexagon": 6}


def _regular_points(x: float, y: float, half: float, corners: int) -> list[tuple[float, float]]:
    """A regular polygon's corners on the circle of radius `half`, one corner straight up."""
    angles = np.pi / 2 + 2 * np.pi * np.arange(corners) / corners
    return [(x + half * np.cos(a), y - half * np.sin(a)) for a in angles]


def shape_mask(shape: str, x: int, y: int, half: int, size: int) -> np.ndarray:
    """Boolean [size, size] mask of one shape."""
    ys, xs = np.mgrid[0:size, 0:size]
    in_box = (xs >= x - half) & (xs < x + half) & (ys >= y - half) & (ys < y + half)
    if shape == "square":
        return in_box
    if shape == "circle":                     # centred between pixels, like the box
        return (xs - x + 0.5) ** 2 + (ys - y + 0.5) ** 2 <= half ** 2
    if shape == "triangle":                   # apex up, base on the box's bottom edge
        return in_box & _polygon_mask([(x - 0.5, y - half), (x + half - 1, y + half - 1),
                                       (x - half, y + half - 1)], size)
    if shape == "cross":                      # a plus sign whose arms are 2/5 of the side wide
        arm = max(1, round(half * 0.4))
        return in_box & ((np.abs(xs - x + 0.5) < arm) | (np.abs(ys - y + 0.5) < arm))
    if shape == "star":                       # polygon edges round outwards: clip to the box
        return in_box & _polygon_mask(_star_points(x - 0.5, y - 0.5, half), size)
    if shape in REGULAR_CORNERS:              # the diamond: a square standing on a corner
        return in_box & _polygon_mask(_regular_points(x - 0.5, y - 0.5, half, REGULAR_CORNERS[shape]), size)
    if shape == "ring":                       # a circle with a hole of half its radius
        r2 = (xs - x + 0.5) ** 2 + (ys - y + 0.5) ** 2
        return (r2 <= half ** 2) & (r2 > (half * 0.5) ** 2)
    raise ValueError(f"unknown shape {shape!r}")


def render(objects, size: int, colours: dict[str, tuple[int, int, int]]) -> np.ndarray:
    """White canvas with each object (.shape, .colour, .x, .y, .half) painted in order."""
    img = np.full((size, size, 3), 255, np.uint8)
    for o in objects:
        img[shape_mask(o.shape, o.x, o.y, o.half, size)] = colours[o.colour]
    return img
