"""Chatting with a vision-language model: the chat pipeline (streaming, spoken questions and
replies), `polymodal chat`, the tasks a chat model serves by prompt, and the OpenAI-compatible
API driven by OpenAI's own client against a live server. The model is a small untrained vlm:
what is tested is the machinery (streamed text equals the whole reply, batches answer as
single requests do, every bad request is a 4xx with OpenAI's error object), not its answers."""
import asyncio
import base64
import io
import json

import numpy as np
import pytest
from PIL import Image as PILImage
from server_fixture import live_server
from tiny_vlm import build_tiny_vlm

from polymodal.cli.main import main
from polymodal.core.chat import Decoding, Message, Part, user
from polymodal.core.errors import InputError
from polymodal.data.world import shapes
from polymodal.inference.chat import ChatPipeline, stream_pieces
from polymodal.inference.pipelines import load
from polymodal.loading import load_model
from polymodal.server import ServerConfig, create_app

openai = pytest.importorskip("openai")
QUESTION = "what shape is the red object ?"


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory):
    return build_tiny_vlm(tmp_path_factory.mktemp("chat") / "vlm")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    import soundfile as sf

    from polymodal.data.spoken.synthesis import RATE, speak
    from polymodal.speech.espeak import Voice
    folder = tmp_path_factory.mktemp("chat-media")
    scenes = shapes("sort-of-clevr", "test", 3, 3)
    for i, s in enumerate(scenes):
        PILImage.fromarray(s.image).save(folder / f"clevr{i}.png")
    sf.write(folder / "question.wav", speak(QUESTION, Voice()), RATE, subtype="PCM_16")
    return folder


def data_url(path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def image_message(media, text=QUESTION, i=0) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(media / f"clevr{i}.png")}},
                                         {"type": "text", "text": text}]}]


def test_streamed_pieces_join_to_the_reply_and_hold_back_what_may_start_a_stop_string():
    from polymodal.core.chat import Reply
    drafts = [Reply("a"), Reply("a red"), Reply("a red cir"), Reply("a red circle"), Reply("a red circle", finish="stop")]
    pieces = list(stream_pieces(iter(drafts), ()))
    assert "".join(pieces[:-1]) == "a red circle" and pieces[-1].text == "a red circle"
    # with a stop string "circle left", "a red circle" is not sent until the reply ends (it could be cut)
    drafts = [Reply("a red"), Reply("a red circle"), Reply("a red circle left"), Reply("a red")]
    pieces = list(stream_pieces(iter(drafts), ("circle left",)))
    assert "".join(pieces[:-1]) == "a red" and pieces[-1].text == "a red"


def test_the_chat_pipeline_streams_its_reply_and_hears_through_a_recogniser(vlm_dir, media):
    pipe = load("vlm", str(vlm_dir))
    image = np.asarray(PILImage.open(media / "clevr0.png").convert("RGB"))
    chat = [user(Part("image", image), Part("text", QUESTION))]
    for decoding in (Decoding(max_new_tokens=10), Decoding(max_new_tokens=10, beams=3),
                     Decoding(max_new_tokens=10, temperature=0.8, seed=3)):
        whole = pipe.reply([chat], decoding)[0]
        streamed = list(pipe.stream(chat, decoding))
        assert "".join(streamed[:-1]) == whole.text == streamed[-1].text
        assert whole.completion_tokens <= 10 and whole.prompt_tokens > 16
    # a two-turn chat: the earlier answer is read, not written again
    second = chat + [Message("assistant", [Part("text", "circle")]), user(Part("text", "caption"))]
    assert pipe.reply([second])[0].prompt_tokens > pipe.reply([chat])[0].prompt_tokens
    # a spoken question is written down by the model's recogniser (the spoken world's), then answered
    from polymodal.modalities import Audio
    spoken = [user(Part("image", image), Part("audio", Audio.open(media / "question.wav")))]
    heard = pipe.heard(spoken)[-1].parts[-1]
    assert heard.kind == "text" and len(heard.value.split()) >= 3
    assert pipe.reply([spoken])[0].text == pipe.reply([pipe.heard(spoken)])[0].text
    deaf = ChatPipeline(pipe.model, listener="none")
    with pytest.raises(InputError, match="takes no audio"):
        deaf.reply([spoken])
    with pytest.raises(InputError, match="unknown word 'zebra'"):
        pipe.reply([[user(Part("image", image), Part("text", "what shape is the zebra ?"))]])
    with pytest.raises(InputError, match="last message must be the user's"):
        pipe.reply([chat + [Message("assistant", [Part("text", "circle")])]])
    audio = pipe.speak("a red circle")
    assert audio.rate > 0 and len(audio.waveform) > 0.2 * audio.rate


