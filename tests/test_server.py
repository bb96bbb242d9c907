"""The HTTP service: every CLI task verb has an endpoint giving the same result for the same
input; bad input of every kind is a 4xx with a message naming it; batching, limits,
timeouts, the memory budget and fuzzing from the schema."""
import asyncio
import base64
import io
import json
import socket
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from polymodal.cli.main import main
from polymodal.data import shapes
from polymodal.server import ServerConfig, create_app
from polymodal.server.batching import Batcher, QueueFull

TINY_DIFFUSION = {"channels": [8, 16, 16], "attention_levels": [False, False, False], "text_dim": 16, "text_layers": 1}


def png(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def wav(seconds=1.0, rate=16000, channels=1) -> bytes:
    import soundfile as sf
    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t)
    sf.write(buf, np.stack([wave] * channels, 1) if channels > 1 else wave, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def generator_dir(tmp_path_factory):
    from polymodal.training import run as training_run
    out = tmp_path_factory.mktemp("server-generate")
    recipe = {"task": "generate", "data": {"spec": "shapes:shapes:train", "seed": 1, "n": 8},
              "model": TINY_DIFFUSION, "train": {"epochs": 1, "batch_size": 8, "seed": 1}}
    training_run.run(recipe, out)
    return out / "model"


@pytest.fixture(scope="module")
def client(generator_dir):
    app = create_app(ServerConfig(models={"generate": str(generator_dir), "transcribe": "pocketsphinx"}))
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("server-inputs")
    scene = shapes("shapes", "test", 3, 1)[0]
    clevr = shapes("sort-of-clevr", "test", 3, 1)[0]
    (folder / "scene.png").write_bytes(png(scene.image))
    (folder / "clevr.png").write_bytes(png(clevr.image))
    import soundfile as sf

    from polymodal.data.spoken.synthesis import RATE, speak
    from polymodal.speech.espeak import Voice
    sf.write(folder / "speech.wav", speak("is there a red circle", Voice()), RATE, subtype="PCM_16")
    return {"folder": folder, "scene": scene, "clevr": clevr}


def cli_json(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def upload(path) -> dict:
    return {"image": (path.name, path.read_bytes(), "image/png")}


def test_caption_ask_ground_classify_embed_match_the_cli(client, files, capsys):
    scene_png, clevr_png = files["folder"] / "scene.png", files["folder"] / "clevr.png"
    cli = cli_json(capsys, "caption", str(scene_png), "--json")
    web = client.post("/v1/caption", files=upload(scene_png)).json()
    assert (web["caption"], web["score"]) == (cli["caption"], cli["score"])

    question = files["clevr"].questions[0].question
    cli = cli_json(capsys, "ask", str(clevr_png), question, "--json")
    web = client.post("/v1/ask", data={"question": question}, files=upload(clevr_png)).json()
    assert (web["answer"], web["score"]) == (cli["answer"], cli["score"])

    # a spoken question goes to the model that hears (vqa-spoken), as `ask --audio` does
    speech = files["folder"] / "speech.wav"
    cli = cli_json(capsys, "ask", str(clevr_png), "--audio", str(speech), "--json")
    web = client.post("/v1/ask", files={**upload(clevr_png), "audio": ("q.wav", speech.read_bytes(), "audio/wav")})
    assert (web.json()["answer"], web.json()["score"]) == (cli["answer"], cli["score"])
    assert client.get("/v1/pool").json()["configured"]["vqa (spoken)"] == "vqa-spoken"

    phrase = files["scene"].phrases[0].text
    cli = cli_json(capsys, "ground", str(scene_png), phrase, "--json")
    web = client.post("/v1/ground", json={"image": base64.b64encode(scene_png.read_bytes()).decode(),
                                          "phrase": phrase}).json()
    assert web == {"box": cli["box"], "score": cli["score"]}

    cli = cli_json(capsys, "classify", str(scene_png), "--labels", "red circle,blue square,gray triangle", "--json")
    web = client.post("/v1/classify", data={"labels": "red circle,blue square,gray triangle"},
                      files=upload(scene_png)).json()
    assert (web["label"], web["score"]) == (cli["label"], cli["score"])

    support = files["folder"] / "support"
    scenes = shapes("shapes", "test", 9, 40)
    singles = {"first": [s for s in scenes if len(s.objects) == 1][:2], "many": [s for s in scenes if len(s.objects) > 2][:2]}
    for label, chosen in singles.items():
        (support / label).mkdir(parents=True, exist_ok=True)
        for i, s in enumerate(chosen):
            (support / label / f"{i}.png").write_bytes(png(s.image))
    for method, invariant in (("prototype", []), ("probe", ["--invariant", "colour,mirror"])):
        cli = cli_json(capsys, "classify", str(scene_png), "--examples", str(support), "--method", method, *invariant,
                       "--json")
        parts = [("examples", (f"{k}.png", (support / label / f"{i}.png").read_bytes()))
                 for k, (label, i) in enumerate((lb, i) for lb in singles for i in range(2))]
        data = {"example_labels": "first,first,many,many", "method": method}
        if invariant:
            data["invariant"] = invariant[1]
        web = client.post("/v1/classify", data=data, files=[*parts, ("image", ("s.png", scene_png.read_bytes()))])
        assert web.status_code == 200 and web.json() == {"label": cli["label"]}, web.text
    r = client.post("/v1/classify", data={"example_labels": "first"}, files=[parts[0], ("image", ("s.png", b"x"))])
    assert r.status_code == 400

    out = files["folder"] / "vectors.npz"
    assert main(["embed", str(scene_png), "--out", str(out)]) == 0
    from polymodal.cli.commands.align import load_vectors
    vectors, _, _ = load_vectors(out)
    web = client.post("/v1/embed", files=upload(scene_png)).json()
    assert np.allclose(web["vector"], vectors[0], atol=1e-5)


def test_search_matches_the_cli(client, files, capsys, tmp_path):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    scenes = shapes("shapes", "test", 8, 6)
    for i, s in enumerate(scenes):
        (gallery / f"{i}.png").write_bytes(png(s.image))
    query = scenes[2].caption
    capsys.readouterr()
    assert main(["search", query, "--gallery", str(gallery), "--k", "3", "--json"]) == 0
    cli = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    parts = [("gallery", (f"{i}.png", (gallery / f"{i}.png").read_bytes(), "image/png")) for i in range(6)]
    web = client.post("/v1/search", data={"text": query, "k": "3"}, files=parts).json()["results"]
    assert [f"{gallery}/{r['index']}.png" for r in web] == [c["image"] for c in cli]
    assert [r["score"] for r in web] == [c["score"] for c in cli]
    as_json = client.post("/v1/search", json={"text": query, "k": 3, "gallery": [
        base64.b64encode((gallery / f"{i}.png").read_bytes()).decode() for i in range(6)]}).json()["results"]
    assert as_json == web
    r = client.post("/v1/search", json={"text": query, "gallery": []})         # found by the fuzzer: was a 500
    assert r.status_code == 400 and "field gallery is required" in r.json()["error"]
    r = client.post("/v1/search", data={"text": query}, files=[("gallery", ("a.png", b"junk"))])
    assert r.status_code == 400 and "field gallery[0]" in r.json()["error"]
    r = client.post("/v1/caption", files=[("image", ("a.png", png(scenes[0].image))), ("image", ("b.png", b"x"))])
    assert r.status_code == 400 and "given more than once" in r.json()["error"]


def test_generate_edit_transcribe_speak_match_the_cli(client, files, generator_dir, capsys, tmp_path):
    assert main(["generate", "a red circle", "--model", str(generator_dir), "--seed", "4", "--steps", "3",
                 "--out", str(tmp_path / "g.png")]) == 0
    web = client.post("/v1/generate", json={"prompt": "a red circle", "seed": 4, "steps": 3}).json()
    drawn = np.asarray(Image.open(io.BytesIO(base64.b64decode(web["image"]))))
    assert np.array_equal(drawn, np.asarray(Image.open(tmp_path / "g.png")))

    scene_png = files["folder"] / "scene.png"
    target = files["scene"].objects[0]
    instruction = f"remove the {target.colour} {target.shape}"
    assert main(["edit", str(scene_png), instruction, "--model", str(generator_dir), "--steps", "3",
                 "--out", str(tmp_path / "e.png")]) == 0
    web = client.post("/v1/edit", data={"instruction": instruction, "steps": "3"}, files=upload(scene_png)).json()
    edited = np.asarray(Image.open(io.BytesIO(base64.b64decode(web["image"]))))
    assert np.array_equal(edited, np.asarray(Image.open(tmp_path / "e.png")))

    speech = files["folder"] / "speech.wav"
    cli = cli_json(capsys, "transcribe", str(speech), "--model", "pocketsphinx", "--json")
    web = client.post("/v1/transcribe", files={"audio": ("q.wav", speech.read_bytes(), "audio/wav")}).json()
    assert web == {"text": cli["text"], "score": cli["score"]}

    assert main(["speak", "a blue square", "--out", str(tmp_path / "s.wav")]) == 0
    web = client.post("/v1/speak", json={"text": "a blue square"}).json()
    import soundfile as sf
    said, rate = sf.read(io.BytesIO(base64.b64decode(web["audio"])))
    cli_said, cli_rate = sf.read(tmp_path / "s.wav")
    # eSpeak's samples differ slightly from call to call; the utterance is the same length
    assert rate == cli_rate == web["rate"] and abs(len(said) - len(cli_said)) < 0.05 * len(cli_said)


def test_systems_match_system_run(client, files, capsys):
    scene_png = files["folder"] / "scene.png"
    target = f"{files['scene'].objects[0].colour} {files['scene'].objects[0].shape}"
    cli = cli_json(capsys, "system", "run", "detect", "--image", str(scene_png), "--text", f"labels={target}", "--json")
    web = client.post("/v1/systems/detect", data={"labels": target}, files=upload(scene_png))
    assert web.status_code == 200 and web.json() == cli
    assert client.get("/v1/systems").json()["voice-assistant"]["inputs"] == {"image": "image", "audio": "audio"}


@pytest.mark.parametrize("request_kwargs, status, words", [
    ({"files": {"image": ("x.png", b"not an image at all", "image/png")}}, 400, "field image: not a readable image"),
    ({"files": {"image": ("x.png", png(np.zeros((8, 8, 3), np.uint8))[:30], "image/png")}}, 400, "field image"),
    ({"json": {"image": "%%%"}}, 400, "field image: not valid base64"),
    ({"json": {}}, 400, "field image is required"),
    ({"json": ["a list"]}, 400, "a JSON object of fields"),
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 400, "send multipart/form-data or application/json"),
    ({"json": {"image": "", "colour": "red"}}, 400, "unknown field: colour"),
    ({"json": {"image": base64.b64encode(png(np.zeros((3000, 2000, 3), np.uint8))).decode()}}, 413,
     "over the limit of 4000000"),
])
def test_bad_caption_requests_get_a_4xx_naming_the_input(client, request_kwargs, status, words):
    r = client.post("/v1/caption", **request_kwargs)
    assert r.status_code == status and words in r.json()["error"], r.text


@pytest.mark.parametrize("endpoint, request_kwargs, status, words", [
    ("transcribe", {"files": {"audio": ("a.wav", wav()[:100], "audio/wav")}}, 400, "field audio"),
    ("transcribe", {"files": {"audio": ("a.wav", png(np.zeros((8, 8, 3), np.uint8)), "audio/wav")}}, 400, "field audio"),
    ("transcribe", {"files": {"audio": ("a.wav", wav(seconds=61, rate=8000), "audio/wav")}}, 413, "over the limit of 60 s"),
    ("caption", {"data": {"beams": "99"}, "files": {"image": ("a.png", png(np.zeros((8, 8, 3), np.uint8)))}}, 400,
     "field beams: 99 is outside"),
    ("generate", {"json": {"prompt": "a red circle", "steps": 2.5}}, 400, "field steps: 2.5 is not an integer"),
    ("generate", {"json": {"prompt": "a purple hexagon"}}, 400, "purple"),
    ("generate", {"json": {"prompt": "a red circle", "scheduler": "euler"}}, 400, "field scheduler"),
    ("edit", {"data": {"instruction": "paint it black"}, "files": {"image": ("a.png", png(np.zeros((64, 64, 3), np.uint8)))}},
     400, "paint it black"),
    ("classify", {"data": {"labels": "only one"}, "files": {"image": ("a.png", png(np.zeros((8, 8, 3), np.uint8)))}},
     400, "at least two labels"),
    ("ask", {"files": {"image": ("a.png", png(np.zeros((8, 8, 3), np.uint8)))}}, 400, "question or audio is required"),
    ("embed", {"json": {"text": "a red circle", "image": base64.b64encode(png(np.zeros((8, 8, 3), np.uint8))).decode()}},
     400, "one of the fields image or text"),
    ("speak", {"json": {"text": "x" * 3000}}, 400, "over the limit of 2000"),
])
def test_bad_requests_get_a_4xx_naming_the_input(client, endpoint, request_kwargs, status, words):
    r = client.post(f"/v1/{endpoint}", **request_kwargs)
    assert r.status_code == status and words in r.json()["error"], r.text


def test_oversize_upload_is_refused_before_it_is_read():
    app = create_app(ServerConfig(max_upload_bytes=1000))
    with TestClient(app) as c:
        r = c.post("/v1/caption", files={"image": ("big.png", b"x" * 5000, "image/png")})
        assert r.status_code == 413 and "over the limit" in r.json()["error"]
        assert c.get("/health").json()["status"] == "ok"


def test_concurrent_requests_share_batches_and_get_their_own_answers(files):
    import httpx
    app = create_app(ServerConfig(max_batch=8, max_wait_ms=50))
    images = [png(s.image) for s in shapes("shapes", "test", 5, 8)]

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            one_by_one = [(await c.post("/v1/caption", files={"image": ("a.png", im)})).json() for im in images]
            together = await asyncio.gather(*[c.post("/v1/caption", files={"image": ("a.png", im)}) for im in images])
            # one bad image in a burst fails alone
            mixed = await asyncio.gather(*[c.post("/v1/caption", files={"image": ("a.png", im)})
                                           for im in images[:3] + [b"broken"]])
            metrics = (await c.get("/metrics")).text
        return one_by_one, [r.json() for r in together], mixed, metrics
    one_by_one, together, mixed, metrics = asyncio.run(burst())
    assert [t["caption"] for t in together] == [o["caption"] for o in one_by_one]
    sizes = [int(line.split('size="')[1].split('"')[0]) for line in metrics.splitlines()
             if line.startswith('polymodal_batches_total{endpoint="caption"')]
    assert max(sizes) > 1, metrics
    assert [r.status_code for r in mixed] == [200, 200, 200, 400]


def test_an_item_that_fails_inside_a_batch_fails_alone():
    from polymodal.server.batching import run_isolated

    def run_batch(items):
        if "bad" in items:
            raise ValueError("bad item")
        return [i.upper() for i in items]
    results = run_isolated(run_batch, ["a", "bad", "c"])
    assert results[0] == "A" and results[2] == "C" and isinstance(results[1], ValueError)


def test_a_full_queue_answers_429():
    from concurrent.futures import ThreadPoolExecutor

    async def scenario():
        batcher = Batcher(lambda items: (time.sleep(0.2), items)[1], ThreadPoolExecutor(1), max_batch=1,
                          max_wait_s=0, max_queue=1)
        first = asyncio.create_task(batcher.submit("a"))
        await asyncio.sleep(0.05)                 # "a" is running; the queue is empty
        second = asyncio.create_task(batcher.submit("b"))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull):
            await batcher.submit("c")
        return await first, await second
    assert asyncio.run(scenario()) == ("a", "b")


