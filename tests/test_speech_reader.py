"""The speech reader: speech written into a text encoder's token space (read_as), taught by
the typed question, so that a frozen typed-question model answers spoken questions."""
import numpy as np
import pytest
import torch

from polymodal.core.errors import ConfigError, InputError
from polymodal.encoders.base import Embedding
from polymodal.encoders.registry import ENCODERS
from polymodal.encoders.speech_reader import distillation_loss
from polymodal.loading import load_model
from polymodal.models.reader import ReaderModel, ReaderModelConfig
from polymodal.tasks import vqa
from polymodal.training.trainer import freeze

AUDIO = {"dim": 32, "layers": 1, "heads": 2, "n_mels": 40}
READER = {"name": "speech-reader", "config": {"audio": AUDIO, "dim": 16, "slots": 20, "width": 32, "layers": 1}}


def features(batch: int, frames: int) -> dict:
    mask = torch.zeros(batch, frames, dtype=torch.bool)
    for i in range(batch):
        mask[i, : frames - 7 * i] = True
    return {"features": torch.randn(batch, 40, frames), "mask": mask}


def test_reader_writes_slots_of_text_width_and_always_its_first_token():
    reader = ENCODERS.build(READER["name"], **READER["config"]).eval()
    out = reader(features(3, 50))
    assert out.tokens.shape == (3, 20, 16) and out.mask.shape == (3, 20) and out.mask[:, 0].all()
    empty = {"features": torch.zeros(1, 40, 8), "mask": torch.zeros(1, 8, dtype=torch.bool)}
    assert torch.isfinite(reader(empty).tokens).all()      # an empty clip: no NaN from attention


def test_reader_keeps_its_audio_encoder_as_it_came_unless_told():
    reader = ENCODERS.build(READER["name"], **READER["config"]).train()
    assert not reader.audio.training and not any(p.requires_grad for p in reader.audio.parameters())
    assert reader.pretrained_part is reader.audio
    trained = ENCODERS.build(READER["name"], **{**READER["config"], "train_audio": True}).train()
    assert trained.audio.training and all(p.requires_grad for p in trained.audio.parameters())


def test_distillation_is_zero_only_for_the_teachers_tokens_where_it_has_them():
    teacher = Embedding(torch.randn(2, 5, 16), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool(),
                        torch.zeros(2, 16))
    tokens = torch.nn.functional.pad(teacher.tokens, (0, 0, 0, 3)).clone()
    tokens[0, 3:] = 9.0                                  # where the teacher has padding: free
    right = torch.where(torch.nn.functional.pad(teacher.mask, (0, 3)), 30.0, -30.0)
    assert distillation_loss(tokens, right, teacher) < 1e-6
    assert distillation_loss(tokens, -right, teacher) > 1          # presence wrong
    tokens[1, 4] += 1.0
    assert distillation_loss(tokens, right, teacher) > 0.01        # a real token wrong
    with pytest.raises(ConfigError, match="slots"):
        distillation_loss(tokens[:, :4], right[:, :4], teacher)
    # a word head: its cross-entropy counts only where the teacher has tokens
    tokens[1, 4] -= 1.0
    ids = torch.tensor([[3, 4, 5, 0, 0], [3, 4, 6, 7, 8]])
    logits = torch.full((2, 8, 10), -30.0)
    logits[torch.arange(2)[:, None], torch.arange(5), ids] = 30.0
    logits[0, 4, 1] = 99.0                                 # a padding slot: free
    assert distillation_loss(tokens, right, teacher, logits, ids) < 1e-6
    logits[1, 2] = 0.0
    assert distillation_loss(tokens, right, teacher, logits, ids) > 0.1


def model_with_reader() -> ReaderModel:
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:train", 1, 2, spoken=True)
    from polymodal.processors.text import WordTokenizer
    texts, answers = vqa.vocabulary(examples)
    vocab = WordTokenizer.build(texts).vocab
    reader = {**READER, "config": {**READER["config"], "words": len(vocab)}}
    return ReaderModel(ReaderModelConfig.from_dict({
        "encoders": {"image": {"name": "cnn", "config": {"dim": 16, "channels": [8, 16]}},
                     "text": {"name": "transformer", "config": {"dim": 16, "layers": 1, "heads": 2,
                                                               "vocab": vocab}},
                     "audio": reader},
        "read_as": {"audio": "text"}, "fusion": "hybrid:cross-attention",
        "fusion_config": {"query": "text", "dim": 16, "layers": 1, "heads": 2}, "labels": answers,
        "task": "vqa"})), examples


def test_read_speech_goes_into_the_fusion_as_text():
    model, examples = model_with_reader()
    model.eval()
    assert model.fusion.modalities == ["image", "text"]          # no audio of its own
    batches = {ask_by: vqa.make_batch(model, examples, ask_by=ask_by)[0] for ask_by in ("text", "speech", "both")}
    for batch in batches.values():
        assert model(batch).shape == (40, len(model.config.labels))
    with pytest.raises(InputError, match="text"):
        model({"image": batches["text"]["image"], "image_index": batches["text"]["image_index"]})
    # typed and spoken together: the fusion reads both token sequences
    assert not torch.allclose(model(batches["both"]), model(batches["text"]))
    with pytest.raises(ConfigError, match="read_as"):
        ReaderModel(ReaderModelConfig.from_dict({**model.config.__dict__, "read_as": {"audio": "video"}}))
    wrong = {**model.config.encoders["audio"], "config": {**model.config.encoders["audio"]["config"], "words": 3}}
    with pytest.raises(ConfigError, match="names 3 words"):
        ReaderModel(ReaderModelConfig.from_dict({**model.config.__dict__,
                                               "encoders": {**model.config.encoders, "audio": wrong}}))