def test_a_chat_model_serves_ask_caption_ground_and_eval_by_prompt(vlm_dir, media, capsys):
    image = str(media / "clevr0.png")
    for argv in (["ask", image, QUESTION], ["caption", image], ["ground", image, "the red circle"]):
        capsys.readouterr()
        assert main(argv + ["--model", str(vlm_dir), "--json"]) == 0, argv
        assert json.loads(capsys.readouterr().out.splitlines()[0])
    for task, metric in (("vqa", "relational_accuracy"), ("caption", "fact_f1"), ("ground", "accuracy_iou50")):
        capsys.readouterr()
        data = "shapes:sort-of-clevr:test" if task == "vqa" else "shapes:shapes:test"
        assert main(["eval", task, "--model", str(vlm_dir), "--data", data, "--n", "2", "--json"]) == 0
        assert metric in json.loads(capsys.readouterr().out)
    assert main(["eval", "align", "--model", str(vlm_dir), "--data", "shapes:shapes:test", "--n", "2"]) == 2
    assert "not for align" in capsys.readouterr().err


def test_polymodal_chat_answers_turns_in_order_and_says_the_last_reply(vlm_dir, media, capsys, tmp_path, monkeypatch):
    image = str(media / "clevr0.png")
    assert main(["chat", "--model", str(vlm_dir), "--image", image, "--say", QUESTION, "--say", "caption",
                 "--max-tokens", "6", "--json"]) == 0
    replies = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(replies) == 2 and all(r["completion_tokens"] <= 6 for r in replies)
    assert replies[1]["prompt_tokens"] > replies[0]["prompt_tokens"]       # the first turn is in the context
    out = tmp_path / "reply.wav"
    assert main(["chat", "--model", str(vlm_dir), "--image", image, "--audio", str(media / "question.wav"),
                 "--speak-out", str(out), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert len(said["heard"].split()) >= 3 and out.stat().st_size > 1000
    # the same spoken chat as a system: recogniser -> the vlm (by its vqa prompt) -> synthesiser
    assert main(["system", "run", "voice-assistant", "--model", f"vqa={vlm_dir}", "--image", image,
                 "--audio", str(media / "question.wav"), "--out", str(tmp_path / "system.wav"), "--json"]) == 0
    system = json.loads(capsys.readouterr().out)
    assert system["question"] == said["heard"] and (tmp_path / "system.wav").stat().st_size > 1000
    # typed on stdin: an unknown word is one error line, and the conversation goes on
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{QUESTION}\nwhat shape is the zebra ?\n/image {tmp_path}/gone.png\n"
                                                  f"caption\n\n"))
    assert main(["chat", "--model", str(vlm_dir), "--image", image, "--max-tokens", "4"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2 and "unknown word 'zebra'" in captured.err
    assert "gone.png" in captured.err and "Traceback" not in captured.err
    for argv, words in ((["--speak-out", str(tmp_path / "x.mp3"), "--say", "caption"], "must name a .wav"),
                        (["--say", "caption", "--temperature", "0.5", "--beams", "2"], "beams or a temperature"),
                        (["--audio", str(media / "question.wav"), "--listen", "none"], "takes no audio")):
        assert main(["chat", "--model", str(vlm_dir), "--image", image] + argv) == 2
        assert words in capsys.readouterr().err
    assert not (tmp_path / "x.mp3").exists()


def test_the_openai_client_gets_completions_and_streams_with_image_and_audio_parts(vlm_dir, media):
    config = ServerConfig(models={"vlm": str(vlm_dir)})
    with live_server(config) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        listed = client.models.list()
        assert str(vlm_dir) in [m.id for m in listed.data] and all(m.object == "model" for m in listed.data)
        spoken = {"type": "input_audio", "input_audio": {"data": base64.b64encode(
            (media / "question.wav").read_bytes()).decode(), "format": "wav"}}
        for messages in (image_message(media),
                         [{"role": "user", "content": image_message(media)[0]["content"][:1] + [spoken]}]):
            whole = client.chat.completions.create(model=str(vlm_dir), messages=messages, temperature=0, max_tokens=8)
            choice = whole.choices[0]
            assert choice.message.role == "assistant" and choice.finish_reason in ("stop", "length")
            assert whole.usage.completion_tokens <= 8 and whole.usage.prompt_tokens > 16
            stream = client.chat.completions.create(model=str(vlm_dir), messages=messages, temperature=0, max_tokens=8,
                                                    stream=True, stream_options={"include_usage": True})
            chunks = list(stream)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert text == choice.message.content
            assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == choice.finish_reason
            assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
        # a two-turn chat and a spoken reply
        turns = image_message(media) + [{"role": "assistant", "content": "circle"},
                                        {"role": "user", "content": "caption"}]
        said = client.chat.completions.create(model=str(vlm_dir), messages=turns, max_tokens=6,
                                              modalities=["text", "audio"], audio={"voice": "en-us", "format": "wav"})
        audio = said.choices[0].message.audio
        assert audio.transcript == said.choices[0].message.content
        assert base64.b64decode(audio.data)[:4] == b"RIFF"


def bad_requests(media, vlm_dir) -> list[tuple[dict, int, str]]:
    good = image_message(media)
    part = good[0]["content"]
    return [
        ({"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "x"}}]}]}, 400,
         "'video_url' is not supported"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,xx"}}]}]},
         400, "malformed data URL"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url",
                                                     "image_url": {"url": "data:image/png;base64,%%%"}}]}]},
         400, "not valid base64"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "/etc/passwd"}}]}]},
         400, "started with --files"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url",
                                                     "image_url": {"url": "https://example.com/a.png"}}]}]},
         400, "fetches nothing"),
        ({"messages": [{"role": "user", "content": part[:1] + [{"type": "input_audio", "input_audio": {
            "data": base64.b64encode(b"RIFF-not-audio").decode(), "format": "wav"}}]}]}, 400, "content[1]"),
        ({"messages": good, "frequency_penalty": 0.5}, 400, "frequency_penalty is not supported"),
        ({"messages": good, "tools": []}, 400, "Unrecognized request argument supplied: tools"),
        ({"messages": good, "n": 3}, 400, "one choice"),
        ({"messages": good, "temperature": 5}, 400, "temperature"),
        ({"messages": good, "temperature": 0.5, "beams": 2}, 400, "beams or a temperature"),
        ({"messages": good + [{"role": "assistant", "content": "x"}]}, 400, "last message must be the user's"),
        ({"messages": [{"role": "tool", "content": "x"}]}, 400, "'tool' is not supported"),
        ({"messages": [{"role": "user", "content": "what shape is the zebra ?"}]}, 400, "unknown word 'zebra'"),
        ({"messages": [{"role": ["user"], "content": "x"}]}, 400, "is not supported"),
        ({"messages": good, "modalities": [["audio"]]}, 400, "modalities"),
        ({"messages": [{"role": "user", "content": "what\x00 shape"}]}, 400, "NUL"),
        ({"messages": []}, 400, "non-empty list"),
        ({"messages": good, "stream": True, "modalities": ["text", "audio"]}, 400, "not streamed"),
        ({"messages": good, "stream": True, "max_tokens": 0}, 400, "max_new_tokens"),
        ({"messages": good, "model": "gpt-4o"}, 404, "does not exist"),
    ]


