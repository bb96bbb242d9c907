"""Pretrained image-text-to-text models (hf/chat.py) through polymodal's verbs and its
OpenAI-compatible API: tiny random LLaVA, LLaVA-NeXT, Idefics3, SmolVLM, Qwen2-VL, Qwen2.5-VL,
PaliGemma and Florence-2, built locally in Hugging Face layout (tests/hf_tiny.py) and loaded
through the real code path. Their words are random; what is checked is that each family's
chat template, processor and generate are driven right: batches answer as single requests,
streaming gives the whole reply, earlier turns reach the model, and each family's grounding
reply is read back as a box."""
import asyncio
import base64
import json

import hf_tiny
import numpy as np
import pytest
from PIL import Image as PILImage

from polymodal.cli.main import main
from polymodal.core.chat import Decoding, Message, Part, user
from polymodal.core.errors import InputError
from polymodal.hf.chat import florence_box, paligemma_box, thousandths_box
from polymodal.loading import load_model
from polymodal.server import ServerConfig, create_app

FAMILIES = ["llava", "llava_next", "idefics3", "smolvlm", "qwen2_vl", "qwen2_5_vl", "paligemma", "florence2"]
CONVERSING = {"llava", "llava_next", "idefics3", "smolvlm", "qwen2_vl", "qwen2_5_vl"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-chat")
    return {f: getattr(hf_tiny, f"build_{f}")(root / f) for f in FAMILIES}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-chat-images")
    rng = np.random.default_rng(0)
    paths = []
    for i, shape in enumerate([(64, 64), (48, 80)]):
        path = root / f"image{i}.png"
        PILImage.fromarray(rng.integers(0, 255, shape + (3,), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def array(path):
    return np.asarray(PILImage.open(path).convert("RGB"))


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_chats_in_batches_streams_and_keeps_earlier_turns(family, folders, images):
    model = load_model(str(folders[family]))
    assert model.config.task == "vlm" and model.family_name == family
    prompt = model.prompt_for("caption")
    chats = [[user(Part("image", array(p)), Part("text", prompt))] for p in images]
    decoding = Decoding(max_new_tokens=5)
    together = model.reply(chats, decoding)
    alone = [model.reply([c], decoding)[0] for c in chats]
    assert [r.text for r in together] == [r.text for r in alone]
    # no model may end at its first token here (hf_tiny): a reply that is one token long was cut
    # short when read back (Florence-2's decoder start token taken for its end)
    assert all(r.completion_tokens > 1 for r in together)
    assert all(r.completion_tokens <= 5 and r.prompt_tokens > 4 and 0 <= r.score <= 1 for r in together)
    drafts = list(model.drafts(chats[0], decoding))
    assert drafts[-1].text == alone[0].text and len(drafts) >= 2
    later = chats[0] + [Message("assistant", [Part("text", "a picture")]), user(Part("text", "more"))]
    if family in CONVERSING:
        assert model.reply([later], decoding)[0].prompt_tokens > together[0].prompt_tokens
    else:
        with pytest.raises(InputError, match="no earlier turns"):
            model.reply([later], decoding)
    with pytest.raises(InputError, match="takes no audio"):
        from polymodal.modalities import Audio
        model.reply([[user(Part("audio", Audio(np.zeros(1600, np.float32), 16000)))]], decoding)


@pytest.mark.parametrize("family", ["llava", "idefics3", "qwen2_vl", "paligemma", "florence2"])
def test_ask_and_caption_run_a_family(family, folders, images, capsys):
    image = str(images[0])
    capsys.readouterr()
    assert main(["caption", image, "--model", str(folders[family]), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"image", "caption", "score"}
    if family == "florence2":                 # asked by task tokens: it is not asked questions here
        assert main(["ask", image, "what is it?", "--model", str(folders[family])]) == 2
        assert "not asked for vqa" in capsys.readouterr().err
    else:
        assert main(["ask", image, "what is it?", "--model", str(folders[family]), "--json"]) == 0
        assert "answer" in json.loads(capsys.readouterr().out)
    if family == "llava":                     # eval vlm asks by polymodal's own prompts: refused in one line
        assert main(["eval", "vlm", "--model", str(folders[family]), "--data", "shapes:signs:test", "--n", "1"]) == 2
        assert "eval vqa, caption or ground" in capsys.readouterr().err
    if family in ("llava", "idefics3"):       # no grounding prompt: said so, exit 2
        assert main(["ground", image, "the cat", "--model", str(folders[family])]) == 2
        assert "not asked for ground" in capsys.readouterr().err
    else:
        assert main(["ground", image, "the cat", "--model", str(folders[family]), "--json"]) == 0
        assert len(json.loads(capsys.readouterr().out)["box"]) == 4


@pytest.mark.parametrize("family", ["llava", "smolvlm", "qwen2_vl", "paligemma"])
def test_the_chat_api_serves_a_family_streamed_and_whole(family, folders, images):
    import httpx
    name = str(folders[family])
    app = create_app(ServerConfig(models={"vlm": name}))
    url = "data:image/png;base64," + base64.b64encode(images[1].read_bytes()).decode()
    body = {"model": name, "max_tokens": 6, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "describe it"}]}]}

    async def send():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            whole = await c.post("/v1/chat/completions", json=body)
            streamed = await c.post("/v1/chat/completions", json={**body, "stream": True})
            deaf = await c.post("/v1/chat/completions", json={**body, "messages": [{"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}]})
            return whole, streamed, deaf
    whole, streamed, deaf = asyncio.run(send())
    assert whole.status_code == 200, whole.text
    events = [json.loads(line[6:]) for line in streamed.text.splitlines()
              if line.startswith("data: ") and line != "data: [DONE]"]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == whole.json()["choices"][0]["message"]["content"]
    assert streamed.text.rstrip().endswith("data: [DONE]")
    assert deaf.status_code == 400 and "takes no audio" in deaf.json()["error"]["message"]


def test_each_familys_grounding_reply_is_read_back_as_a_box():
    # PaliGemma: y0 x0 y1 x1 in 1024 bins; Florence-2: x0 y0 x1 y1 in 1000 bins; Qwen2-VL: thousandths
    assert paligemma_box("<loc0256><loc0512><loc0768><loc1023> cat", 200, 100) == [100.0, 25.0, 199.8046875, 75.0]
    assert florence_box("cat<loc_499><loc_0><loc_999><loc_249>", 100, 200) == [49.95, 0.1, 99.95, 49.9]
    assert thousandths_box("(100,200),(300,400)", 50, 10) == [5.0, 2.0, 15.0, 4.0]
    assert paligemma_box("no box here", 10, 10) is None and florence_box("<loc_1><loc_2>", 10, 10) is None


def test_a_stream_closed_early_stops_generating_and_beams_come_whole(folders, images):
    """A client that goes away closes the stream: generate, in its thread, stops at its next
    token instead of writing all of max_new_tokens. transformers streams no beam search: its
    reply comes as one draft, the same as reply's."""
    import time
    model = load_model(str(folders["llava"]))
    chat = [user(Part("image", array(images[0])), Part("text", "describe it"))]
    written, generate = [], model.model.generate

    def recording(*args, **kwargs):
        out = generate(*args, **kwargs)
        written.append(out.sequences.shape[1] - kwargs["input_ids"].shape[1])
        return out
    model.model.generate = recording
    drafts = model.drafts(chat, Decoding(max_new_tokens=2000))
    next(drafts), next(drafts)
    drafts.close()
    for _ in range(1200):                       # a wait for the thread to end, not a measure of speed
        if written:
            break
        time.sleep(0.1)
    assert written and written[0] < 100, written
    beams = Decoding(max_new_tokens=4, beams=2)
    assert [d.text for d in model.drafts(chat, beams)] == [model.reply([chat], beams)[0].text]
