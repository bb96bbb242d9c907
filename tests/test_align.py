"""Image-text alignment: contrastive targets, the loss, retrieval and zero-/few-shot metrics,
training through the trainer, and the embed / search / classify verbs."""
import json

import numpy as np
import pytest
import torch

from polymodal.cli.main import main
from polymodal.core.errors import InputError
from polymodal.data import shapes
from polymodal.loading import load_model
from polymodal.models.aligner import Aligner
from polymodal.tasks import align, align_texts, few_shot, image_text
from polymodal.tasks.image_text import ImageTextExample
from polymodal.tasks.metrics.retrieval import recall_at

TINY_CNN = {"name": "cnn", "config": {"dim": 32, "channels": [16, 32, 32], "strides": [2, 2, 2], "image_size": 64}}
TINY_TEXT = {"name": "transformer", "config": {"dim": 32, "layers": 1, "heads": 2}}


def obj(colour, shape, x, y):
    return {"colour": colour, "shape": shape, "box": [x - 5, y - 5, x + 5, y + 5]}


def test_positives_count_every_text_true_of_an_image():
    scenes = [ImageTextExample(None, ["a red circle left of a blue square"], [obj("red", "circle", 10, 10),
                                                                               obj("blue", "square", 40, 10)]),
              ImageTextExample(None, ["a red circle"], [obj("red", "circle", 30, 30)]),
              ImageTextExample(None, ["a blue square above a red circle"], [obj("blue", "square", 10, 10),
                                                                            obj("red", "circle", 10, 40)])]
    texts = ["a red circle left of a blue square", "a red circle", "a blue square above a red circle"]
    m = align_texts.positives(texts, scenes)
    assert m.tolist() == [[True, True, False], [False, True, False], [False, True, True]]
    manifest_like = [ImageTextExample(None, ["one"]), ImageTextExample(None, ["two", "three"])]
    assert align_texts.positives(["one", "three"], manifest_like).tolist() == [[True, False], [False, True]]
    # a scene whose own caption lies outside the grammar still matches it (no empty target row)
    odd = [ImageTextExample(None, ["A small red ball"], [obj("red", "circle", 10, 10)])]
    assert align_texts.positives(["A small red ball"], odd).tolist() == [[True]]


def test_bad_objects_column_is_an_input_error():
    from polymodal.tasks.image_text import examples_from_rows
    with pytest.raises(InputError, match="row 7: objects must be"):
        examples_from_rows([{"image": "a.png", "caption": "a red circle", "objects": "red circle", "_row": 7}])


def test_loss_is_lowest_when_similarities_follow_the_positives():
    targets = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    good = torch.where(targets > 0, 10.0, -10.0)
    assert align.AlignTask().loss(good, targets) < align.AlignTask().loss(torch.zeros(3, 3), targets)
    assert align.AlignTask().loss(torch.zeros(3, 3), targets) < align.AlignTask().loss(-good, targets)


def test_training_texts_are_true_parts_of_the_scene():
    rng = np.random.default_rng(0)
    examples = [image_text.examples_from_scenes([s])[0] for s in shapes("shapes", "train", 3, 50)]
    seen_partial = 0
    for ex in examples:
        for _ in range(4):
            text = align_texts.training_text(ex, rng)
            assert align_texts.positives([text], [ex]).item(), text
            seen_partial += text != ex.captions[0]
    assert seen_partial > 50


def test_foils_are_false_of_their_scene_and_use_only_training_pairs():
    from polymodal.data.shapes_preset import COMPOSITIONAL_PAIRS, parse_caption
    rng = np.random.default_rng(1)
    examples = [image_text.examples_from_scenes([s])[0] for s in shapes("shapes", "train", 4, 60)]
    made = 0
    for ex in examples:
        text = align_texts.training_text(ex, rng)
        changed = align_texts.foil(text, ex, rng)
        if changed is None:
            continue
        made += 1
        assert not align_texts.positives([changed], [ex]).item(), (text, changed)
        assert not set(parse_caption(changed).objects) & set(COMPOSITIONAL_PAIRS), changed
        assert not parse_caption(changed).unparsed, changed         # articles fixed: "an orange", not "a orange"
    assert made > 50, made


def test_foils_mostly_rebind_the_scene_own_colours_and_shapes():
    ex = ImageTextExample(None, ["a red circle left of a blue square"], [obj("red", "circle", 10, 10),
                                                                         obj("blue", "square", 40, 10)])
    rng = np.random.default_rng(0)
    foils = [align_texts.foil("a red circle", ex, rng) for _ in range(100)]
    assert sum(f in ("a blue circle", "a red square") for f in foils) > 50


