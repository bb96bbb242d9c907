"""The sort-of-clevr generator against the Relation Networks paper's spec (DESIGN §4).

Everything here is recomputed from the pixels and the object list with the test's own
definitions; the generator's `answer()` and constants are deliberately not reused.
"""
import math
import re
from collections import Counter

import numpy as np
import pytest

from polymodal.core.errors import InputError
from polymodal.data import sort_of_clevr
from polymodal.data.world import parse_spec, shapes
from polymodal.processors.text import split_words

SIZE = 75
WHITE = (255, 255, 255)
# The paper's reference implementation draws these (it writes them as BGR for OpenCV).
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
           "orange": (255, 156, 0), "yellow": (255, 255, 0), "gray": (128, 128, 128)}
ANSWERS = {"yes", "no", "square", "circle", "1", "2", "3", "4", "5", "6"}
TEMPLATES = {   # family -> (pattern, relational?)
    "shape": (r"what is the shape of the (\w+) object\?", False),
    "left": (r"is the (\w+) object on the left\?", False),
    "top": (r"is the (\w+) object at the top\?", False),
    "closest": (r"what is the shape of the object closest to the (\w+) object\?", True),
    "furthest": (r"what is the shape of the object furthest from the (\w+) object\?", True),
    "count": (r"how many objects have the same shape as the (\w+) object\?", True),
}


@pytest.fixture(scope="module")
def scenes():
    return shapes("sort-of-clevr", "train", seed=0, n=300)


def parse_question(text):
    """-> (family, colour) from the sentence alone."""
    for family, (pattern, _) in TEMPLATES.items():
        m = re.fullmatch(pattern, text)
        if m:
            return family, m.group(1)
    raise AssertionError(f"question matches no template: {text!r}")


def own_mask(o):
    """Pixels an object covers: a square of exactly 10 px side or a disc of radius 5."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    if o.shape == "square":
        return (xs >= o.x - 5) & (xs < o.x + 5) & (ys >= o.y - 5) & (ys < o.y + 5)
    assert o.shape == "circle", o.shape
    return (xs - o.x) ** 2 + (ys - o.y) ** 2 <= 25


def colour_mask(image, rgb):
    return (image == np.array(rgb, np.uint8)).all(-1)


def expected_answers(objects, family, colour):
    """The answer, recomputed from the object list. The generator redraws layouts with
    distance ties, so closest/furthest must have exactly one answer."""
    target = next(o for o in objects if o.colour == colour)
    others = [o for o in objects if o is not target]
    dist = [math.dist((o.x, o.y), (target.x, target.y)) for o in others]
    if family == "shape":
        return {target.shape}
    if family == "left":
        return {"yes" if target.x < SIZE / 2 else "no"}
    if family == "top":
        return {"yes" if target.y < SIZE / 2 else "no"}
    if family in ("closest", "furthest"):
        best = min(dist) if family == "closest" else max(dist)
        winners = [o for o, d in zip(others, dist) if math.isclose(d, best)]
        assert len(winners) == 1, f"a distance tie for {family} of {colour}"
        return {winners[0].shape}
    if family == "count":
        return {str(sum(o.shape == target.shape for o in objects))}
    raise AssertionError(family)


# -- the image -----------------------------------------------------------------------
def test_image_is_75x75_white_with_six_flat_colours(scenes):
    for s in scenes[:50]:
        assert s.image.shape == (SIZE, SIZE, 3) and s.image.dtype == np.uint8
        colours = {tuple(int(v) for v in px) for px in s.image.reshape(-1, 3)}
        assert colours <= {WHITE, *COLOURS.values()}, "no anti-aliasing or stray colours"
        assert colours == {WHITE, *COLOURS.values()}, "every colour is visible"
        assert colour_mask(s.image, WHITE).mean() > 0.75, "mostly white background"


def test_one_object_of_each_colour_found_at_its_centre(scenes):
    for s in scenes:
        assert sorted(o.colour for o in s.objects) == sorted(COLOURS)
        for o in s.objects:
            assert o.shape in ("square", "circle")
            assert tuple(s.image[o.y, o.x]) == COLOURS[o.colour], f"{o.colour} not at its centre ({o.x}, {o.y})"


def test_objects_have_the_papers_sizes_and_lie_inside_the_image(scenes):
    """Each colour's pixels lie within its object's own shape; unoccluded squares have exactly
    100 pixels in a 10x10 box, unoccluded circles a disc's worth (not 100)."""
    unoccluded = Counter()
    for s in scenes:
        masks = [own_mask(o) for o in s.objects]
        drawn = np.zeros((SIZE, SIZE), bool)
        for m in masks:
            drawn |= m
        assert (~colour_mask(s.image, WHITE) == drawn).all(), "non-white pixels are exactly the objects"
        for i, o in enumerate(s.objects):
            # inside the image: the whole shape fits without clipping
            assert 5 <= o.x <= SIZE - 6 and 5 <= o.y <= SIZE - 6, (o.x, o.y)
            pixels = colour_mask(s.image, COLOURS[o.colour])
            assert not (pixels & ~masks[i]).any(), f"{o.colour} pixels outside its {o.shape}"
            if any((masks[i] & m).any() for j, m in enumerate(masks) if j != i):
                continue          # touched by a neighbour: its own pixel count is not checkable
            unoccluded[o.shape] += 1
            rows, cols = np.nonzero(pixels)
            n = int(pixels.sum())
            if o.shape == "square":
                assert n == 100, n
                assert rows.max() - rows.min() + 1 == 10 and cols.max() - cols.min() + 1 == 10
            else:
                assert 70 <= n <= 95 and n != 100, n          # pi * 5^2 ~ 78.5
                assert rows.max() - rows.min() + 1 == 11 and cols.max() - cols.min() + 1 == 11
    assert unoccluded["square"] > 100 and unoccluded["circle"] > 100, unoccluded


