"""Serving the dashboard: Streamlit in a child process that never asks anything, and the user's
browser opened once the page answers (docs/operations.md#serving-the-dashboard).

Streamlit's own interactive start asks for an e-mail address on its first run in a new HOME and
exits when there is no terminal to answer it. Its headless mode never asks; this module then does
the one useful thing the interactive start did, opening the browser, itself.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import webbrowser
from collections.abc import Callable
from pathlib import Path

from pipelines.errors import LoadError

# Settings the dashboard always runs with, whatever a Streamlit config file in HOME or the working
# folder says: no usage statistics leave the machine, no prompt, no "Deploy" button, no file
# watcher. Streamlit's welcome message is off because, headless on every interface, it looks the
# machine's external address up on the internet; the address is printed here instead, once the page
# answers, and Streamlit's own log says only what went wrong.
STREAMLIT_FLAGS = (
    "--server.headless=true",
    "--server.showEmailPrompt=false",
    "--browser.gatherUsageStats=false",
    "--logger.hideWelcomeMessage=true",
    "--client.toolbarMode=viewer",
    "--global.developmentMode=false",
    "--server.fileWatcherType=none",
    "--theme.base=light",
    "--logger.level=warning",
)
LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")
POLL_SECONDS = 0.2


def url_path(given: str) -> str:
    """A --base-url-path as Streamlit takes it (no slashes around it); refused unless URL-safe."""
    path = given.strip("/")
    if not re.fullmatch(r"[A-Za-z0-9._~/-]*", path) or "//" in path:
        raise LoadError(f"--base-url-path '{given}' is not a URL path (letters, digits, '.', '_', '~', '-', '/')")
    return path


def page_url(address: str, port: int, path: str = "") -> str:
    """The address a browser on this machine opens: a wildcard listener is reached on localhost."""
    host = "localhost" if address in ("", "0.0.0.0", "::", *LOCAL_ADDRESSES) else address
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}" + (f"/{path}" if path else "")


def streamlit_command(port: int, address: str, path: str) -> list[str]:
    import dashboard  # the app file ships inside the package; nothing else of it is imported here

    app_path = Path(dashboard.__file__).resolve().parent / "app.py"
    # The path is always given, empty by default, so that a Streamlit config file cannot move the
    # page away from where this command looks for it.
    return [sys.executable, "-m", "streamlit", "run", str(app_path), f"--server.port={port}",
            f"--server.address={address}", f"--server.baseUrlPath={path}", *STREAMLIT_FLAGS]


def check_port_is_free(address: str, port: int) -> None:
    """Refuse early, in one line, when something already listens where the dashboard would."""
    try:
        infos = socket.getaddrinfo(address or "0.0.0.0", port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise LoadError(f"--address '{address}' is not an address of this machine") from None
    family, kind, proto, _, where = infos[0]
    with socket.socket(family, kind, proto) as probe:
        if sys.platform != "win32":  # as the server will: a port in TIME_WAIT is free to take
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(where)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", None)):
                raise LoadError(f"port {port} on {address} is in use: stop what runs there or choose "
                                "another with --port") from None
            raise LoadError(f"cannot listen on {address} port {port} ({exc.strerror or exc})") from None


def page_answers(url: str) -> bool:
    """Whether the dashboard at url answers its health check. Straight to the server: a proxy set in
    the environment must not stand between us and localhost."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().strip() == b"ok"
    except OSError:
        return False


def open_browser(url: str) -> bool:
    """Open the user's browser on url without blocking or printing; False when there is none to open."""
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if sys.platform == "darwin":
        subprocess.Popen(["open", url], **quiet)
        return True
    if sys.platform == "win32":
        return webbrowser.open(url)
    # Linux and the BSDs: without a display, Python's webbrowser would start a text browser in this
    # terminal, so only a desktop session gets a browser.
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    opener = shutil.which("xdg-open")
    if opener is not None:
        subprocess.Popen([opener, url], start_new_session=True, **quiet)
        return True
    return webbrowser.open(url)


def _end_with_parent() -> None:
    """In the server process (Linux): a SIGKILLed parent takes its server with it, instead of
    leaving it holding the port."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _status(returncode: int) -> int:
    """A child's return code as an exit status: killed by signal N is 128 + N, as a shell says."""
    return 128 - returncode if returncode < 0 else returncode


def serve(db: Path, port: int, address: str, headless: bool, access: Path | None,
          say: Callable[[str], None], path: str = "") -> int:
    """Run the dashboard until it stops; its exit status. say() prints a line for the user. The
    caller has checked the port (check_port_is_free), before any warning of its own."""
    env = {**os.environ, "CLINIC_OUTCOMES_DB": str(db.resolve()), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env.pop("CLINIC_OUTCOMES_ACCESS", None)
    if access is not None:
        env["CLINIC_OUTCOMES_ACCESS"] = str(access.resolve())
    url = page_url(address, port, path)
    # The server has a session of its own, so that a Ctrl+C in the terminal reaches only this process,
    # which stops the server in order (a SIGINT arriving while Streamlit still imports would print a
    # traceback).
    server = subprocess.Popen(streamlit_command(port, address, path), env=env, stdin=subprocess.DEVNULL,
                              start_new_session=True,
                              preexec_fn=_end_with_parent if sys.platform.startswith("linux") else None)
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        server.terminate()

    # A service manager's SIGTERM, or a closed terminal's SIGHUP, stops the server the same way.
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), stop)
    try:
        while not page_answers(url):
            if server.poll() is not None:
                if stopping:  # told to stop while it was still starting: not a failure
                    return 0 if server.returncode == -signal.SIGTERM else _status(server.returncode)
                raise LoadError(f"the dashboard stopped before it served a page (exit status {server.returncode}); "
                                "Streamlit's message above says why")
            time.sleep(POLL_SECONDS)
        say(f"dashboard on {url} for {db} (Ctrl+C to stop)")
        if not headless and not open_browser(url):
            say(f"no browser to open here: open {url} in yours")
        return _status(server.wait())
    except KeyboardInterrupt:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        return 130