def test_foil_texts_only_push_images_away():
    """A text true of no image of the batch has no text-to-image term (no NaN from 0/0)."""
    targets = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    logits = torch.tensor([[5.0, -5.0], [5.0, -5.0]], requires_grad=True)
    loss = align.AlignTask().loss(logits, targets)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert align.AlignTask().loss(torch.tensor([[5.0, 6.0], [5.0, 6.0]]), targets) > loss


def test_view_loss_rewards_matching_views():
    z = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    matched = torch.cat([z, z])
    assert align.view_loss(matched) < align.view_loss(torch.cat([z, z.roll(1, 0)]))


def test_augmented_view_moves_and_recolours_but_keeps_the_shapes():
    from polymodal.processors.image import augmented_view
    scene = shapes("shapes", "train", 2, 1)[0].image
    rng = np.random.default_rng(0)
    background = scene[0, 0]
    ink = (scene != background).any(-1).sum()
    views = [augmented_view(scene, rng) for _ in range(8)]
    assert all(v.shape == scene.shape and v.dtype == np.uint8 for v in views)
    assert any(not np.array_equal(v, scene) for v in views)
    # objects stay whole: at most a shifted-out border strip of ink is lost
    assert all((v != v[0, 0]).any(-1).sum() >= 0.7 * ink for v in views)


def test_recall_at_k():
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]])
    hits = torch.tensor([[False, False, True], [True, False, False]])
    assert recall_at(scores, hits, 1) == 0.0
    assert recall_at(scores, hits, 2) == 0.5
    assert recall_at(scores, hits, 3) == 1.0


def test_few_shot_prototypes_and_probe_separate_clear_clusters():
    rng = np.random.default_rng(0)
    centres = {c: torch.from_numpy(rng.normal(size=8)).float() for c in "abc"}
    support = {c: torch.nn.functional.normalize(v + 0.1 * torch.randn(5, 8), dim=-1) for c, v in centres.items()}
    queries = torch.nn.functional.normalize(torch.stack([centres[c] + 0.1 * torch.randn(8) for c in "abcabc"]), dim=-1)
    for method in ("prototype", "probe"):
        assert few_shot.few_shot_predict(support, queries, method) == list("abcabc")
    with pytest.raises(InputError):
        few_shot.few_shot_predict(support, queries, "knn")