def test_bad_requests_get_openai_error_objects_never_a_5xx(vlm_dir, media):
    import httpx
    big = media / "big.png"
    PILImage.fromarray(np.zeros((300, 300, 3), np.uint8)).save(big)
    app = create_app(ServerConfig(models={"vlm": str(vlm_dir)}, max_pixels=200 * 200, chat_listener="none"))
    cases = bad_requests(media, vlm_dir) + [
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(big)}}]}]},
         400, "pixels"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {
            "data": base64.b64encode((media / "question.wav").read_bytes()).decode(), "format": "wav"}}]}]},
         400, "takes no audio")]

    async def send():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            out = [await c.post("/v1/chat/completions", json={"model": str(vlm_dir), **body}) for body, _, _ in cases]
            out.append(await c.post("/v1/chat/completions", content=b"{not json",
                                    headers={"content-type": "application/json"}))
            out.append(await c.post("/v1/chat/completions", content=b"x" * (20 * 2**20)))
            return out
    responses = asyncio.run(send())
    expected = [(status, words) for _, status, words in cases] + [(400, "not valid JSON"), (413, "over the limit")]
    for response, (status, words) in zip(responses, expected):
        error = response.json()["error"]
        assert response.status_code == status and words in error["message"], (words, response.text)
        assert set(error) == {"message", "type", "param", "code"}