def test_centres_are_at_least_10px_apart(scenes):
    for s in scenes:
        for i, a in enumerate(s.objects):
            for b in s.objects[i + 1:]:
                assert math.dist((a.x, a.y), (b.x, b.y)) >= 10, (a, b)


# -- the questions -------------------------------------------------------------------
def test_ten_non_relational_and_ten_relational_questions_per_scene(scenes):
    for s in scenes:
        parsed = [parse_question(q.question) for q in s.questions]
        relational = [TEMPLATES[f][1] for f, _ in parsed]
        assert relational.count(False) == 10 and relational.count(True) == 10
        for q, (family, colour) in zip(s.questions, parsed):
            assert q.family == family and q.relational == TEMPLATES[family][1]
            assert colour in COLOURS


def test_answers_recomputed_from_the_objects(scenes):
    for k, s in enumerate(scenes):
        for q in s.questions:
            assert q.answer in ANSWERS, q.answer
            family, colour = parse_question(q.question)
            allowed = expected_answers(s.objects, family, colour)
            assert q.answer in allowed, f"scene {k}: {q.question!r} -> {q.answer!r}, expected {allowed}"


def test_every_family_appears_and_answers_vary(scenes):
    families = Counter(q.family for s in scenes for q in s.questions)
    assert set(families) == set(TEMPLATES), families
    assert all(n >= 300 for n in families.values()), families
    counts = Counter(q.answer for s in scenes for q in s.questions if q.family == "count")
    assert {"2", "3", "4", "5"} <= set(counts), counts
    for family, values in (("left", {"yes", "no"}), ("top", {"yes", "no"}), ("shape", {"square", "circle"}),
                           ("closest", {"square", "circle"}), ("furthest", {"square", "circle"})):
        answers = Counter(q.answer for s in scenes for q in s.questions if q.family == family)
        assert set(answers) == values, (family, answers)
        assert min(answers.values()) > 0.2 * sum(answers.values()), (family, answers)


def test_question_vocabulary_covers_every_question(scenes):
    vocab = set(sort_of_clevr.question_vocabulary())
    for s in scenes:
        for q in s.questions:
            assert set(split_words(q.question)) <= vocab, q.question


# -- determinism ---------------------------------------------------------------------
def fingerprint(scene_list):
    return [(s.image.tobytes(), [(o.colour, o.shape, o.x, o.y) for o in s.objects],
             [(q.question, q.answer, q.family) for q in s.questions]) for s in scene_list]


def test_same_arguments_give_identical_scenes():
    assert fingerprint(shapes("sort-of-clevr", "val", 7, 5)) == fingerprint(shapes("sort-of-clevr", "val", 7, 5))


def test_seeds_and_splits_give_different_scenes():
    base = fingerprint(shapes("sort-of-clevr", "train", 1, 3))
    for other in (shapes("sort-of-clevr", "train", 2, 3), shapes("sort-of-clevr", "val", 1, 3),
                  shapes("sort-of-clevr", "test", 1, 3)):
        assert all(a != b for a, b in zip(base, fingerprint(other)))


def test_scene_i_does_not_depend_on_n():
    assert fingerprint(shapes("sort-of-clevr", "test", 4, 3)) == fingerprint(shapes("sort-of-clevr", "test", 4, 10))[:3]


# -- specs ---------------------------------------------------------------------------
def test_parse_spec_accepts_every_split():
    for split in ("train", "val", "test", "compositional"):
        assert parse_spec(f"shapes:sort-of-clevr:{split}") == ("sort-of-clevr", split)


@pytest.mark.parametrize("spec, named", [
    ("shapes:sort-of-clevr", "shapes:sort-of-clevr"),
    ("shapes:sort-of-clevr:train:extra", "shapes:sort-of-clevr:train:extra"),
    ("clevr:sort-of-clevr:train", "clevr:sort-of-clevr:train"),
    ("shapes:nope:train", "nope"),
    ("shapes:sort-of-clevr:nope", "nope"),
    ("", "shapes:"),
])
def test_parse_spec_errors_are_one_line(spec, named):
    with pytest.raises(InputError) as err:
        parse_spec(spec)
    message = str(err.value)
    assert "\n" not in message and named in message, message


def test_unknown_preset_or_split_in_shapes_is_an_input_error():
    with pytest.raises(InputError, match="nope"):
        shapes("nope", "train", 0, 1)
    with pytest.raises(InputError, match="nope"):
        shapes("sort-of-clevr", "nope", 0, 1)


def test_captions_name_every_object_with_its_ninth_of_the_image():
    from polymodal.data import sort_of_clevr as soc
    assert [soc.region(x, y) for x, y in ((5, 5), (37, 5), (70, 5), (5, 37), (37, 37), (70, 70))] == \
        ["top left", "top", "top right", "left", "centre", "bottom right"]
    for scene in shapes("sort-of-clevr", "train", 5, 20):
        read = soc.read_description(scene.caption)
        assert list(read) == list(soc.COLOURS)                      # every colour, in colour order
        for o in scene.objects:
            assert read[o.colour] == (o.shape, soc.region(o.x, o.y))
        assert soc.rows(scene, "x.png")[0]["caption"] == scene.caption
