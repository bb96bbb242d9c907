"""Native code run where its crash is contained.

A native library that aborts or segfaults (eSpeak NG, pocketsphinx, ONNX Runtime under
RapidOCR) takes its whole process with it. `Native("module", "Factory", *args)` stands for the
object Factory(*args): `native.call("method", ...)` runs its method in this process, or, once
`contain()` is on (the server turns it on), in a worker process started on first use. The
call during which the worker dies raises EngineCrashed, and the next call starts a fresh one,
while the process that asked goes on.

Arguments and results travel by pickle between polymodal's own two processes only: nothing
a client or a file gives is unpickled this way. Every value is checked before it is sent.
"""
from __future__ import annotations

import importlib
import signal
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from multiprocessing.connection import Connection, Pipe

from ..core.errors import PolymodalError

_policy = {"contain": False, "timeout_s": 300.0}


def contain(enabled: bool = True, timeout_s: float = 300.0) -> None:
    """Run every Native in a worker process from now on (or, enabled=False, in this one).
    `timeout_s`: the longest one call may take before its worker is stopped."""
    _policy.update(contain=bool(enabled), timeout_s=float(timeout_s))


def containing() -> bool:
    return _policy["contain"]


class EngineCrashed(Exception):
    """The worker died during a call (a native crash). Not the caller's fault: the server
    answers it with a 500 that says so; the next call starts a new worker."""


class EngineTimeout(TimeoutError):
    """A call took longer than the timeout; its worker was stopped."""


def build(module: str, name: str, args: tuple):
    return getattr(importlib.import_module(module), name)(*args)


def worker_main(fd: int) -> None:
    """The worker program (`python -c ...` with one end of a pipe): it reads the import path
    and what to build, then serves calls. A program of its own, not multiprocessing's spawn,
    which would run the parent's main script again in the child."""
    conn = Connection(fd)
    path, module, name, args = conn.recv()
    sys.path[:] = path
    serve(conn, module, name, args)


def serve(conn, module: str, name: str, args: tuple) -> None:
    """Build the object, then answer (method, args, kwargs) messages until a None arrives or
    the parent goes away. Method None only builds the object."""
    target = failed = None
    try:
        target = build(module, name, args)
    except PolymodalError as e:                 # e.g. the engine's package is missing: said on the first call
        failed = e
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        if failed is not None:
            conn.send(("error", failed))
            return
        method, call_args, call_kwargs = message
        try:
            conn.send(("ok", None if method is None else getattr(target, method)(*call_args, **call_kwargs)))
        except PolymodalError as e:             # raised again in the caller, with the same words
            conn.send(("error", e))
        except Exception as e:                  # noqa: BLE001  (a bug: its type and words travel back)
            conn.send(("error", RuntimeError(f"{type(e).__name__}: {e}")))


class Runner(ABC):
    """Where a Native's object lives: this process, or a worker process."""

    @abstractmethod
    def call(self, method: str | None, args: tuple, kwargs: dict):
        """The object's method(*args, **kwargs); method None only builds the object."""


class InProcess(Runner):
    def __init__(self, spec: tuple):
        self.spec, self.target = spec, None
        self.lock = threading.Lock()

    def call(self, method, args, kwargs):
        with self.lock:
            if self.target is None:
                self.target = build(*self.spec)
        return None if method is None else getattr(self.target, method)(*args, **kwargs)


class Worker(Runner):
    """Calls are serialised: one at a time per worker."""

    def __init__(self, spec: tuple):
        self.spec = spec
        self.process = self.conn = None
        self.lock = threading.Lock()

    def start(self) -> None:
        """A fresh interpreter (never a fork of a process that holds threads and locks)."""
        self.conn, child = Pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import worker_main; worker_main({child.fileno()})"],
            pass_fds=[child.fileno()], stdin=subprocess.DEVNULL)
        child.close()
        self.conn.send((list(sys.path), *self.spec))

    def ended(self) -> str:
        """How the worker ended: 'SIGABRT', 'exit code 1', ..."""
        try:
            code = self.process.wait(1)
        except subprocess.TimeoutExpired:
            return "no answer"
        if code < 0:
            try:
                return signal.Signals(-code).name
            except ValueError:
                return f"signal {-code}"
        return f"exit code {code}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.conn.close()
        self.process = self.conn = None

    def call(self, method, args, kwargs):
        timeout_s = _policy["timeout_s"]
        with self.lock:
            if not self.alive():
                self.stop()
                self.start()
            try:
                self.conn.send((method, args, kwargs))
                answered = self.conn.poll(timeout_s)
                if answered:
                    status, value = self.conn.recv()
            except (EOFError, OSError):
                how = self.ended()
                self.stop()
                raise EngineCrashed(f"the native engine {self.spec[1]} crashed during {method} ({how}); "
                                    f"it is restarted for the next request") from None
            if not answered:
                self.stop()
                raise EngineTimeout(f"{self.spec[1]}.{method} took over {timeout_s:g} s and was stopped")
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                try:
                    self.conn.send(None)
                    self.process.wait(5)
                except (OSError, ValueError, subprocess.TimeoutExpired):
                    pass
                self.stop()

    def __del__(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()


class Native:
    """`Native("polymodal.native.sphinx", "Decoder", grammar).call("decode", pcm)`: the
    object is built on the first call, where the containment policy says."""

    def __init__(self, module: str, name: str, *args):
        spec = (module, name, args)
        self.local, self.worker = InProcess(spec), Worker(spec)

    def start(self) -> None:
        """Build the object now (an engine that cannot load says so at load, not at first use)."""
        self.call(None)

    def call(self, method: str | None, *args, **kwargs):
        runner = self.worker if containing() else self.local
        return runner.call(method, args, kwargs)

    def close(self) -> None:
        self.worker.close()