def test_names_the_file_system_refuses_and_keys_that_are_not_unicode_get_400s(vlm_dir, media):
    """A path with NUL or a name too long for the file system (a server with --files), and an
    unknown key that is an unpaired surrogate (valid JSON, quoted back in the error)."""
    import httpx
    app = create_app(ServerConfig(models={"vlm": str(vlm_dir)}, files_root=str(media)))

    def asking(url):
        return {"model": str(vlm_dir), "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": QUESTION}]}]}

    async def send():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            urls = ("a\x00b.png", "x" * 5000, "../" * 12 + "etc/hostname", "clevr0.png", f"file://{media}/clevr0.png")
            out = [await c.post("/v1/chat/completions", json=asking(url)) for url in urls]
            raw = '{"model": "m", "\\ud800": 1, "messages": []}'.encode()
            out.append(await c.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"}))
            return out
    responses = asyncio.run(send())
    # a path out of the folder is none of the server's files; one in it, relative or absolute, is read
    assert [r.status_code for r in responses[2:5]] == [400, 200, 200], [r.text for r in responses[2:5]]
    for response, words in zip(responses[:3] + responses[5:], ["no such file"] * 3 + ["Unrecognized request argument"]):
        assert response.status_code == 400 and words in response.json()["error"]["message"], response.text


def test_concurrent_completions_share_batches_and_answer_as_alone(vlm_dir, media):
    import httpx
    app = create_app(ServerConfig(models={"vlm": str(vlm_dir)}, max_batch=8, max_wait_ms=100))
    bodies = [{"model": str(vlm_dir), "messages": image_message(media, q, i), "max_tokens": 8}
              for i in range(3) for q in (QUESTION, "caption")]

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            alone = [(await c.post("/v1/chat/completions", json=b)).json() for b in bodies]
            together = await asyncio.gather(*[c.post("/v1/chat/completions", json=b) for b in bodies])
            return alone, [r.json() for r in together], (await c.get("/metrics")).text
    alone, together, metrics = asyncio.run(burst())
    assert [t["choices"][0]["message"]["content"] for t in together] == \
        [a["choices"][0]["message"]["content"] for a in alone]
    sizes = [int(line.split('size="')[1].split('"')[0]) for line in metrics.splitlines()
             if line.startswith('polymodal_batches_total{endpoint="chat"')]
    assert max(sizes) > 1, metrics


def test_a_chat_model_is_loaded_for_the_tasks_it_serves_by_prompt_only(vlm_dir):
    model = load_model(str(vlm_dir), task="caption")
    assert model.config.task == "vlm"
    with pytest.raises(InputError, match="not for transcribe"):
        load_model(str(vlm_dir), task="transcribe")


def test_generated_chat_requests_never_get_a_5xx_or_a_traceback(vlm_dir):
    """Bodies from tests/media_strategies.chat_body (hypothesis, derandomized): wrong types
    everywhere, broken media in data URLs, paths and URLs, numbers out of range, unknown keys
    and parts. Each answer is a 2xx or an OpenAI error object with a 4xx."""
    import json as json_module

    from hypothesis import HealthCheck, given, settings
    from media_strategies import chat_body
    from starlette.testclient import TestClient
    client = TestClient(create_app(ServerConfig(models={"vlm": str(vlm_dir)}, max_pixels=200 * 200)))
    seen = []

    @settings(max_examples=120, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(body=chat_body(str(vlm_dir)))
    def send(body):
        asked = body.get("max_tokens", 64)
        if isinstance(asked, int) and not isinstance(asked, bool) and asked > 4:
            body["max_tokens"] = 4                  # bad values stay; good ones are kept short (time)
        response = client.post("/v1/chat/completions", content=json_module.dumps(body, allow_nan=True),
                                headers={"content-type": "application/json"})
        seen.append(response.status_code)
        assert response.status_code < 500 and "Traceback" not in response.text, response.text[:300]
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    send()
    assert {200, 400, 404} <= set(seen), seen
