"""Shared, session-scoped artefacts for the CLI tests: one tiny trained VQA model and one
small exported sort-of-clevr manifest, each made once through the real command line."""
import contextlib
import io
import json
import os
import tempfile

import pytest
import torch

from polymodal.cli.main import main

# Tiny models gain nothing from a second thread, and a busy machine makes OpenMP threads
# spin against each other: one thread keeps the suite's time steady.
torch.set_num_threads(1)
# Frozen encoders' embeddings go to a folder of this session's, not the user's cache.
os.environ["POLYMODAL_CACHE"] = tempfile.mkdtemp(prefix="polymodal-test-cache-")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """The run folder of `polymodal train` on 8 scenes, 1 epoch of 2 steps (a few seconds)."""
    run = tmp_path_factory.mktemp("run")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(["train", "--task", "vqa", "--data", "shapes:sort-of-clevr:train", "--n", "8", "--seed", "1",
                   "--fusion", "early:feature", "--epochs", "1", "--batch-size", "4", "--out", str(run)])
    assert rc == 0
    assert json.loads(stdout.getvalue())["step"] == 2          # 8 scenes / batch of 4
    for name in ("metrics.json", "metrics.csv", "training_curve.png"):
        assert (run / name).is_file(), name
    assert (run / "checkpoints" / "latest.json").is_file()
    return run


@pytest.fixture(scope="session")
def trained_model(trained_run):
    model = trained_run / "model"
    assert (model / "config.json").is_file() and (model / "model.safetensors").is_file()
    return model


@pytest.fixture(scope="session")
def shapes_manifest(tmp_path_factory):
    """manifest.jsonl (and images/) of 3 sort-of-clevr test scenes, seed 3."""
    out = tmp_path_factory.mktemp("shapes")
    assert main(["data", "shapes", "--preset", "sort-of-clevr", "--split", "test",
                 "--seed", "3", "--n", "3", "--out", str(out)]) == 0
    manifest = out / "manifest.jsonl"
    assert manifest.is_file()
    return manifest


TINY_BERT_WORDS = ("a the red blue green circle square round shape big small stock market fell rose "
                   "is on of and in to cat dog sat mat what object ? ##s ##ed up down left right").split()


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """A tiny random BERT with its tokenizer, saved in the Hugging Face layout: the real
    loading code path with no download."""
    from transformers import BertConfig, BertModel, BertTokenizer

    path = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_BERT_WORDS]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=37, max_position_embeddings=64,
                        pad_token_id=0)
    BertModel(config).save_pretrained(str(path))
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # from_pretrained(dir) reads vocab.txt in both transformers 4.x and 5.x (the 5.x
    # constructor takes `vocab=`, not `vocab_file=`), then writes the full tokenizer files.
    BertTokenizer.from_pretrained(str(path)).save_pretrained(str(path))
    return str(path)


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory):
    """A tiny random ViT with its image processor, in the Hugging Face layout."""
    from hf_tiny import build_vision_backbone
    return str(build_vision_backbone(tmp_path_factory.mktemp("tiny-vit"), "vit"))


@pytest.fixture(autouse=True)
def process_policies_reset():
    """A test that builds a server turns on worker processes for native engines and turns off
    keeping new embeddings (the server's policies are the process's); the next test starts
    from the defaults again."""
    yield
    from polymodal.encoders import embedding_cache
    from polymodal.native import worker
    worker.contain(False)
    embedding_cache.keep_new(True)
