"""`clinic-outcomes dashboard` or `demo` run as a user runs them, for the tests that talk to the server:
a free port, a HOME of the test's choosing, stdin from /dev/null, closed, or a terminal (a pty), and
everything the command prints kept for the test to read."""

from __future__ import annotations

import os
import pty
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.serve import page_answers

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 120  # the demo loads the sample first; two busy cores make that slow, not broken


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@dataclass
class Running:
    url: str
    process: subprocess.Popen
    _chunks: list[bytes] = field(default_factory=list)
    _log: Path | None = None

    def output(self) -> str:
        """Everything the command has printed so far (stdout and stderr together)."""
        raw = self._log.read_bytes() if self._log is not None else b"".join(self._chunks)
        return raw.decode("utf-8", "replace")


def _read_terminal(master: int, chunks: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the other end closed
            return
        if not chunk:
            return
        chunks.append(chunk)


@contextmanager
def running(args: list[str], *, stdin: str = "devnull", env: dict[str, str] | None = None,
            wait: bool = True, path: str = "") -> Iterator[Running]:
    """`clinic-outcomes ARGS --port P` until the block ends. stdin: "devnull", "closed" or "terminal";
    path: the URL path the page is served under (--base-url-path).
    With wait, the block starts once the server answers its health check (the test fails if the
    command exits first or takes longer than STARTUP_SECONDS)."""
    import pytest

    port = free_port()
    command = [sys.executable, "-m", "pipelines.cli", *args, "--port", str(port)]
    environment = {**os.environ, **(env or {})}
    options: dict = {"cwd": ROOT, "env": environment, "start_new_session": True}
    master = log = None
    chunks: list[bytes] = []
    if stdin == "terminal":
        master, slave = pty.openpty()
        options.update(stdin=slave, stdout=slave, stderr=slave)
    else:
        handle, name = tempfile.mkstemp(prefix="clinic-outcomes-", suffix=".log")
        log = Path(name)
        options.update(stdout=handle, stderr=subprocess.STDOUT)
        if stdin == "closed":
            options.update(stdin=None, preexec_fn=lambda: os.close(0))
        else:
            options.update(stdin=subprocess.DEVNULL)
    process = subprocess.Popen(command, **options)
    if master is not None:
        os.close(slave)
        threading.Thread(target=_read_terminal, args=(master, chunks), daemon=True).start()
    else:
        os.close(options["stdout"])
    served = Running(f"http://localhost:{port}{path}", process, chunks, log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while wait and not page_answers(served.url):
            if process.poll() is not None:
                pytest.fail(f"`clinic-outcomes {' '.join(args)}` exited ({process.returncode}) before serving:\n"
                            f"{served.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not answer within {STARTUP_SECONDS} s:\n{served.output()}")
            time.sleep(0.25)
        yield served
    finally:
        stop(process)
        if master is not None:
            os.close(master)
        if log is not None:
            log.unlink()


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, as a service manager stops it; SIGKILL if it has not ended 15 s later."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@contextmanager
def serve(db: Path) -> Iterator[str]:
    """`clinic-outcomes dashboard --db DB --headless` until the block ends; its base URL."""
    with running(["dashboard", "--db", str(db), "--headless"]) as served:
        yield served.url
