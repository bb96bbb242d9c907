"""The HTTP service takes clips: /v1/ask-video (a video QA model) and /v1/classify-video (a
video classifier, or X-CLIP zero-shot by labels); bad clips get a 4xx naming the field."""
from __future__ import annotations

import base64

import numpy as np
import pytest
from hf_tiny import VIDEO_LABELS, build_videomae, build_xclip
from video_clips import bad_clips, tiny_video_qa

from polymodal.modalities import Video


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from polymodal.server import ServerConfig, create_app
    root = tmp_path_factory.mktemp("video-server")
    models = {"video-qa": tiny_video_qa(root / "qa"), "video-classify": str(build_videomae(root / "videomae")),
              "video-align": str(build_xclip(root / "xclip"))}
    return TestClient(create_app(ServerConfig(models=models, contain_engines=False, max_video_seconds=30)))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    Video.open(np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8), rate=6).save(path)
    return path.read_bytes()


def test_ask_about_an_uploaded_clip(client, clip):
    upload = client.post("/v1/ask-video", files={"video": ("c.mp4", clip)}, data={"question": "does it move?"})
    as_json = client.post("/v1/ask-video", json={"video": base64.b64encode(clip).decode(), "question": "does it move?"})
    assert upload.status_code == as_json.status_code == 200
    assert upload.json() == as_json.json() and upload.json()["answer"] in ("yes", "no")


def test_classify_a_clip_by_its_classes_or_by_labels(client, clip):
    own = client.post("/v1/classify-video", files={"video": ("c.mp4", clip)}, data={"k": "2"}).json()
    assert len(own["labels"]) == 2 and own["labels"][0]["label"] in VIDEO_LABELS.values()
    zero = client.post("/v1/classify-video", json={"video": base64.b64encode(clip).decode(),
                                                   "labels": ["juggling", "skiing"]}).json()
    assert {x["label"] for x in zero["labels"]} == {"juggling", "skiing"}
    one = client.post("/v1/classify-video", json={"video": base64.b64encode(clip).decode(), "labels": "skiing"})
    assert one.status_code == 400 and "two labels" in one.json()["error"]


def test_bad_clips_get_a_4xx_naming_the_field(client):
    for label, (data, problem) in bad_clips().items():
        response = client.post("/v1/ask-video", files={"video": ("c.mp4", data)}, data={"question": "does it move?"})
        assert response.status_code in (400, 413), (label, response.text)
        message = response.json()["error"]
        problem = "is required" if not data else problem                  # an empty upload is no upload
        assert message.startswith("field video") and problem in message, (label, message)
        if label in ("4 hours", "8K frames"):
            assert response.status_code == 413
    assert client.get("/health").status_code == 200
