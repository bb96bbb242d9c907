"""The signs preset: words written left to right, questions whose answers follow from them."""
import numpy as np

from polymodal.data import signs_preset
from polymodal.data.world import shapes


def test_scenes_are_deterministic_and_answers_follow_from_the_words():
    first = shapes("signs", "train", 3, 30)
    assert all((a.image == b.image).all() for a, b in zip(first, shapes("signs", "train", 3, 30)))
    for scene in first:
        texts = scene.transcript.split()
        assert scene.image.shape == (signs_preset.HEIGHT, signs_preset.WIDTH, 3)
        assert [w.text for w in sorted(scene.words, key=lambda w: w.x)] == texts and 1 <= len(texts) <= 3
        for qa in scene.questions:
            expected = {"first": texts[0], "last": texts[-1], "count": str(len(texts))}.get(qa.family)
            if qa.family == "has":
                expected = "yes" if qa.question.split()[3] in texts else "no"
            assert qa.answer == expected, qa
        assert signs_preset.rows(scene, "x.png")[0]["transcript"] == scene.transcript


def test_every_word_is_drawn_in_its_own_third_of_the_image():
    for scene in shapes("signs", "test", 4, 40):
        ink = (scene.image < 200).any(axis=(0, 2))                     # columns with ink
        for w in scene.words:
            third = w.x // (signs_preset.WIDTH // 3)
            assert ink[third * (signs_preset.WIDTH // 3):(third + 1) * (signs_preset.WIDTH // 3)].any()
        assert np.unique(scene.image.reshape(-1, 3), axis=0).shape[0] > 2  # anti-aliased text, not blank