def test_requests_over_the_timeout_get_504_and_the_server_goes_on():
    app = create_app(ServerConfig(request_timeout_s=1e-3))
    with TestClient(app) as c:
        r = c.post("/v1/embed", json={"text": "a red circle"})
        assert r.status_code == 504 and "timeout" in r.json()["error"]
        assert c.get("/health").status_code == 200


def test_a_stalled_upload_gets_408_and_the_server_keeps_serving():
    import httpx
    from server_fixture import live_server
    with live_server(ServerConfig(body_timeout_s=0.5)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b"POST /v1/caption HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"image\": \"")
            reply = b""
            while chunk := s.recv(4096):             # the server closes the connection after its answer
                reply += chunk
            reply = reply.decode()
        assert reply.startswith("HTTP/1.1 408") and "stalled" in reply
        assert httpx.get(f"{url}/health").status_code == 200


def test_the_memory_budget_unloads_the_least_recently_used_model():
    from polymodal.server.models import ModelPool
    pool = ModelPool({}, budget_bytes=1)             # every model is over it: one at a time
    pool.get("caption")
    pool.get("ground")
    assert list(pool.loaded) == ["ground"]
    described = pool.describe()
    assert described["used_bytes"] > 0 and "caption" in described["configured"]


def test_openapi_describes_every_endpoint_both_ways(client):
    schema = client.get("/openapi.json").json()
    from polymodal.server.endpoints import ENDPOINTS
    for name in ENDPOINTS.names():
        body = schema["paths"][f"/v1/{name}"]["post"]["requestBody"]["content"]
        assert set(body) == {"multipart/form-data", "application/json"}
    assert "/v1/systems/voice-assistant" in schema["paths"]
    assert client.get("/health").json()["status"] == "ok"
    assert "polymodal_requests_total" in client.get("/metrics").text
    assert "<title>polymodal</title>" in client.get("/").text