def test_read_words_enter_the_text_encoder_as_typed_words_do():
    """read_words: a reader that names the typed question's words for certain is answered
    exactly as the typed question is."""
    model, examples = model_with_reader()
    model.eval()
    text = model.encoders["text"]
    inputs = text.processor([q.text for q in examples[0].questions[:2]])
    one_hot = torch.nn.functional.one_hot(inputs["input_ids"], len(text.processor.vocab)).float()
    typed, read = text(inputs), text.encode_words(one_hot, inputs["attention_mask"])
    assert torch.allclose(typed.tokens, read.tokens, atol=1e-5) and torch.equal(typed.mask, read.mask)
    words_model = ReaderModel(ReaderModelConfig.from_dict({**model.config.__dict__, "read_words": True}))
    words_model.load_state_dict(model.state_dict())
    words_model.eval()
    batch = vqa.make_batch(words_model, examples, ask_by="speech")[0]
    typed_batch = vqa.make_batch(words_model, examples, ask_by="text")[0]
    ids = typed_batch["text"]
    reader = words_model.encoders["audio"]
    slots = reader.config["slots"]
    certain = torch.full((len(ids["input_ids"]), slots, len(text.processor.vocab)), -50.0)
    padded = torch.nn.functional.pad(ids["input_ids"], (0, slots - ids["input_ids"].shape[1]))
    certain.scatter_(2, padded[..., None], 50.0)
    there = torch.where(torch.nn.functional.pad(ids["attention_mask"], (0, slots - ids["attention_mask"].shape[1])) > 0, 9.0, -9.0)
    reader.read = lambda inputs, words=False: (torch.zeros(len(padded), slots, 16), there, certain)
    assert torch.allclose(words_model(batch), words_model(typed_batch), atol=1e-4)
    assert not torch.allclose(model(batch), words_model(batch), atol=1e-4)     # not its regressed tokens
    no_head = {**model.config.encoders["audio"], "config": {**model.config.encoders["audio"]["config"], "words": 0}}
    with pytest.raises(ConfigError, match="word head"):
        ReaderModel(ReaderModelConfig.from_dict({**model.config.__dict__, "read_words": True,
                                               "encoders": {**model.config.encoders, "audio": no_head}}))


def test_teaching_pulls_the_read_tokens_to_the_typed_ones():
    """Training batches hold each question typed and spoken; with text, fusion and head
    frozen only the reader learns, and its distillation loss falls."""
    model, examples = model_with_reader()
    freeze(model, ["image", "text", "fusion", "head"])
    learning = {n for n, p in model.named_parameters() if p.requires_grad}
    assert learning and all(n.startswith("encoders.audio.") and ".audio." not in n[len("encoders.audio"):]
                            for n in learning)
    rng = np.random.default_rng(0)
    task = vqa.VQATask(questions_per_image=4)
    batch, targets = task.make_batch(model, examples, rng)
    assert batch["teach"] and {"text", "audio"} <= set(batch)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 3e-3)
    model.train()
    first = None
    for _ in range(40):
        out = model(batch)
        loss = task.loss(out, targets)
        first = first if first is not None else out["read_loss"].item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert out["read_loss"].item() < 0.5 * first
    with pytest.raises(ConfigError, match="has no part sound"):
        freeze(model, ["sound"])


def test_spoken_questions_can_use_a_named_voice_set():
    ex, _ = vqa.load_examples("shapes:sort-of-clevr:train", 1, 1, spoken="train-accents")
    assert ex[0].questions[0].key[0] == "train-accents"
    with pytest.raises(InputError, match="no voice set"):
        vqa.load_examples("shapes:sort-of-clevr:train", 1, 1, spoken="everyone")


def test_shipped_spoken_model_answers_typed_questions_as_the_typed_model_does():
    """vqa-spoken keeps vqa-sort-of-clevr frozen inside: typed answers are identical."""
    spoken, typed = load_model("vqa-spoken"), load_model("vqa-sort-of-clevr")
    if not spoken.config.read_as:
        pytest.fail("the shipped vqa-spoken has no speech reader")
    examples, _ = vqa.load_examples("shapes:sort-of-clevr:test", 7, 4)
    _, a, pa = vqa.predict(spoken.eval(), examples, ask_by="text")
    _, b, pb = vqa.predict(typed.eval(), examples, ask_by="text")
    assert a == b and np.allclose(pa, pb, atol=1e-5)
    # its image encoder carries no flattening head: the fusion reads only tokens
    assert not hasattr(spoken.encoders["image"], "to_pooled")


def test_cnn_without_flat_pooling_pools_by_mean_and_has_no_head_weights():
    lean = ENCODERS.build("cnn", dim=16, channels=[8, 16], image_size=32, flat_pooled=False)
    full = ENCODERS.build("cnn", dim=16, channels=[8, 16], image_size=32)
    assert lean.config["flat_pooled"] is False and "flat_pooled" not in full.config
    assert sum(p.numel() for p in full.parameters()) - sum(p.numel() for p in lean.parameters()) > 1000
    out = lean(torch.rand(2, 3, 32, 32))
    assert torch.allclose(out.pooled, out.tokens.mean(1))
