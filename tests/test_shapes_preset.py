"""The `shapes` preset (DESIGN §4) checked from its pixels with the test's own definitions:
objects are found by colour in the image, and captions and referring expressions are
judged against what the pixels show."""
import json
import re
from collections import Counter

import numpy as np
import pytest

from polymodal.cli.main import main
from polymodal.data import draw, shapes_preset
from polymodal.data.world import shapes

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
           "orange": (255, 156, 0), "yellow": (255, 255, 0), "gray": (128, 128, 128)}
HELD_OUT = {("red", "triangle"), ("green", "circle"), ("blue", "square"), ("orange", "triangle")}


@pytest.fixture(scope="module")
def scenes():
    return shapes("shapes", "train", seed=0, n=300)


def pixels_of(scene, obj):
    """Pixels of obj's colour inside obj's box (boxes never overlap, so they are obj's)."""
    x0, y0, x1, y1 = obj.box()
    patch = scene.image[max(y0, 0):y1, max(x0, 0):x1]
    return (patch == COLOURS[obj.colour]).all(-1)


def centre(scene, obj):
    """Centre of the object's drawn extent (a triangle's mass sits lower than that)."""
    ys, xs = np.nonzero(pixels_of(scene, obj))
    x0, y0 = obj.box()[:2]
    return (xs.min() + xs.max()) / 2 + x0, (ys.min() + ys.max()) / 2 + y0


def test_images_are_64x64_white_with_one_to_four_flat_objects(scenes):
    counts = Counter()
    for s in scenes:
        assert s.image.shape == (64, 64, 3) and s.image.dtype == np.uint8
        colours = {tuple(c) for c in s.image.reshape(-1, 3)}
        assert colours <= set(COLOURS.values()) | {(255, 255, 255)}
        counts[len(s.objects)] += 1
        assert 1 <= len(s.objects) <= 4
        assert len({(o.colour, o.shape) for o in s.objects}) == len(s.objects)
    assert set(counts) == {1, 2, 3, 4}


def test_every_object_is_drawn_inside_its_box_and_boxes_do_not_touch(scenes):
    for s in scenes:
        for o in s.objects:
            x0, y0, x1, y1 = o.box()
            assert 0 <= x0 and 0 <= y0 and x1 <= 64 and y1 <= 64
            area = pixels_of(s, o).sum()
            side = x1 - x0
            assert 10 <= side <= 16
            expected = {"square": side ** 2, "circle": np.pi * (side / 2) ** 2, "triangle": side ** 2 / 2}[o.shape]
            assert abs(area - expected) < 0.25 * expected, (o, area)
        for i, a in enumerate(s.objects):
            for b in s.objects[i + 1:]:
                ax0, ay0, ax1, ay1 = a.box()
                bx0, by0, bx1, by1 = b.box()
                assert ax1 < bx0 or bx1 < ax0 or ay1 < by0 or by1 < ay0


def test_held_out_pairs_only_in_the_compositional_split():
    for split in ("train", "val", "test"):
        pairs = {(o.colour, o.shape) for s in shapes("shapes", split, 1, 300) for o in s.objects}
        assert not pairs & HELD_OUT
        assert len(pairs) == 18 - len(HELD_OUT)
    comp = shapes("shapes", "compositional", 1, 200)
    assert all({(o.colour, o.shape) for o in s.objects} & HELD_OUT for s in comp)


def test_caption_names_every_object_and_true_relations(scenes):
    pattern = re.compile(r"(?:an?|the) (\w+) (\w+)(?: (left of|right of|above|below) (?:an?|the) (\w+) (\w+))?")
    for s in scenes:
        by_name = {(o.colour, o.shape): o for o in s.objects}
        clauses = s.caption.split(" and ")
        assert len(clauses) == max(1, len(s.objects) - 1)
        named = set()
        for clause in clauses:
            m = pattern.fullmatch(clause)
            assert m, clause
            a = (m.group(1), m.group(2))
            named.add(a)
            if m.group(3):
                b = (m.group(4), m.group(5))
                named.add(b)
                (ax, ay), (bx, by) = centre(s, by_name[a]), centre(s, by_name[b])
                dx, dy = bx - ax, by - ay
                holds = {"left of": dx > 0, "right of": dx < 0, "above": dy > 0, "below": dy < 0}[m.group(3)]
                assert holds, (s.caption, clause)
        assert named == set(by_name)
        assert s.prompt == s.caption


def test_parse_caption_inverts_the_grammar(scenes):
    for s in scenes:
        facts = shapes_preset.parse_caption(s.caption)
        assert set(facts.objects) == {(o.colour, o.shape) for o in s.objects}
        assert len(facts.relations) == len(s.objects) - 1 and not facts.unparsed
    facts = shapes_preset.parse_caption("a red circle left of a blob and a blue star")
    assert facts.objects == [("blue", "star")] and facts.unparsed == ["a red circle left of a blob"]


