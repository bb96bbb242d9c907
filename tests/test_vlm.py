"""The generative vision-language model's core (models/vlm.py): conversations of images and
texts to tensors, what training teaches, decoding with a key/value cache equal to decoding
without one, beam search, sampling and stop strings; saved and loaded like every model."""
import numpy as np
import pytest
import torch

from polymodal.core.errors import InputError
from polymodal.loading import load_model
from polymodal.models.vlm import IGNORE, IMAGE, Segment, VisionLanguageModel, VLMConfig, conversation_words

CNN = {"name": "cnn", "config": {"dim": 16, "channels": [8, 8], "image_size": 16}}     # a 4x4 grid: 16 tokens


def tiny(words, layers=2, dim=32):
    torch.manual_seed(0)
    return VisionLanguageModel(VLMConfig(image_encoder=CNN, vocab=words, dim=dim, layers=layers, heads=2,
                                         max_positions=96)).eval()


def pixels(model, seed):
    array = np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    return model.image_encoder.processor([array])[0]


DIALOGUES = [[("read", "what shape is the red object ?"), ("write", "a circle")],
             [("read", "caption"), ("write", "a red circle left of a blue square")]]
WORDS = conversation_words([[Segment(text=t) for _, t in d] for d in DIALOGUES])


def conversation(model, dialogue, seed):
    return [Segment(image=pixels(model, seed))] + [Segment(text=t, written=kind == "write") for kind, t in dialogue]


def test_only_the_written_words_and_their_end_are_taught():
    model = tiny(WORDS)
    batch = model.assemble([conversation(model, DIALOGUES[0], 1)])
    taught = [model.config.vocab[t] for t in batch["targets"][0].tolist() if t != IGNORE]
    assert taught == ["a", "circle", "<eos>"]
    assert batch["ids"].shape[1] == 16 + 1 + 7 + 1 + 2 + 1 and batch["mask"].all()   # image, <user> question, <assistant> answer <eos>
    assert (batch["ids"][0, :16] == IMAGE).all() and batch["images"].shape == (1, 3, 16, 16)
    # a batch pads on the right, and padding teaches nothing
    two = model.assemble([conversation(model, d, i) for i, d in enumerate(DIALOGUES)])
    assert (~two["mask"][0]).sum() == two["ids"].shape[1] - batch["ids"].shape[1]
    assert (two["targets"][0][~two["mask"][0]] == IGNORE).all()


