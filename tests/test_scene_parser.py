"""The scene parser reads rendered shapes-world images back into their objects; it is what
judges images that models draw, so it must be exact on rendered scenes and hold up on lossy
copies."""
import io

import numpy as np
from PIL import Image as PILImage

from polymodal.data import scene_parser, shapes_preset
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