def matches(phrase, scene):
    """Objects the phrase can name, by the test's own reading of the pixels."""
    words = phrase.split()
    if len(words) == 3:                                   # "the red circle"
        return [o for o in scene.objects if (o.colour, o.shape) == (words[1], words[2])]
    m = re.fullmatch(r"the (\w+) (left of|right of|above|below) the (\w+) (\w+)", phrase)
    assert m, phrase
    landmark = next(o for o in scene.objects if (o.colour, o.shape) == (m.group(3), m.group(4)))
    lx, ly = centre(scene, landmark)
    out = []
    for o in scene.objects:
        if o is landmark or o.shape != m.group(1):
            continue
        x, y = centre(scene, o)
        if {"left of": x < lx, "right of": x > lx, "above": y < ly, "below": y > ly}[m.group(2)]:
            out.append(o)
    return out


def test_every_referring_expression_names_exactly_its_object(scenes):
    kinds = Counter()
    for s in scenes:
        for p in s.phrases:
            found = matches(p.text, s)
            assert len(found) == 1, (p.text, s.objects)
            assert found[0].box() == p.box and s.objects[p.target] is found[0]
            kinds[p.kind] += 1
        assert sum(p.kind == "attribute" for p in s.phrases) == len(s.objects)
    assert kinds["relational"] > 0.5 * kinds["attribute"]


def test_some_relational_phrases_need_their_relation(scenes):
    needed = 0
    for s in scenes:
        for p in s.phrases:
            shape = p.text.split()[1]
            if p.kind == "relational" and sum(o.shape == shape for o in s.objects) > 1:
                needed += 1
    assert needed > 100


@pytest.mark.parametrize("shape", ["star", "cross", "diamond", "pentagon", "hexagon", "ring"])
def test_extra_shapes_are_drawable_and_kept_out_by_default(shape):
    mask = draw.shape_mask(shape, 32, 32, 8, 64)
    ys, xs = np.nonzero(mask)
    assert 40 < mask.sum() < 0.8 * 16 * 16
    assert xs.min() >= 24 and xs.max() < 40 and ys.min() >= 24 and ys.max() < 40
    assert not any(o.shape == shape for s in shapes("shapes", "test", 2, 200) for o in s.objects)
    rng = np.random.default_rng(0)
    drawn = [shapes_preset.make_scene(rng, "train", extra_shapes=(shape,)) for _ in range(100)]
    assert any(o.shape == shape for s in drawn for o in s.objects)


def test_all_drawable_shapes_have_different_outlines():
    names = shapes_preset.SHAPES + shapes_preset.EXTRA_SHAPES + shapes_preset.PRETRAINING_SHAPES
    masks = {n: draw.shape_mask(n, 32, 32, 8, 64) for n in names}
    for a in names:
        for b in names:
            if a < b:
                assert (masks[a] ^ masks[b]).sum() >= 12, (a, b)
    assert not masks["ring"][31:33, 31:33].any()             # the ring has its hole


def test_alignment_data_may_add_the_pretraining_shapes_but_never_the_few_shot_ones():
    from polymodal.core.errors import InputError
    from polymodal.tasks import align
    extra = shapes_preset.PRETRAINING_SHAPES
    examples, _ = align.AlignTask().load_examples("shapes:shapes:train", 1, 60, extra_shapes=extra)
    seen = {o["shape"] for ex in examples for o in ex.objects}
    assert set(extra) <= seen and not seen & set(shapes_preset.EXTRA_SHAPES)
    assert all(shapes_preset.parse_caption(ex.captions[0]).unparsed == [] for ex in examples)
    with pytest.raises(InputError, match="not blob"):
        shapes("shapes", "train", 1, 2, ("blob",))
    with pytest.raises(InputError, match="sort-of-clevr cannot"):
        shapes("sort-of-clevr", "train", 1, 2, ("ring",))


def test_export_writes_grounding_and_caption_columns(tmp_path):
    assert main(["data", "shapes", "--preset", "shapes", "--split", "val", "--seed", "3", "--n", "5",
                 "--out", str(tmp_path)]) == 0
    rows = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    scenes = shapes("shapes", "val", 3, 5)
    assert len(rows) == sum(len(s.phrases) for s in scenes)
    assert {r["image"] for r in rows} == {f"images/val-3-{i:06d}.png" for i in range(5)}
    first = rows[0]
    assert first["caption"] == scenes[0].caption and first["phrase"] == scenes[0].phrases[0].text
    assert first["box"] == scenes[0].phrases[0].box and len(first["objects"]) == len(scenes[0].objects)
    assert (tmp_path / first["image"]).exists()


def test_shapes_scenes_are_deterministic():
    a, b = shapes("shapes", "test", 5, 20), shapes("shapes", "test", 5, 20)
    assert all((x.image == y.image).all() and x.caption == y.caption for x, y in zip(a, b))
    assert any(x.caption != y.caption for x, y in zip(a, shapes("shapes", "test", 6, 20)))
