"""core/memory.py: glibc's malloc told to keep freed blocks for the next tensor, once per
process, unless the environment says no."""
import platform
import sys

from polymodal.core import memory


def test_freed_memory_is_kept_on_glibc_unless_the_environment_says_no(monkeypatch):
    monkeypatch.setattr(memory, "_done", False)
    monkeypatch.setenv("POLYMODAL_SYSTEM_MALLOC", "1")
    assert memory.reuse_freed_memory() is False
    monkeypatch.delenv("POLYMODAL_SYSTEM_MALLOC")
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert memory.reuse_freed_memory() is glibc
    assert memory._done is glibc
