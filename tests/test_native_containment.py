"""A native engine that crashes ends only its worker process: the call gets EngineCrashed
(HTTP 500 saying so), the next call gets a fresh worker, and the server goes on."""
import time

import httpx
import pytest

from polymodal.native import worker
from polymodal.native.worker import EngineCrashed, EngineTimeout, Native
from polymodal.server import ServerConfig
from polymodal.speech import espeak

OVERFLOWING_VOICE = "en-us+" + "a" * 40            # eSpeak NG aborts on a variant name this long


def test_a_real_espeak_abort_ends_only_the_worker():
    worker.contain(True)
    assert len(espeak.utter("hello").wave) > 1000
    with pytest.raises(EngineCrashed, match="Espeak crashed during utter .SIGABRT."):
        espeak._engine.call("utter", "hello", espeak.Voice("en-us", "a" * 40))     # the check bypassed
    start = time.perf_counter()
    assert len(espeak.utter("hello again").wave) > 1000                          # a fresh worker
    assert time.perf_counter() - start < 5


def test_checked_voices_never_reach_the_library():
    with pytest.raises(espeak.InputError, match="no variant"):
        espeak.utter("hello", espeak.Voice.parse(OVERFLOWING_VOICE))


def test_errors_raised_in_the_worker_keep_their_type_and_words():
    worker.contain(True)
    with pytest.raises(espeak.InputError, match="eSpeak NG has no voice 'nosuch'"):
        espeak._engine.call("utter", "hello", espeak.Voice("nosuch"))


def test_other_errors_in_the_worker_come_back_as_runtime_errors_and_it_goes_on():
    worker.contain(True)
    decoder = Native("json", "JSONDecoder")
    with pytest.raises(RuntimeError, match="JSONDecodeError: Expecting"):
        decoder.call("decode", "{")
    assert decoder.call("decode", "[1]") == [1]


def test_a_call_over_the_timeout_stops_the_worker():
    worker.contain(True, timeout_s=0.5)
    slow = Native("polymodal.speech.espeak", "Espeak")
    with pytest.raises(EngineTimeout):
        slow.call("utter", "word " * 20000, espeak.Voice())
    assert slow.worker.process is None


def test_the_server_answers_health_and_the_next_request_within_5_s_of_an_engine_abort():
    import unchecked_espeak
    from server_fixture import live_server
    with live_server(ServerConfig(models={"speak": unchecked_espeak.NAME})) as url:
        assert httpx.post(f"{url}/v1/speak", json={"text": "hello"}, timeout=60).status_code == 200
        crashed = httpx.post(f"{url}/v1/speak", json={"text": "hello", "voice": OVERFLOWING_VOICE}, timeout=60)
        start = time.perf_counter()
        assert crashed.status_code == 500
        assert "crashed" in crashed.json()["error"] and "restarted" in crashed.json()["error"]
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        again = httpx.post(f"{url}/v1/speak", json={"text": "hello"}, timeout=5)
        assert again.status_code == 200 and again.json()["seconds"] > 0.1
        assert time.perf_counter() - start < 5
