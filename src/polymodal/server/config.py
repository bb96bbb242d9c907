"""What a server accepts and how it schedules work; every field is a `polymodal serve` flag."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..core import values
from ..modalities import Limits

VIDEO_BYTES = 512 * 2**20         # a request's decoded frames, at most


@dataclass
class ServerConfig:
    models: dict[str, str] = field(default_factory=dict)   # task -> model (default: the shipped one)
    max_batch: int = 16             # requests answered by one forward pass, at most
    max_wait_ms: float = 5.0        # how long a request waits for others to share its batch
    workers: int = 1                # threads running batches: one keeps 2 cores for torch's own threads
    max_queue: int = 512            # waiting requests per batcher; more get 429 (back off)
    request_timeout_s: float = 120.0
    body_timeout_s: float = 15.0    # the longest pause allowed between two chunks of an upload
    max_upload_bytes: int = 10 * 2**20
    max_pixels: int = 4_000_000
    max_audio_seconds: float = 60.0
    max_video_seconds: float = 120.0   # a clip's duration (its frames are sampled: VIDEO_FRAMES at most)
    max_text_chars: int = 2000
    memory_budget_mb: float = 4096  # loaded models' weights; the least recently used go first
    header_timeout_s: float = 10.0  # a connection must send a request's headers within this
    keep_alive_s: float = 5.0       # an idle keep-alive connection is closed after this
    contain_engines: bool = True    # native engines run in worker processes, restarted when they crash
    files_root: str | None = None   # /v1/chat/completions may read images by path below this folder
    chat_listener: str | None = None   # the chat model's recogniser of spoken messages ("none": none; None: its own)

    def __post_init__(self):
        for name in ("max_batch", "workers", "max_queue", "max_upload_bytes", "max_pixels", "max_text_chars"):
            values.number(getattr(self, name), f"server option {name}", 1, integer=True)
        values.number(self.max_wait_ms, "server option max_wait_ms", 0)
        for name in ("request_timeout_s", "body_timeout_s", "max_audio_seconds", "max_video_seconds", "memory_budget_mb",
                     "header_timeout_s", "keep_alive_s"):
            values.number(getattr(self, name), f"server option {name}", 1e-3)

    @property
    def limits(self) -> Limits:
        return Limits(max_pixels=self.max_pixels, max_file_bytes=self.max_upload_bytes,
                      max_audio_seconds=self.max_audio_seconds, max_video_seconds=self.max_video_seconds,
                      max_frame_pixels=self.max_pixels, max_video_bytes=VIDEO_BYTES)
