"""The scene parser reads rendered shapes-world images back into their objects; it is what
judges images that models draw, so it must be exact on rendered scenes and hold up on lossy
copies."""
import io

import numpy as np
from PIL import Image as PILImage

from polymodal.data import draw, scene_parser, shapes_preset
from polymodal.data.world import shapes


def truth(scene, with_boxes=True):
    return sorted((o.colour, o.shape) + ((tuple(o.box()),) if with_boxes else ()) for o in scene.objects)


def parsed(image, with_boxes=True):
    return sorted((o.colour, o.shape) + ((tuple(o.box),) if with_boxes else ())
                  for o in scene_parser.parse(image))


def test_rendered_scenes_are_read_back_exactly_boxes_included():
    for split in ("test", "compositional"):
        for scene in shapes("shapes", split, 3, 60):
            assert parsed(scene.image) == truth(scene)


def test_stars_and_crosses_are_told_apart_from_the_three_training_shapes():
    for i in range(60):
        scene = shapes_preset.make_scene(np.random.default_rng(i), "test", extra_shapes=("star", "cross"))
        assert parsed(scene.image, with_boxes=False) == truth(scene, with_boxes=False)


def test_jpeg_copies_keep_every_colour_and_shape():
    for scene in shapes("shapes", "test", 4, 60):
        buf = io.BytesIO()
        PILImage.fromarray(scene.image).save(buf, "JPEG", quality=75)
        assert parsed(np.asarray(PILImage.open(buf).convert("RGB")), with_boxes=False) == truth(scene, False)


def test_specks_and_off_palette_pixels_are_not_objects():
    image = np.full((64, 64, 3), 255, np.uint8)
    image[10:13, 10:13] = (255, 0, 0)                 # 9 px: below the smallest shape
    image[30:50, 30:50] = (200, 0, 200)               # magenta is no colour of the world
    assert scene_parser.parse(image) == []


def blank():
    return np.full((64, 64, 3), 255, np.uint8)


def only(image):
    found = scene_parser.parse(image)
    assert len(found) == 1, found
    return found[0]


def test_a_small_rounded_square_is_not_read_as_a_circle():
    """The world draws a 10 px circle as draw.shape_mask does; a 10 px square with its corners
    rounded off is nearer the square."""
    image = blank()
    image[20:30, 20:30] = (255, 0, 0)
    for y, x in ((20, 20), (20, 29), (29, 20), (29, 29)):          # a pixel off each corner
        image[y, x] = 255
    assert only(image).shape == "square"
    world_circle = blank()
    world_circle[draw.shape_mask("circle", 25, 25, 5, 64)] = (255, 0, 0)
    assert only(world_circle).shape == "circle"


def test_an_oval_and_a_broken_shape_are_unclear():
    ys, xs = np.mgrid[0:64, 0:64]
    image = blank()
    image[((xs - 30) / 8.0) ** 2 + ((ys - 30) / 4.0) ** 2 <= 1] = (0, 0, 255)      # 16 x 8: no shape of the world
    assert only(image).shape == scene_parser.UNCLEAR
    image = blank()
    image[20:32, 20:24] = (0, 0, 255)                 # an L: a square's box, a third of its pixels
    image[28:32, 20:32] = (0, 0, 255)
    assert only(image).shape == scene_parser.UNCLEAR


def test_a_colour_between_two_of_the_palette_is_unclear():
    image = blank()
    image[draw.shape_mask("square", 30, 30, 6, 64)] = (255, 205, 0)      # half way from orange to yellow
    assert only(image).colour == scene_parser.UNCLEAR
    image[draw.shape_mask("square", 30, 30, 6, 64)] = (250, 150, 10)     # near orange
    assert only(image).colour == "orange"


def test_jpeg_copies_of_many_scenes_are_read_exactly_at_quality_75_and_90():
    for quality, count in ((75, 200), (90, 100)):
        for scene in shapes("shapes", "test", 5, count):
            buf = io.BytesIO()
            PILImage.fromarray(scene.image).save(buf, "JPEG", quality=quality)
            copy = np.asarray(PILImage.open(buf).convert("RGB"))
            assert parsed(copy, with_boxes=False) == truth(scene, False), quality
