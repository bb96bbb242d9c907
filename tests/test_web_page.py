"""The web page in headless Chromium (Debian's, driven by Playwright): pick an image, see its
caption, the grounding box drawn over it, an answer, and the server's error words."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from server_fixture import live_server
from tiny_vlm import build_tiny_vlm
from video_clips import tiny_video_qa

from polymodal.data import shapes
from polymodal.loading import load_model
from polymodal.server import ServerConfig

CHROMIUM = Path("/usr/bin/chromium")
# Chromium's background services try the network, which these machines refuse
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]   # a microphone that beeps


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory):
    return build_tiny_vlm(tmp_path_factory.mktemp("page-vlm") / "vlm")


@pytest.fixture(scope="module")
def video_qa_dir(tmp_path_factory):
    return tiny_video_qa(tmp_path_factory.mktemp("page-video-qa") / "video-qa")


@pytest.fixture(scope="module")
def page(vlm_dir, video_qa_dir):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is needed for the browser tests: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with live_server(ServerConfig(models={"vlm": str(vlm_dir), "video-qa": video_qa_dir})) as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.goto(url)
        yield tab
        browser.close()


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    s = shapes("shapes", "test", 11, 1)[0]
    path = tmp_path_factory.mktemp("page") / "scene.png"
    Image.fromarray(s.image).save(path)
    return s, path


def test_caption_and_grounding_box(page, scene, tmp_path):
    s, path = scene
    page.set_input_files("#file", str(path))
    page.click("#caption-run")
    page.wait_for_function("document.getElementById('caption-result').textContent.length > 0")
    assert page.text_content("#caption-result") == s.caption
    target = s.phrases[0]
    page.fill("#phrase", target.text)
    page.click("#ground-run")
    page.wait_for_selector("#box", state="visible")
    # the box drawn over the image lies where the object is (the preview is scaled 5x)
    box = page.eval_on_selector("#box", "b => [b.offsetLeft, b.offsetTop, b.offsetWidth, b.offsetHeight]")
    scale = page.eval_on_selector("#preview", "i => i.clientWidth / i.naturalWidth")
    x0, y0, x1, y1 = target.box
    assert abs(box[0] / scale - x0) < 4 and abs(box[1] / scale - y0) < 4, (box, target.box)
    assert abs((box[0] + box[2]) / scale - x1) < 5 and abs((box[1] + box[3]) / scale - y1) < 5
    page.screenshot(path=str(tmp_path / "page.png"))
    assert page.is_hidden("#error")


def test_typed_question(page, tmp_path):
    s = shapes("sort-of-clevr", "test", 11, 1)[0]
    path = tmp_path / "clevr.png"
    Image.fromarray(s.image).save(path)
    page.set_input_files("#file", str(path))
    question = s.questions[0]
    page.fill("#question", question.question)
    page.click("#ask-run")
    page.wait_for_function("document.getElementById('answer-result').textContent.includes('(')")
    assert page.text_content("#answer-result").split(" (")[0] == question.answer


def test_classification(page, scene):
    s, path = scene
    page.set_input_files("#file", str(path))
    colour, shape = s.objects[0].colour, s.objects[0].shape
    absent = next(f"{c} {k}" for c in ("red", "green", "blue", "gray") for k in ("circle", "square")
                  if all((o.colour, o.shape) != (c, k) for o in s.objects))
    page.fill("#labels", f"{colour} {shape}, {absent}")
    page.click("#classify-run")
    page.wait_for_function("document.getElementById('classify-result').textContent.includes('%')")
    assert page.text_content("#classify-result").startswith(f"{colour} {shape}")


def test_errors_are_shown_in_the_servers_words(page, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))        # a PNG header and nothing readable
    page.set_input_files("#file", str(bad))
    page.click("#caption-run")
    page.wait_for_selector("#error", state="visible")
    assert "field image: not a readable image" in page.text_content("#error")
    page.fill("#prompt", "a purple circle")                  # the shipped generator's words lack purple
    page.click("#generate-run")
    page.wait_for_function("document.getElementById('error').textContent.includes('purple')")
    assert "unknown word 'purple'" in page.text_content("#error")


def test_speech_comes_back_as_a_player(page):
    page.fill("#speak-text", "a red circle")
    page.click("#speak-run")
    page.wait_for_selector("#speak-audio")
    src = page.get_attribute("#speak-audio", "src")
    assert src.startswith("data:audio/wav;base64,") and len(src) > 1000
    assert np.isfinite(page.eval_on_selector("#speak-audio", "a => a.duration || 0"))


def test_a_recorded_question_is_answered(page, tmp_path):
    """The fake microphone's beeps, recorded, encoded as WAV in the page and sent with the
    image: the server's model that hears (vqa-spoken) answers, which proves the recording
    arrived as audio it could read (what it answers to a beep does not matter)."""
    s = shapes("sort-of-clevr", "test", 12, 1)[0]
    path = tmp_path / "clevr.png"
    Image.fromarray(s.image).save(path)
    page.set_input_files("#file", str(path))
    page.eval_on_selector("#answer-result", "e => e.textContent = ''")
    page.click("#record")
    page.wait_for_selector("#record.recording", timeout=30000)   # the microphone is open
    page.wait_for_timeout(1500)
    page.click("#record")
    page.wait_for_function("document.getElementById('answer-result').textContent.includes('(')"
                           " || !document.getElementById('error').hidden", timeout=60000)
    assert page.is_hidden("#error"), page.text_content("#error")
    answer = page.text_content("#answer-result").split(" (")[0]
    assert answer in load_model("vqa-spoken").config.labels


def test_a_chat_streams_its_replies_keeps_the_conversation_and_says_them(page, vlm_dir, tmp_path):
    """Typed messages about the image, the reply streamed in; the second turn is answered with
    the first in its context, as the API answers the same conversation; replies can be spoken."""
    from polymodal.core.chat import Decoding, Message, Part
    from polymodal.inference.pipelines import load
    s = shapes("sort-of-clevr", "test", 13, 1)[0]
    path = tmp_path / "chat.png"
    Image.fromarray(s.image).save(path)
    page.set_input_files("#file", str(path))
    question = "what shape is the red object ?"
    page.fill("#chat-input", question)
    page.click("#chat-send")
    page.wait_for_function("document.querySelectorAll('.turn.assistant').length === 1 && "
                           "!document.getElementById('chat-send').disabled", timeout=60000)
    page.fill("#chat-input", "caption")
    page.click("#chat-send")
    page.wait_for_function("document.querySelectorAll('.turn.assistant').length === 2 && "
                           "!document.getElementById('chat-send').disabled", timeout=60000)
    assert page.is_hidden("#error"), page.text_content("#error")
    shown = [t.text_content() for t in page.query_selector_all(".turn.assistant")]
    chat = load("vlm", str(vlm_dir))
    image = np.asarray(Image.open(path).convert("RGB"))
    first = [Message("user", [Part("image", image), Part("text", question)])]
    expected = chat.reply([first], Decoding(max_new_tokens=64))[0].text
    second = first + [Message("assistant", [Part("text", expected)]), Message("user", [Part("text", "caption")])]
    assert shown == [expected, chat.reply([second], Decoding(max_new_tokens=64))[0].text]
    # a word the model does not know: the server's words, and the conversation stays as it was
    page.fill("#chat-input", "what shape is the zebra ?")
    page.click("#chat-send")
    page.wait_for_selector("#error:not([hidden])", timeout=60000)
    assert "unknown word 'zebra'" in page.text_content("#error")
    assert len(page.query_selector_all(".turn.assistant")) == 2
    page.check("#chat-speak")
    page.fill("#chat-input", "caption")
    page.click("#chat-send")
    page.wait_for_selector(".chat-audio", timeout=60000)
    assert page.get_attribute(".chat-audio", "src").startswith("data:audio/wav;base64,")


def test_a_question_about_a_clip(page, tmp_path):
    from polymodal.modalities import Video
    clip = shapes("motion", "test", 11, 1)[0]
    Video.open(clip.frames, rate=8).save(tmp_path / "clip.mp4")
    assert page.is_disabled("#clip-ask")                        # no clip yet
    page.set_input_files("#clip-file", str(tmp_path / "clip.mp4"))
    page.fill("#clip-question", "does it move?")
    page.click("#clip-ask")
    page.wait_for_function("document.getElementById('clip-result').textContent.includes('(')")
    assert page.text_content("#clip-result").split(" (")[0] in ("yes", "no")   # the tiny model's answers
    assert page.is_hidden("#error")
    page.set_input_files("#clip-file", {"name": "notes.mp4", "mimeType": "video/mp4", "buffer": b"not a video"})
    page.click("#clip-ask")
    page.wait_for_selector("#error", state="visible")
    assert "field video: not a readable video" in page.text_content("#error")