def test_few_shot_images_include_shapes_alignment_never_sees():
    images = few_shot.few_shot_images(seed=0, per_class=3)
    assert set(images) == {"circle", "square", "triangle", "star", "cross"}
    assert all(len(v) == 3 and v[0].shape == (64, 64, 3) for v in images.values())
    train_shapes = {o.shape for s in shapes("shapes", "train", 0, 300) for o in s.objects}
    assert not {"star", "cross"} & train_shapes


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny aligner trained on 64 scenes (short: the real one is the shipped recipe)."""
    from polymodal.training import run as training_run
    out = tmp_path_factory.mktemp("align-run")
    recipe = {"task": "align", "data": {"spec": "shapes:shapes:train", "seed": 5, "n": 64},
              "model": {"image_encoder": TINY_CNN, "text_encoder": TINY_TEXT, "dim": 32},
              "train": {"epochs": 30, "batch_size": 32, "lr": 3e-3, "warmup_steps": 5, "seed": 0,
                        "checkpoint_every": 10 ** 6}}
    training_run.run(recipe, out)
    return out / "model"


def test_training_aligns_the_images_it_saw(trained):
    model = load_model(trained)
    assert isinstance(model, Aligner)
    examples, _ = image_text.load_examples("shapes:shapes:train", 5, 64)
    m = align.AlignTask().evaluate(model, examples)
    # chance: R@5 of a 64-image gallery is about 5/64 per hit image
    assert m["text_to_image_r5"] > 0.5 and m["image_to_text_r5"] > 0.5, m
    assert {"zero_shot_presence", "zero_shot_top1", "text_to_image_r1", "gallery"} <= set(m)


def test_make_batch_targets_are_square_and_include_the_diagonal(trained):
    model = load_model(trained)
    examples, _ = image_text.load_examples("shapes:shapes:train", 6, 16)
    batch, targets = align.AlignTask().make_batch(model, examples, np.random.default_rng(0))
    assert targets.shape == (16, 16) and bool(targets.diagonal().all())
    assert model(batch).shape == (16, 16)


def test_batches_with_foils_and_views_train():
    examples, _ = image_text.load_examples("shapes:shapes:train", 6, 16)
    spec = {"image_encoder": TINY_CNN, "text_encoder": TINY_TEXT, "dim": 16, "view_loss": 0.5}
    model = align.AlignTask().build_model(spec, examples)
    batch, targets = align.AlignTask(hard_negatives=1.0).make_batch(model, examples, np.random.default_rng(0))
    assert targets.shape[0] == 16 and targets.shape[1] > 16          # the foils are extra columns
    assert not targets[:, 16:].diagonal().any()
    out = model(batch)
    assert out["logits"].shape == targets.shape and out["views"].shape == (32, 16)
    loss = align.AlignTask().loss(out, targets)
    loss.backward()
    assert torch.isfinite(loss) and model.view_proj[0].weight.grad is not None


def test_factored_similarity_is_a_sum_of_colour_shape_place_products():
    """The dot product of two factored embeddings is, over every (cell, word) pair, the
    product of their colour, shape and place dot products: what lets a pair never seen
    together be scored from factors learnt on other pairs."""
    from polymodal.models.binding import outer_sum
    g = torch.Generator().manual_seed(0)
    img = [torch.randn(1, 5, d, generator=g) for d in (3, 4, 2)]
    txt = [torch.randn(1, 6, d, generator=g) for d in (3, 4, 2)]
    w_img, w_txt = torch.rand(1, 5, generator=g), torch.rand(1, 6, generator=g)
    expected = sum(w_img[0, i] * w_txt[0, j] * (img[0][0, i] @ txt[0][0, j]) * (img[1][0, i] @ txt[1][0, j])
                   * (img[2][0, i] @ txt[2][0, j]) for i in range(5) for j in range(6))
    got = outer_sum(*img, w_img) @ outer_sum(*txt, w_txt).T
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def nn_up(x):
    return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")


def test_factored_colour_reads_only_the_colours_of_each_cell():
    """2x2 blocks shuffled inside each 8x8 cell (the same colours, another outline) leave
    the colour factor as it was: with the encoder's cells held fixed, the embedding is unchanged."""
    from polymodal.models.binding import FactoredImagePool
    torch.manual_seed(0)
    pool = FactoredImagePool(token_dim=32, factors=(4, 4, 2))
    blocks = torch.rand(1, 3, 32, 32)                      # the colour factor reads 2x2 means
    cells = blocks.reshape(1, 3, 8, 4, 8, 4).permute(0, 1, 2, 4, 3, 5).reshape(1, 3, 8, 8, 16)
    shuffled = cells[..., torch.randperm(16)].reshape(1, 3, 8, 8, 4, 4).permute(0, 1, 2, 4, 3, 5)
    pixels, shuffled = (nn_up(x.reshape(1, 3, 32, 32)) for x in (blocks, shuffled))
    assert not torch.equal(shuffled, pixels)
    tokens = torch.randn(1, 64, 32)                                  # an 8x8 grid of encoder cells
    assert torch.allclose(pool(pixels, tokens), pool(shuffled, tokens), atol=1e-5)
    assert not torch.allclose(pool(pixels, tokens), pool(pixels.flip(-1), tokens), atol=1e-3)


def test_factored_aligner_trains_saves_and_reloads(tmp_path):
    from polymodal.core.errors import ConfigError
    examples, _ = image_text.load_examples("shapes:shapes:train", 6, 8)
    spec = {"image_encoder": TINY_CNN, "text_encoder": TINY_TEXT, "dim": 32, "factors": [4, 4, 2]}
    model = align.AlignTask().build_model(spec, examples)
    batch, targets = align.AlignTask().make_batch(model, examples, np.random.default_rng(0))
    logits = model(batch)
    assert logits.shape == targets.shape
    align.AlignTask().loss(logits, targets).backward()
    assert all(p.grad is not None for p in model.image_factors.parameters())
    model.save_pretrained(tmp_path / "m")
    model.eval()
    again = load_model(tmp_path / "m")
    assert torch.allclose(again.encode_text(batch["text"]), model.encode_text(batch["text"]), atol=1e-6)
    assert model.encode_image(batch["image"]).shape == (8, 32)
    with pytest.raises(ConfigError, match="product"):
        align.AlignTask().build_model({**spec, "dim": 64}, examples)


