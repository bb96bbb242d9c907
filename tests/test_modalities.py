"""Image, Text and Audio values: what each input kind opens to, and how each bad input fails."""
from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image as PILImage

from polymodal.core.errors import ConfigError, InputError
from polymodal.modalities import DEFAULT_LIMITS, Audio, Image, Limits, Text

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, (12, 16, 3), dtype=np.uint8)  # H=12, W=16


def png_bytes(array: np.ndarray = PIXELS) -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(array).save(out, "PNG")
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a size its (empty) pixel data never delivers: costs nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def sine(freq: float = 440.0, rate: int = 16000, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(waveform: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> bytes:
    out = io.BytesIO()
    sf.write(out, waveform, rate, format="WAV", subtype=subtype)
    return out.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def assert_input_error(open_it, name: str, *words: str) -> str:
    """Every InputError: one line, starting with the input's name, saying what is wrong."""
    with pytest.raises(InputError) as caught:
        open_it()
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(f"{name}: "), message
    for word in words:
        assert word in message, message
    return message


# --- Image: inputs that open ---------------------------------------------------------------


def test_image_from_path_str_path_and_bytes(tmp_path):
    path = write(tmp_path / "ok.png", png_bytes())
    for x, source in [(path, str(path)), (str(path), str(path)), (png_bytes(), "<bytes>")]:
        image = Image.open(x)
        assert image.array.dtype == np.uint8 and image.array.shape == (12, 16, 3)
        np.testing.assert_array_equal(image.array, PIXELS)
        assert image.source == source
        assert image.size == (16, 12)


def test_image_from_arrays():
    np.testing.assert_array_equal(Image.open(PIXELS).array, PIXELS)
    gray = PIXELS[..., 0]
    np.testing.assert_array_equal(Image.open(gray).array, np.stack([gray] * 3, axis=-1))
    rgba = np.concatenate([PIXELS, np.zeros_like(PIXELS[..., :1])], axis=-1)
    np.testing.assert_array_equal(Image.open(rgba).array, PIXELS)
    floats = np.array([[[0.0, 0.5, 1.0]]])
    np.testing.assert_array_equal(Image.open(floats).array, [[[0, 128, 255]]])
    assert Image.open(PIXELS).source == "<array>"


def test_image_does_not_alias_the_callers_array_and_is_read_only():
    pixels = PIXELS.copy()
    image = Image.open(pixels)
    pixels[...] = 0
    np.testing.assert_array_equal(image.array, PIXELS)
    with pytest.raises(ValueError):
        image.array[0, 0, 0] = 1


def test_image_from_pil_and_from_image():
    pil = PILImage.fromarray(PIXELS).convert("P")  # palette mode must come out RGB
    image = Image.open(pil)
    assert image.array.shape == (12, 16, 3)
    np.testing.assert_array_equal(image.array, np.asarray(pil.convert("RGB")))
    assert Image.open(image) is image


def test_image_save_reopen_and_to_pil(tmp_path):
    image = Image.open(PIXELS)
    image.save(tmp_path / "out.png")
    np.testing.assert_array_equal(Image.open(tmp_path / "out.png").array, PIXELS)
    assert image.to_pil().size == (16, 12) and image.to_pil().mode == "RGB"


def test_image_resized_is_a_new_bilinear_image():
    image = Image.open(PIXELS)
    small = image.resized(8, 6)
    assert small is not image and small.size == (8, 6) and small.array.shape == (6, 8, 3)
    flat = Image.open(np.full((10, 10, 3), 77, np.uint8)).resized(33, 7)
    assert (flat.array == 77).all()  # interpolating a constant gives the constant
    ramp = Image.open(np.tile(np.linspace(0, 1, 4), (2, 1))).resized(8, 2)
    assert (np.diff(ramp.array[0, :, 0].astype(int)) >= 0).all()  # bilinear keeps a ramp monotonic


def test_image_exif_rotation_is_applied():
    pil = PILImage.fromarray(PIXELS)
    exif = pil.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    out = io.BytesIO()
    pil.save(out, "PNG", exif=exif)
    assert Image.open(out.getvalue()).size == (12, 16)


# --- Image: inputs that fail ---------------------------------------------------------------


def test_image_missing_file(tmp_path):
    assert_input_error(lambda: Image.open(tmp_path / "nope.png"), str(tmp_path / "nope.png"), "no such file")


def test_image_corrupt_png(tmp_path):
    path = write(tmp_path / "corrupt.png", b"\x89PNG\r\n\x1a\n" + RNG.bytes(500))
    assert_input_error(lambda: Image.open(path), str(path), "not a readable image")


def test_image_truncated_png(tmp_path):
    data = png_bytes(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    path = write(tmp_path / "half.png", data[: len(data) // 2])
    assert_input_error(lambda: Image.open(path), str(path), "truncated or corrupt")
    assert_input_error(lambda: Image.open(data[: len(data) // 2]), "<bytes>", "truncated or corrupt")


def test_image_text_file_named_png(tmp_path):
    path = write(tmp_path / "notes.png", b"just some text\n")
    assert_input_error(lambda: Image.open(path), str(path), "not a readable image")


def test_image_directory(tmp_path):
    assert_input_error(lambda: Image.open(tmp_path), str(tmp_path), "directory")


def test_image_pixel_limit_is_checked_from_the_header(tmp_path):
    # The pixel data is missing: failing on size (not on truncation) proves nothing was decoded.
    path = write(tmp_path / "big.png", png_claiming(8000, 8000))  # 64M pixels, under PIL's guard
    assert_input_error(lambda: Image.open(path), str(path), "8000x8000", "limit of 40000000")
    assert_input_error(lambda: Image.open(png_bytes(), Limits(max_pixels=100)), "<bytes>", "16x12", "limit of 100")
    assert_input_error(lambda: Image.open(PIXELS, Limits(max_pixels=100)), "<array>", "limit of 100")
    assert Image.open(png_bytes(), Limits(max_pixels=16 * 12)).size == (16, 12)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("width, height", [(100_000, 100_000), (10_000, 10_000)])
def test_image_pil_bomb_guard_becomes_input_error(width, height):
    # 1e10 pixels trips PIL's DecompressionBombError, 1e8 only its warning: both must raise ours.
    generous = Limits(max_pixels=10**12)
    assert_input_error(lambda: Image.open(png_claiming(width, height), generous), "<bytes>", "too large")


def test_image_bomb_made_with_pil_is_rejected_cheaply():
    out = io.BytesIO()
    PILImage.new("1", (20_000, 20_000)).save(out, "PNG")  # 400M pixels in ~50 kB
    assert len(out.getvalue()) < 100_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_input_error(lambda: Image.open(out.getvalue()), "<bytes>", "too large")


def test_image_file_size_limit(tmp_path):
    path = write(tmp_path / "ok.png", png_bytes())
    tight = Limits(max_file_bytes=100)
    assert_input_error(lambda: Image.open(path, tight), str(path), "over the limit of 100")
    assert_input_error(lambda: Image.open(png_bytes(), tight), "<bytes>", "over the limit of 100")


@pytest.mark.parametrize(
    "array, words",
    [
        (np.full((4, 4, 3), np.nan), ["NaN"]),
        (np.full((4, 4), 1.5), ["[0, 1]"]),
        (np.zeros((4, 4, 2), np.uint8), ["wrong channel layout"]),
        (np.zeros((4,), np.uint8), ["wrong channel layout"]),
        (np.zeros((1, 4, 4, 3), np.uint8), ["wrong channel layout"]),
        (np.zeros((0, 4, 3), np.uint8), ["no pixels"]),
        (np.zeros((4, 4, 3), np.int64), ["dtype int64"]),
    ],
)
def test_image_bad_arrays(array, words):
    assert_input_error(lambda: Image.open(array), "<array>", *words)


def test_image_wrong_input_type():
    assert_input_error(lambda: Image.open(42), "<int>", "cannot be opened")


def test_image_constructor_checks_layout():
    assert_input_error(lambda: Image(np.zeros((4, 4), np.uint8), "x"), "x", "uint8 HxWx3")


# --- Text ----------------------------------------------------------------------------------


def test_text_from_str_path_bytes_and_text(tmp_path):
    assert Text.open("a cat").text == "a cat" and Text.open("a cat").source == "<text>"
    path = write(tmp_path / "caption.txt", "un chat, 猫\n".encode())
    text = Text.open(path)
    assert text.text == "un chat, 猫\n" and text.source == str(path)
    assert Text.open(b"\xef\xbb\xbfhello").text == "hello"  # BOM dropped
    assert Text.open(text) is text


@pytest.mark.parametrize("value, words", [("", ["empty"]), (" \n\t", ["empty"]), ("a\0b", ["NUL"])])
def test_text_bad_strings(value, words):
    assert_input_error(lambda: Text.open(value), "<text>", *words)


def test_text_bad_files(tmp_path):
    latin1 = write(tmp_path / "latin1.txt", "café".encode("latin-1"))
    assert_input_error(lambda: Text.open(latin1), str(latin1), "not UTF-8", "offset 3")
    empty = write(tmp_path / "empty.txt", b"")
    assert_input_error(lambda: Text.open(empty), str(empty), "empty")
    binary = write(tmp_path / "blob.txt", b"ab\0cd")
    assert_input_error(lambda: Text.open(binary), str(binary), "NUL")
    assert_input_error(lambda: Text.open(tmp_path / "nope.txt"), str(tmp_path / "nope.txt"), "no such file")


# --- Audio: inputs that open ---------------------------------------------------------------


@pytest.mark.parametrize("fmt, subtype, tolerance", [("WAV", "FLOAT", 0), ("FLAC", "PCM_16", 1e-4), ("OGG", "VORBIS", 0.1)])
def test_audio_from_files(tmp_path, fmt, subtype, tolerance):
    wave = sine()
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, wave, 16000, format=fmt, subtype=subtype)
    audio = Audio.open(path)
    assert audio.rate == 16000 and audio.source == str(path)
    assert audio.waveform.dtype == np.float32 and audio.waveform.shape == wave.shape
    assert np.abs(audio.waveform - wave).max() <= tolerance
    assert audio.duration == pytest.approx(0.5)


def test_audio_from_bytes_and_tuple_and_audio():
    wave = sine()
    from_bytes = Audio.open(wav_bytes(wave, subtype="FLOAT"))
    assert from_bytes.source == "<bytes>"
    np.testing.assert_array_equal(from_bytes.waveform, wave)
    from_tuple = Audio.open((wave.astype(np.float64), 16000))
    assert from_tuple.source == "<waveform>" and from_tuple.waveform.dtype == np.float32
    np.testing.assert_allclose(from_tuple.waveform, wave)
    assert Audio.open(from_tuple) is from_tuple
    with pytest.raises(ValueError):
        from_tuple.waveform[0] = 1.0


@pytest.mark.parametrize("transpose", [False, True])
def test_audio_multichannel_is_mixed(transpose):
    left, right = sine(440), sine(880)
    stereo = np.stack([left, right])  # [channels, samples]
    audio = Audio.open((stereo.T if transpose else stereo, 16000))
    np.testing.assert_allclose(audio.waveform, (left + right) / 2, atol=1e-7)


def test_audio_stereo_file_mixed_or_rejected(tmp_path):
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([sine(), -sine()], axis=1), 16000, subtype="FLOAT")
    assert np.abs(Audio.open(path).waveform).max() < 1e-6  # opposite channels cancel
    assert_input_error(lambda: Audio.open(path, mono="error"), str(path), "2 channels")
    assert_input_error(lambda: Audio.open((np.zeros((2, 100), np.float32), 8000), mono="error"), "<waveform>", "2 channels")
    with pytest.raises(ConfigError):
        Audio.open(path, mono="left")


def test_audio_save_pcm16_round_trip(tmp_path):
    audio = Audio.open((sine(), 16000))
    audio.save(tmp_path / "out.wav")
    assert sf.info(tmp_path / "out.wav").subtype == "PCM_16"
    back = Audio.open(tmp_path / "out.wav")
    assert back.rate == 16000
    np.testing.assert_allclose(back.waveform, audio.waveform, atol=1 / 32768)


def test_audio_resampled_keeps_duration_and_pitch():
    wave = sine(440.0, rate=22050, seconds=1.0)
    audio = Audio.open((wave, 22050))
    assert audio.resampled(22050) is audio
    out = audio.resampled(16000)
    assert out.rate == 16000 and out.waveform.dtype == np.float32
    assert abs(out.duration - audio.duration) <= 1 / 16000
    spectrum = np.abs(np.fft.rfft(out.waveform))
    peak_hz = np.argmax(spectrum) * out.rate / len(out.waveform)
    assert peak_hz == pytest.approx(440.0, abs=1.0)
    assert np.abs(out.waveform).max() == pytest.approx(0.5, abs=0.02)  # no gain change


# --- Audio: inputs that fail ---------------------------------------------------------------


def test_audio_missing_file(tmp_path):
    assert_input_error(lambda: Audio.open(tmp_path / "nope.wav"), str(tmp_path / "nope.wav"), "no such file")


def test_audio_truncated_wav(tmp_path):
    # libsndfile reads this without complaint (it shortens the file to the bytes present).
    data = wav_bytes(sine())
    path = write(tmp_path / "cut.wav", data[: len(data) // 2 + 1])
    assert_input_error(lambda: Audio.open(path), str(path), "truncated")
    assert_input_error(lambda: Audio.open(data[:-2]), "<bytes>", "truncated")


def test_audio_truncated_flac(tmp_path):
    out = io.BytesIO()
    sf.write(out, sine(), 16000, format="FLAC")
    path = write(tmp_path / "cut.flac", out.getvalue()[: len(out.getvalue()) // 2])
    assert_input_error(lambda: Audio.open(path), str(path), "not a readable audio file")


def mp3_bytes(waveform: np.ndarray, rate: int, header: bool = True) -> bytes:
    """An MP3 as libsndfile writes it (variable rate, its first frame a Xing/Info header that
    gives the exact length), or without that frame, as many encoders write them."""
    out = io.BytesIO()
    sf.write(out, waveform, rate, format="MP3")
    data = out.getvalue()
    if header:
        return data
    version, bitrate_index, rate_index, padding = (data[1] >> 3) & 3, data[2] >> 4, (data[2] >> 2) & 3, (data[2] >> 1) & 1
    assert data[0] == 0xFF and version == 2 and rate == (22050, 24000, 16000)[rate_index]   # MPEG-2, frame at 0
    kbps = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)[bitrate_index]
    first = 72 * kbps * 1000 // rate + padding                 # an MPEG-2 Layer III frame's bytes
    assert b"Xing" in data[:first] or b"Info" in data[:first]
    return data[first:]


@pytest.mark.parametrize("header", [True, False])
def test_audio_mp3_opens_whole(tmp_path, header):
    # without the header libsndfile reads only as far as its estimate from the first frame's
    # bit rate (a fifth of this file); FFmpeg decodes all of it, with the encoder's delay and
    # padding, which only the header lets a decoder trim
    wave = sine(rate=16000, seconds=1.0)
    path = write(tmp_path / "a.mp3", mp3_bytes(wave, 16000, header))
    audio = Audio.open(path)
    assert audio.rate == 16000
    assert len(audio.waveform) == len(wave) if header else len(wave) <= len(audio.waveform) <= len(wave) + 2 * 1152
    delay = len(audio.waveform) - len(wave)
    assert np.corrcoef(audio.waveform[delay + 2000:delay + 14000], wave[2000:14000])[0, 1] > 0.99 or \
        max(np.corrcoef(audio.waveform[k + 2000:k + 14000], wave[2000:14000])[0, 1] for k in range(delay + 1)) > 0.99


def test_audio_truncated_mp3(tmp_path, capfd):
    data = mp3_bytes(sine(rate=16000, seconds=1.0), 16000)
    path = write(tmp_path / "cut.mp3", data[: len(data) // 2])
    capfd.readouterr()
    assert_input_error(lambda: Audio.open(path), str(path), "truncated")
    # the one line is polymodal's: libsndfile's MP3 decoder printed a warning of its own here
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("data", [b"", b"RIFF", b"just some text, not audio at all\n" * 4,
                                  b"\xff\xfb" + b"junk" * 50, b"ID3" + bytes(40)])     # the last two: FFmpeg's
def test_audio_unreadable_bytes(data):
    message = assert_input_error(lambda: Audio.open(data), "<bytes>", "not a readable audio file")
    assert "Errno" not in message


def test_audio_empty_wav(tmp_path):
    path = write(tmp_path / "empty.wav", wav_bytes(np.zeros(0, np.float32)))
    assert_input_error(lambda: Audio.open(path), str(path), "no audio samples")


@pytest.mark.parametrize(
    "waveform, rate, words",
    [
        (np.full(100, np.nan, np.float32), 8000, ["NaN"]),
        (np.r_[np.zeros(99), np.inf], 8000, ["infinite"]),
        (np.zeros((2, 3, 100), np.float32), 8000, ["wrong channel layout"]),
        (np.zeros((10, 100), np.float32), 8000, ["wrong channel layout"]),
        (np.zeros(0, np.float32), 8000, ["no audio samples"]),
        (np.zeros((2, 0), np.float32), 8000, ["no audio samples"]),
        (np.zeros(100, np.int16), 8000, ["dtype int16"]),
        (np.zeros(100, np.float32), 0, ["sample rate"]),
        (np.zeros(100, np.float32), -8000, ["sample rate"]),
        (np.zeros(100, np.float32), 8000.5, ["sample rate"]),
        (np.zeros(8, np.float32), 8000, ["8 samples", "fewer than 16"]),
    ],
)
def test_audio_bad_waveforms(waveform, rate, words):
    assert_input_error(lambda: Audio.open((waveform, rate)), "<waveform>", *words)


def test_audio_duration_limit(tmp_path):
    short = Limits(max_audio_seconds=0.25)
    path = write(tmp_path / "long.wav", wav_bytes(sine(seconds=0.5)))
    assert_input_error(lambda: Audio.open(path, short), str(path), "0.5 s long", "limit of 0.25 s")
    assert_input_error(lambda: Audio.open((sine(seconds=0.5), 16000), short), "<waveform>", "limit of 0.25 s")
    assert Audio.open(path, Limits(max_audio_seconds=0.5)).duration == pytest.approx(0.5)


def test_audio_file_size_limit(tmp_path):
    path = write(tmp_path / "a.wav", wav_bytes(sine()))
    assert_input_error(lambda: Audio.open(path, Limits(max_file_bytes=1000)), str(path), "over the limit of 1000")


def test_audio_wrong_input_type():
    assert_input_error(lambda: Audio.open([0.0] * 100), "<list>", "cannot be opened")


def test_default_limits():
    assert DEFAULT_LIMITS == Limits()
    assert DEFAULT_LIMITS.max_pixels == 40_000_000 and DEFAULT_LIMITS.max_file_bytes == 50 * 2**20
