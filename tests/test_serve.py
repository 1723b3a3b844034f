"""Starting the dashboard (docs/operations.md#serving-the-dashboard): no prompt of any library's
stands between the user and the page, with or without a terminal and whatever HOME holds; the
user's browser opens once the page answers, unless --headless; a stop signal stops the server too.

The browser test that the page the demo serves also draws is in test_dashboard_browser.py.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import run_cli
from dashboard_fixtures import sample_db  # noqa: F401
from dashboard_server import free_port, running

from pipelines.serve import page_answers

# What Streamlit's interactive first run prints: its e-mail prompt and its usage-statistics notice.
PROMPTS = ("Email", "Welcome to Streamlit", "gatherUsageStats", "usage statistics")
# A Streamlit config in HOME that asks for everything the dashboard must not do, and moves the page.
ASKING_CONFIG = """\
[server]
headless = false
showEmailPrompt = true
baseUrlPath = "elsewhere"
[browser]
gatherUsageStats = true
"""


def no_display(home: Path, **more: str) -> dict[str, str]:
    return {"HOME": str(home), "DISPLAY": "", "WAYLAND_DISPLAY": "", **more}


def printed(served, text: str, timeout: float = 15) -> str:
    """The command's output once it holds text (it prints its address just after the page answers)."""
    deadline = time.monotonic() + timeout
    while text not in served.output():
        assert time.monotonic() < deadline, f"never printed {text!r}:\n{served.output()}"
        time.sleep(0.1)
    return served.output()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def test_demo_with_a_fresh_home_and_stdin_closed_serves_the_page(tmp_path: Path, home: Path) -> None:
    db = tmp_path / "demo.duckdb"
    with running(["demo", "--db", str(db)], stdin="closed", env=no_display(home)) as served:
        with urllib.request.urlopen(served.url + "/", timeout=10) as response:
            assert response.status == 200
            assert b'<div id="root"></div>' in response.read()
        output = printed(served, "in yours")
    assert "(reconciles, per file and in total)" in output  # the sample was loaded first
    assert f"dashboard on {served.url} for {db}" in output
    assert f"no browser to open here: open {served.url} in yours" in output
    assert not [prompt for prompt in PROMPTS if prompt in output], output
    assert "Traceback" not in output


@pytest.mark.parametrize("config", ["none", "asking"])
def test_dashboard_from_a_terminal_asks_nothing(sample_db: Path, home: Path, config: str) -> None:  # noqa: F811
    if config == "asking":
        (home / ".streamlit").mkdir()
        (home / ".streamlit" / "config.toml").write_text(ASKING_CONFIG, encoding="utf-8")
    with running(["dashboard", "--db", str(sample_db)], stdin="terminal", env=no_display(home)) as served:
        output = re.sub(r"\x1b\[[0-9;]*m", "", printed(served, "in yours"))  # a terminal gets colours
    assert f"dashboard on {served.url}" in output
    assert not [prompt for prompt in PROMPTS if prompt in output], output
    assert not (home / ".streamlit" / "credentials.toml").exists()


def fake_browser(folder: Path) -> tuple[dict[str, str], Path]:
    """An xdg-open on PATH that records the URL it was given and whether the page answered then."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    record = folder / "opened.txt"
    opener = bin_dir / "xdg-open"
    opener.write_text(f"""#!{sys.executable}
import sys, urllib.request
try:
    answer = urllib.request.urlopen(sys.argv[1] + "/_stcore/health", timeout=5).read().decode()
except OSError as exc:
    answer = f"no answer ({{exc}})"
with open({str(record)!r}, "a") as out:
    out.write(sys.argv[1] + " " + answer + "\\n")
""", encoding="utf-8")
    opener.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DISPLAY": ":99"}, record


def test_the_browser_opens_on_the_page_once_it_answers(sample_db: Path, home: Path,  # noqa: F811
                                                       tmp_path: Path) -> None:
    desktop, record = fake_browser(tmp_path)
    with running(["dashboard", "--db", str(sample_db)], env=no_display(home, **desktop)) as served:
        output = printed(served, "dashboard on")
        deadline = time.monotonic() + 15
        while not record.exists():
            assert time.monotonic() < deadline, f"no browser was opened:\n{output}"
            time.sleep(0.1)
        time.sleep(0.5)
        assert record.read_text(encoding="utf-8") == f"{served.url} ok\n"  # once, on a page that answered
    assert "no browser to open here" not in output


def test_headless_opens_no_browser(sample_db: Path, home: Path, tmp_path: Path) -> None:  # noqa: F811
    desktop, record = fake_browser(tmp_path)
    with running(["dashboard", "--db", str(sample_db), "--headless"], env=no_display(home, **desktop)) as served:
        output = printed(served, "dashboard on")
        time.sleep(2)
    assert not record.exists()
    assert "no browser to open here" not in output


@pytest.mark.parametrize(("stop_with", "status"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_stop_signal_stops_the_server_too(sample_db: Path, home: Path, stop_with: int,  # noqa: F811
                                            status: int) -> None:
    with running(["dashboard", "--db", str(sample_db), "--headless"], env=no_display(home)) as served:
        printed(served, "dashboard on")
        served.process.send_signal(stop_with)
        assert served.process.wait(timeout=20) == status
        assert not page_answers(served.url)
        assert "Traceback" not in served.output()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server ends with its parent on Linux only")
def test_a_killed_command_takes_its_server_with_it(sample_db: Path, home: Path) -> None:  # noqa: F811
    with running(["dashboard", "--db", str(sample_db), "--headless"], env=no_display(home)) as served:
        served.process.kill()
        served.process.wait(timeout=5)
        deadline = time.monotonic() + 15
        while page_answers(served.url):
            assert time.monotonic() < deadline, "the server outlived the killed command"
            time.sleep(0.2)


def test_a_port_in_use_is_refused_in_one_line(sample_db: Path) -> None:  # noqa: F811
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("localhost", port))
        taken.listen()
        result = run_cli("dashboard", "--db", str(sample_db), "--port", str(port), "--headless")
    assert result.returncode == 1
    assert result.stderr == (f"error: port {port} on localhost is in use: stop what runs there or choose another "
                             "with --port\n")


def test_a_base_url_path_serves_the_page_under_it(sample_db: Path, home: Path) -> None:  # noqa: F811
    with running(["dashboard", "--db", str(sample_db), "--headless", "--base-url-path", "/outcomes/"],
                 env=no_display(home), path="/outcomes") as served:
        output = printed(served, "dashboard on")
        with urllib.request.urlopen(served.url + "/", timeout=10) as response:
            assert b'<div id="root"></div>' in response.read()
    assert f"dashboard on {served.url} for" in output  # the address printed is the page's, path and all


def test_a_stop_while_starting_is_not_a_failure(sample_db: Path, home: Path) -> None:  # noqa: F811
    with running(["dashboard", "--db", str(sample_db), "--headless"], env=no_display(home), wait=False) as started:
        time.sleep(0.5)  # the command is up; its server is still importing
        started.process.send_signal(signal.SIGTERM)
        assert started.process.wait(timeout=20) == 0, started.output()
        assert "error" not in started.output()


def test_a_base_url_path_that_is_not_a_path_is_refused(sample_db: Path) -> None:  # noqa: F811
    result = run_cli("dashboard", "--db", str(sample_db), "--headless", "--base-url-path", "a b")
    assert result.returncode == 1
    assert result.stderr.startswith("error: --base-url-path 'a b' is not a URL path")