@pytest.mark.parametrize("text_factors", ["context", "words"])
def test_factored_text_does_not_depend_on_the_padding_of_its_batch(text_factors):
    from polymodal.core.errors import ConfigError
    examples, _ = image_text.load_examples("shapes:shapes:train", 6, 4)
    spec = {"image_encoder": TINY_CNN, "text_encoder": TINY_TEXT, "dim": 32, "factors": [4, 4, 2],
            "text_factors": text_factors}
    model = align.AlignTask().build_model(spec, examples).eval()
    with pytest.raises(ConfigError, match="text_factors"):
        align.AlignTask().build_model({**spec, "text_factors": "both"}, examples)
    short = "a red circle"
    alone = align.embed_texts(model, [short])
    padded = align.embed_texts(model, [short, "a red circle left of a blue square and the blue square above a gray circle"])
    assert torch.allclose(alone[0], padded[0], atol=1e-5)
    assert not torch.allclose(padded[0], padded[1], atol=1e-3)


def test_word_factors_of_an_unseen_pair_are_the_sum_of_its_words():
    """With text_factors "words", the colour and shape of "a blue square" come from "blue"
    (and the word before it) and "square" alone: swapping which colour goes with which shape
    across two phrases swaps their factors exactly, whatever pairs training showed."""
    from polymodal.models.binding import WordFactorTextPool
    torch.manual_seed(0)
    pool = WordFactorTextPool(token_dim=8, vocab_size=6, factors=(3, 3, 2))
    a, blue, red, square, circle = 1, 2, 3, 4, 5
    ids = torch.tensor([[a, blue, square], [a, red, circle], [a, blue, circle], [a, red, square]])
    words = pool.words(ids)
    colour = pool.colour(torch.nn.functional.pad(words.transpose(1, 2), (1, 0))).transpose(1, 2)
    shape = pool.shape(words)
    # the last word's colour depends on (colour word, shape word) additively: the four phrases'
    # factors satisfy blue-square + red-circle == blue-circle + red-square
    assert torch.allclose(colour[0, 2] + colour[1, 2], colour[2, 2] + colour[3, 2], atol=1e-5)
    assert torch.allclose(shape[0, 2], shape[3, 2]) and torch.allclose(shape[1, 2], shape[2, 2])


