"""Video values: decoding with PyAV, frame sampling, saving, and the bad clips issue 24 lists."""
from __future__ import annotations

import numpy as np
import pytest
from video_clips import bad_clips, counting_frames, encode, which

from polymodal.core.errors import InputError, TooLargeError
from polymodal.modalities import Audio, Limits, Video
from polymodal.modalities.video import Sampling


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".gif"])
def test_saved_clip_reads_back_frame_for_frame(tmp_path, suffix):
    video = Video.open(counting_frames(12), rate=6)
    video.save(tmp_path / f"clip{suffix}")
    back = Video.open(tmp_path / f"clip{suffix}")
    assert len(back) == 12 and back.size == (32, 32)
    assert which(back.frames) == list(range(12))
    # (GIF stores delays in hundredths of a second: 1/6 s is 0.16 or 0.17)
    assert back.fps == pytest.approx(6, rel=0.05) and back.duration == pytest.approx(2.0, abs=0.1)
    assert back.times[1] - back.times[0] == pytest.approx(1 / 6, abs=0.01)


def test_uniform_sampling_takes_the_middle_of_each_part(tmp_path):
    Video.open(counting_frames(16), rate=8).save(tmp_path / "c.mp4")
    four = Video.open(tmp_path / "c.mp4", frames=4)
    # 2 s in 4 parts: at the centres 0.25, 0.75, 1.25, 1.75 s, frames 2, 6, 10, 14 are on screen
    assert which(four.frames) == [2, 6, 10, 14]
    assert list(four.times) == pytest.approx([0.25, 0.75, 1.25, 1.75])
    assert which(Video.open(tmp_path / "c.mp4", fps=2).frames) == [0, 4, 8, 12]
    # as many as the clip has: each frame once, in order (each centre falls halfway between two
    # frames; the frame on screen there is the earlier one, not the nearest-later one)
    assert which(Video.open(tmp_path / "c.mp4", frames=16).frames) == list(range(16))
    assert which(Video.open(counting_frames(16), rate=8, frames=16).frames) == list(range(16))
    # more frames than the clip has: each frame is kept for every centre it is on screen at
    assert which(Video.open(tmp_path / "c.mp4", frames=32).frames) == [i // 2 for i in range(32)]
    # the same picks from a Video in memory as from the file
    assert which(Video.open(counting_frames(16), rate=8, frames=4).frames) == [2, 6, 10, 14]


def test_resizing_while_decoding(tmp_path):
    Video.open(counting_frames(4, size=64), rate=4).save(tmp_path / "c.mp4")
    small = Video.open(tmp_path / "c.mp4", size=(24, 16))
    assert small.frames.shape == (4, 16, 24, 3) and which(small.frames) == [0, 1, 2, 3]


def test_audio_track_is_kept_and_saved(tmp_path):
    tone = (0.4 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    clip = Video(counting_frames(8), np.arange(8) / 8, 8.0, 1.0, Audio(tone, 16000))
    for suffix in (".mp4", ".webm"):
        clip.save(tmp_path / f"c{suffix}")
        back = Video.open(tmp_path / f"c{suffix}")
        assert back.audio is not None and back.audio.duration == pytest.approx(1.0, abs=0.1)
        spectrum = np.abs(np.fft.rfft(back.audio.waveform))
        assert np.argmax(spectrum) * back.audio.rate / len(back.audio.waveform) == pytest.approx(440, abs=5)
        assert Video.open(tmp_path / f"c{suffix}", audio=False).audio is None
    assert Video.open(encode(list(counting_frames(8)), audio=tone)).audio is not None


def test_arrays_need_a_rate_and_one_size():
    with pytest.raises(InputError, match="frame rate"):
        Video.open(counting_frames(3))
    with pytest.raises(InputError, match="differ in size"):
        Video.open([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)], rate=5)
    with pytest.raises(InputError, match="no frames"):
        Video.open(np.zeros((0, 8, 8, 3), np.uint8), rate=5)
    with pytest.raises(InputError, match="fps"):
        Sampling(fps=0)
    with pytest.raises(InputError, match="not both"):
        Sampling(frames=3, fps=2)


def test_bad_clips_get_one_line_naming_them(tmp_path):
    for label, (data, problem) in bad_clips().items():
        path = tmp_path / f"{label.replace(' ', '_')}.mp4"
        path.write_bytes(data)
        with pytest.raises(InputError) as caught:
            Video.open(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: ") and problem in message[len(str(path)):], (label, message)
        assert "\n" not in message
        if label in ("4 hours", "8K frames"):
            assert isinstance(caught.value, TooLargeError)


def test_limits_on_what_is_kept(tmp_path):
    Video.open(counting_frames(16, size=64), rate=8).save(tmp_path / "c.mp4")
    tight = Limits(max_video_bytes=10 * 64 * 64 * 3)
    with pytest.raises(TooLargeError, match="fewer frames"):
        Video.open(tmp_path / "c.mp4", limits=tight)
    assert len(Video.open(tmp_path / "c.mp4", limits=tight, frames=8)) == 8
    with pytest.raises(TooLargeError, match="over the limit of 1 s"):
        Video.open(tmp_path / "c.mp4", limits=Limits(max_video_seconds=1))


def test_save_refuses_unknown_formats_and_leaves_nothing(tmp_path):
    clip = Video.open(counting_frames(4), rate=4)
    with pytest.raises(InputError, match="cannot save a video as .avi"):
        clip.save(tmp_path / "c.avi")
    with pytest.raises(InputError, match="crf"):
        clip.save(tmp_path / "c.mp4", crf=99)
    assert list(tmp_path.iterdir()) == []
    odd = Video.open(np.zeros((3, 15, 17, 3), np.uint8), rate=3)     # yuv420p needs even sides
    odd.save(tmp_path / "odd.mp4")
    assert Video.open(tmp_path / "odd.mp4").size == (17, 15)


def test_a_video_file_is_read_as_it_is_decoded_under_its_own_size_limit(tmp_path):
    Video.open(counting_frames(8), rate=8).save(tmp_path / "c.mp4")
    size = (tmp_path / "c.mp4").stat().st_size
    small_files = Limits(max_file_bytes=size // 2)            # what an image or an upload may be
    assert len(Video.open(tmp_path / "c.mp4", limits=small_files)) == 8
    with pytest.raises(TooLargeError, match="over the limit"):
        Video.open((tmp_path / "c.mp4").read_bytes(), limits=small_files)
    with pytest.raises(TooLargeError, match="over the limit"):
        Video.open(tmp_path / "c.mp4", limits=Limits(max_video_file_bytes=size // 2))
    with pytest.raises(InputError, match="is a directory"):
        Video.open(tmp_path)