def fuzz_server(examples: int, media_examples: int) -> dict:
    """A run of benchmarks/fuzz_server.py (hypothesis with a fixed seed: derandomized)."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).parent.parent / "benchmarks" / "fuzz_server.py"
    spec = importlib.util.spec_from_file_location("fuzz_server", path)
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    return fuzz.fuzz(examples=examples, media_examples=media_examples)


def test_fuzzing_from_the_schema_and_with_media_gives_no_5xx():
    """A short run of benchmarks/fuzz_server.py; `make test-slow` runs a longer one."""
    from collections import Counter
    report = fuzz_server(examples=4, media_examples=10)
    assert report["requests"] > 150
    assert report["server_errors"] == 0 and report["exceptions"] == 0, report["failures"]
    assert not report["failures"], report["failures"]          # no traceback, nothing slower than SLOW_S
    assert report["alive_after"]
    assert Counter(report["statuses"])["200"] > 0          # some requests were valid and answered


@pytest.mark.slow
def test_fuzzing_the_server_longer():
    report = fuzz_server(examples=60, media_examples=150)
    assert report["requests"] > 2500
    assert report["server_errors"] == 0 and report["exceptions"] == 0, report["failures"]
    assert not report["failures"] and report["alive_after"], report["failures"]


def test_batchers_made_for_request_keys_do_not_pile_up():
    import httpx

    from polymodal.server.app import MAX_BATCHERS
    app = create_app(ServerConfig())

    async def many_voices():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            for i in range(MAX_BATCHERS + 10):      # each voice name is a batch key; most are refused
                await c.post("/v1/speak", json={"text": "a red circle", "voice": f"nobody-{i}"})
    asyncio.run(many_voices())
    assert len(app.state.service.batchers) <= MAX_BATCHERS