def test_embed_search_classify_cli(trained, tmp_path, capsys):
    data = tmp_path / "d"
    assert main(["data", "shapes", "--preset", "shapes", "--split", "test", "--seed", "1", "--n", "4",
                 "--out", str(data)]) == 0
    images = data / "images"
    assert main(["embed", str(images), "--out", str(tmp_path / "g.npz"), "--model", str(trained)]) == 0
    with np.load(tmp_path / "g.npz") as f:
        assert f["vectors"].shape == (4, 32) and len(f["names"]) == 4 and str(f["kind"]) == "image"
        assert np.allclose(np.linalg.norm(f["vectors"], axis=1), 1, atol=1e-5)
    capsys.readouterr()
    assert main(["search", "a red circle", "--gallery", str(tmp_path / "g.npz"), "--k", "3", "--json",
                 "--model", str(trained)]) == 0
    ranked = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["rank"] for r in ranked] == [1, 2, 3] and ranked[0]["score"] >= ranked[-1]["score"]
    query = sorted(images.iterdir())[0]
    assert main(["search", str(query), "--gallery", str(images), "--k", "1", "--json", "--model", str(trained)]) == 0
    assert json.loads(capsys.readouterr().out)["image"] == str(query)          # an image is nearest itself
    assert main(["classify", str(images), "--labels", "red circle,blue square", "--json",
                 "--model", str(trained)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 4 and all(r["label"] in ("red circle", "blue square") for r in out)
    support = tmp_path / "support"
    for label, picks in (("first", [0, 1]), ("second", [2, 3])):
        (support / label).mkdir(parents=True)
        for i in picks:
            (support / label / f"{i}.png").write_bytes(sorted(images.iterdir())[i].read_bytes())
    assert main(["classify", str(sorted(images.iterdir())[0]), "--examples", str(support),
                 "--model", str(trained)]) == 0
    assert capsys.readouterr().out.strip() == "first"
    assert main(["classify", str(sorted(images.iterdir())[0]), "--examples", str(support), "--invariant",
                 "colour,mirror", "--model", str(trained)]) == 0
    assert capsys.readouterr().out.strip() in ("first", "second")
    assert main(["classify", str(sorted(images.iterdir())[0]), "--examples", str(support), "--invariant",
                 "size", "--model", str(trained)]) == 2
    assert "unknown invariance size" in capsys.readouterr().err


def test_invariant_views_are_colour_orders_and_mirrors_and_their_mean_is_invariant(trained):
    scene = shapes("shapes", "test", 2, 1)[0].image
    views = few_shot.invariant_views(scene, ("colour", "mirror"))
    assert len(views) == 12 and len({v.tobytes() for v in views}) >= 6
    model = load_model(trained)
    swapped = np.ascontiguousarray(scene[..., [2, 0, 1]][:, ::-1])        # recoloured and mirrored
    a, b = few_shot.embed_invariant(model, [scene, swapped], ("colour", "mirror"))
    assert torch.allclose(a, b, atol=1e-5)
    plain = few_shot.embed_invariant(model, [scene, swapped])
    assert not torch.allclose(plain[0], plain[1], atol=1e-3)


def test_contracted_factors_forget_colour_and_place_but_keep_shape():
    """A one-object factored embedding colour x shape x place, contracted over colour and
    place, depends on the shape alone: the few-shot representation of shape classes."""
    from polymodal.models.binding import outer_sum
    g = torch.Generator().manual_seed(0)

    def embedding(colour, shape, place):
        return torch.nn.functional.normalize(outer_sum(colour[None, None], shape[None, None], place[None, None],
                                                       torch.ones(1, 1)), dim=-1)
    colours, places = torch.randn(2, 3, generator=g), torch.randn(2, 2, generator=g)
    shape, other = torch.randn(4, generator=g), torch.randn(4, generator=g)
    a = embedding(colours[0], shape, places[0])
    b = embedding(colours[1], shape, places[1])
    c = embedding(colours[0], other, places[0])
    assert not torch.allclose(a, b, atol=1e-3)
    contracted = [few_shot.contract_factors(e, [3, 4, 2], ("colour", "place")) for e in (a, b, c)]
    assert contracted[0].shape == (1, 16)
    assert torch.allclose(contracted[0], contracted[1], atol=1e-5)
    assert not torch.allclose(contracted[0], contracted[2], atol=1e-2)
    # colour alone contracted: place is kept, so a moved object differs
    by_colour = [few_shot.contract_factors(e, [3, 4, 2], ("colour",)) for e in (a, b)]
    assert by_colour[0].shape == (1, 64) and not torch.allclose(*by_colour, atol=1e-3)


def test_place_invariance_needs_a_factored_aligner(trained):
    from polymodal.core.errors import InputError
    scene = shapes("shapes", "test", 2, 1)[0].image
    with pytest.raises(InputError, match="factored aligner"):
        few_shot.embed_invariant(load_model(trained), [scene], ("colour", "place"))


def test_shipped_aligner_contracted_is_nearer_the_same_shape_than_the_same_colour_and_place():
    from polymodal.data.shapes_preset import object_scene
    from polymodal.loading import load_model
    model = load_model(task="align")

    def scene(colour, shape, seed):
        return object_scene(np.random.default_rng(seed), colour, shape).image
    images = [scene("red", "circle", 0), scene("blue", "circle", 1), scene("red", "square", 0)]
    a, b, c = few_shot.embed_invariant(model, images, ("colour", "place"))
    assert a.shape == (model.config.factors[1] ** 2,)
    assert (a @ b) > (a @ c) + 0.1                      # same shape beats same colour and place


def test_align_evals_cli(trained, capsys):
    capsys.readouterr()
    for verb, keys in (("retrieve", {"text_to_image_r5", "image_to_text_r1"}),
                       ("zero-shot", {"zero_shot_presence"}),
                       ("few-shot", {"few_shot_accuracy", "novel_class_accuracy", "per_label"})):
        assert main(["eval", verb, "--data", "shapes:shapes:test", "--n", "30", "--episodes", "2",
                     "--model", str(trained), "--json"]) == 0
        assert keys <= set(json.loads(capsys.readouterr().out)), verb


def test_align_cli_bad_input(trained, tmp_path, capsys):
    m = ["--model", str(trained)]
    np.savez(tmp_path / "wide.npz", vectors=np.zeros((2, 512), np.float32), names=np.array(["a", "b"]),
             kind=np.array("image"))                                     # from another model
    for argv, named in ((["classify", "x.png", *m], "--labels"),
                        (["classify", "x.png", "--labels", "red", *m], "at least two labels"),
                        (["search", "a purple circle", "--gallery", str(tmp_path), *m], "purple"),
                        (["embed", str(tmp_path), "--out", str(tmp_path / "v.npy"), *m], "no images"),
                        (["search", "a red circle", "--gallery", str(tmp_path / "none.npz"), *m], "none.npz"),
                        (["search", "a red circle", "--gallery", str(tmp_path / "wide.npz"), *m], "same model")):
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and named in err, (argv, err)