def test_training_lowers_the_loss_until_it_writes_the_answers():
    model = tiny(WORDS).train()
    convs = [conversation(model, d, i) for i, d in enumerate(DIALOGUES)]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        loss = model.loss(model.assemble(convs))
        first = first if first is not None else float(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.1 * first
    model.eval()
    prompts = [c[:-1] for c in convs]
    assert model.generate(prompts, max_new_tokens=12) == ["a circle", "a red circle left of a blue square"]
    assert model.generate(prompts, max_new_tokens=12, beams=3) == ["a circle", "a red circle left of a blue square"]
    assert model.generate(prompts[1:], max_new_tokens=12, stop=["left"]) == ["a red circle"]
    assert model.generate(prompts, max_new_tokens=2) == ["a circle", "a red"]


def test_cached_decoding_equals_decoding_without_a_cache():
    model = tiny(WORDS)
    prompts = [conversation(model, DIALOGUES[0][:1], 3), conversation(model, DIALOGUES[1][:1], 4)]
    written = model.generate(prompts, max_new_tokens=6)
    for prompt, text in zip(prompts, written):          # one at a time, the whole prefix rerun each step
        ids = []
        for _ in range(6):
            so_far = model.decode(ids)
            batch = model.assemble([prompt + [Segment(text=so_far, written=True)]])
            # the logits after <assistant> and the words so far (the last position is the <eos> assemble adds)
            logp = model(batch)[0, int(batch["mask"][0].sum()) - 2].float().log_softmax(-1)
            allowed = logp.clone()
            allowed[:5] = float("-inf")
            allowed[model.eos] = logp[model.eos]
            token = int(allowed.argmax())
            if token == model.eos:
                break
            ids.append(token)
        assert text == model.decode(ids)


def test_sampling_follows_its_generator_and_top_p_near_zero_is_greedy():
    model = tiny(WORDS)
    prompts = [conversation(model, DIALOGUES[0][:1], 5)]
    draw = [model.generate(prompts, 8, temperature=1.0, generator=torch.Generator().manual_seed(s))[0]
            for s in (0, 0, 1, 2, 3)]
    assert draw[0] == draw[1] and len(set(draw)) > 1
    assert model.generate(prompts, 8, temperature=1.0, top_p=1e-6) == model.generate(prompts, 8)
    with pytest.raises(InputError):
        model.generate(prompts, 8, beams=2, temperature=0.5)
    with pytest.raises(InputError, match="unknown word 'zebra'"):
        model.assemble([[Segment(text="a zebra")]])


def test_a_saved_model_loads_with_the_same_outputs(tmp_path):
    model = tiny(WORDS)
    prompts = [conversation(model, DIALOGUES[1][:1], 6)]
    model.save_pretrained(tmp_path / "vlm")
    again = load_model(str(tmp_path / "vlm"))
    assert isinstance(again, VisionLanguageModel)
    batch = model.assemble(prompts)
    assert torch.equal(again(again.assemble(prompts)), model(batch))
    assert again.generate(prompts, 8) == model.generate(prompts, 8)


def test_a_chat_teaches_every_answer_and_examples_bring_their_own_images():
    model = tiny(WORDS)
    chat = conversation(model, DIALOGUES[0], 1) + [Segment(text="caption"),
                                                   Segment(text="a blue square", written=True)]
    batch = model.assemble([chat])
    taught = [model.config.vocab[t] for t in batch["targets"][0].tolist() if t != IGNORE]
    assert taught == ["a", "circle", "<eos>", "a", "blue", "square", "<eos>"]
    # in-context: an example image with its answer, then the image asked about
    shots = conversation(model, DIALOGUES[0], 1) + conversation(model, DIALOGUES[0][:1], 2)
    batch = model.assemble([shots], answer_next=True)
    assert batch["images"].shape[0] == 2 and int((batch["ids"] == IMAGE).sum()) == 2 * model.image_tokens
    assert model.config.vocab[int(batch["ids"][0, -1])] == "<assistant>"
    assert len(model.generate([shots], max_new_tokens=3)[0].split()) <= 3


def test_the_vlm_task_trains_from_a_recipe_and_is_scored_as_each_task_is(tmp_path, capsys):
    import json

    from polymodal.cli.main import main
    from polymodal.tasks.registry import TASKS
    from polymodal.training import run as training_run
    recipe = {"task": "vlm", "data": {"spec": "vlm:train", "seed": 0, "n": 9},
              "val": {"spec": "vlm:val", "seed": 1, "n": 3},
              "model": {"image_encoder": CNN, "dim": 32, "layers": 1, "heads": 2, "max_positions": 96},
              "train": {"epochs": 8, "batch_size": 3, "lr": 3e-3, "warmup_steps": 2, "seed": 0},
              "task_options": {"turns": 3}}
    result = training_run.run(recipe, tmp_path / "run")
    losses = [r["loss"] for r in json.loads((tmp_path / "run" / "metrics.json").read_text())["train"]]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    assert {"accuracy", "relational_accuracy", "caption_fact_f1", "ground_accuracy_iou50", "read_wer",
            "chat_accuracy", "chat_first_turn_accuracy"} <= set(result)
    model = load_model(str(tmp_path / "run" / "model"))
    assert isinstance(model, VisionLanguageModel) and model.config.task == "vlm"
    # a training conversation holds `turns` prompts (a dialogue's two turns count as one), each
    # answer taught (one word and <eos> here)
    task = TASKS.build("vlm", turns=2)
    examples, _ = task.load_data("shapes:sort-of-clevr:train", 0, 8)
    assert all(len(t.answer.split()) == 1 for ex in examples for t in ex.turns + ex.dialogues[0])
    taught = (task.make_batch(model, examples, np.random.default_rng(0))[1] != IGNORE).sum(1)
    assert set(taught.tolist()) <= {4, 6, 8} and len(set(taught.tolist())) > 1
    capsys.readouterr()
    assert main(["eval", "vlm", "--model", str(tmp_path / "run" / "model"), "--data", "shapes:shapes:test", "--n", "2",
                 "--json"]) == 0
    assert "ground_accuracy_iou50" in json.loads(capsys.readouterr().out)
    assert main(["eval", "vlm", "--model", str(tmp_path / "run" / "model"), "--data", "my.csv"]) == 2


def test_boxes_are_written_as_location_words_and_read_back():
    from polymodal.models.vlm import box_of, location_words
    from polymodal.tasks.metrics.boxes import iou
    words = location_words([10, 20, 30, 60], 64, 64)
    assert words == "loc5 loc10 loc15 loc30"
    assert iou(box_of(words, 64, 64), [10, 20, 30, 60]) > 0.8
    assert box_of("loc5 loc10 red", 64, 64) == [0.0, 0.0, 0.0, 0.0]       # not a box: overlaps nothing


@pytest.mark.parametrize("prefix", [True, False])
def test_with_a_prefix_the_image_is_read_in_the_light_of_the_prompt(prefix):
    torch.manual_seed(0)
    model = VisionLanguageModel(VLMConfig(image_encoder=CNN, vocab=WORDS, dim=32, layers=2, heads=2,
                                          max_positions=96, prefix=prefix)).eval()
    image = pixels(model, 1)
    asked = [model(model.assemble([[Segment(image=image), Segment(text=q)]]))[0, :model.image_tokens]
             for q in ("caption", "what shape is the red object ?")]
    # PaliGemma's prefix-LM: the image's positions see the prompt after them; LLaVA's causal mask: they do not
    assert torch.allclose(asked[0], asked[1]) != prefix
    batch = model.assemble([conversation(model, DIALOGUES[0], 1) + [Segment(text="caption")]])
    assert batch["prefix"][0].sum() == model.image_tokens + 1 + 7      # image, <user> and the first question only


def test_a_dialogues_follow_up_is_about_the_object_its_first_answer_names():
    from polymodal.data.sort_of_clevr import related
    from polymodal.data.world import shapes
    from polymodal.tasks.vlm import load_examples
    scenes = shapes("sort-of-clevr", "test", 7, 20)
    examples = load_examples("shapes:sort-of-clevr:test", 7, 20)
    assert load_examples("shapes:sort-of-clevr:test", 7, 20)[3].dialogues == examples[3].dialogues   # seeded
    kinds = set()
    for scene, ex in zip(scenes, examples):
        for opener, follow in ex.dialogues:
            relation, colour = opener.truth.family.split()[0], opener.prompt.split()[-2]
            it = related(scene.objects, next(o for o in scene.objects if o.colour == colour), relation)
            assert opener.answer == it.colour
            asked = follow.truth.family.split()[1]
            expected = {"shape": it.shape, "left": "yes" if it.x < 37.5 else "no",
                        "top": "yes" if it.y < 37.5 else "no"}[asked]
            assert follow.answer == expected and {"it", "its"} & set(follow.prompt.rstrip("?").split())
            kinds.add(asked)
    assert kinds == {"shape", "left", "top"}


def test_few_shot_episodes_show_codes_in_context_and_the_test_codes_are_never_taught():
    from polymodal.tasks.registry import TASKS
    from polymodal.tasks.vlm import CODE_WORDS, HELD_OUT_CODES, dialogue_scores, few_shot_accuracy
    task = TASKS.build("vlm", few_shot=1.0, max_shots=3)
    examples, _ = task.load_data("shapes:sort-of-clevr:train", 0, 6)
    torch.manual_seed(0)
    model = task.build_model({"image_encoder": CNN, "dim": 32, "layers": 1, "heads": 2, "max_positions": 128},
                             examples)
    batch, targets = task.make_batch(model, examples, np.random.default_rng(0))
    images_per_row = (batch["ids"] == IMAGE).sum(1) // model.image_tokens
    assert ((images_per_row >= 2) & (images_per_row <= 4)).all()          # 1 to 3 examples, then the query
    plain = TASKS.build("vlm", few_shot=0.0).make_batch(model, examples, np.random.default_rng(0))[0]
    assert ((plain["ids"] == IMAGE).sum(1) == model.image_tokens).all()
    written = {model.config.vocab[t] for t in targets[targets != IGNORE].tolist()}
    assert written - {"<eos>"} <= set(CODE_WORDS) and not written & set(HELD_OUT_CODES)
    for shots in (0, 2):
        assert 0.0 <= few_shot_accuracy(model, examples, shots) <= 1.0
    right = [([SimpleTurn("red")], ["red"]), ([SimpleTurn("red"), SimpleTurn("circle")], ["blue", "circle"]),
             ([SimpleTurn("red"), SimpleTurn("yes")], ["red", "no"])]
    assert dialogue_scores(right) == {"chat_accuracy": 0.5, "chat_first_turn_accuracy": 2 / 3,
                                      "chat_dialogues": 3}


class SimpleTurn:
    def __init__(self, answer):
        self.answer = answer


def test_a_reply_stops_at_the_last_position_the_model_learnt():
    """Past max_positions a position would be read as the last one: the reply ends there with
    finish "length", and a conversation that fills every position is refused."""
    from polymodal.core.chat import Decoding, Message, Part
    model = tiny(WORDS)
    image = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    long_question = " ".join(["what"] * 70)          # 16 image tokens, <user>, 70 words, <assistant>: 88 positions
    chat = [Message("user", [Part("image", image), Part("text", long_question)])]
    reply = model.reply([chat], Decoding(max_new_tokens=40))[0]
    assert reply.prompt_tokens == 88 and reply.completion_tokens <= 8
    assert reply.finish == "length" or reply.completion_tokens < 8
    full = [Message("user", [Part("image", image), Part("text", " ".join(["what"] * 78))])]   # 96 positions
    with pytest.raises(InputError, match="no room for a reply"):
        model.reply([full], Decoding())
