"""The manual (docs/, built with MkDocs) stays in step with the code: a metric, a setting, a
command, an option, a profile, a page or a report key without documentation fails; so does a
broken link or anchor, a code comment that points at a missing docs section, and any mention of
our internal definitions document, which no user has."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import fields
from functools import cache
from pathlib import Path

import pytest
import typer.main
from dashboard_fixtures import NAV_TITLES

from pipelines.cli import app
from pipelines.config import Settings
from pipelines.read import available_profiles
from pipelines.warehouse import MACROS, MODELS, SUMMARIES, sql_dir

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()
README = (ROOT / "README.md").read_text(encoding="utf-8")
SQL_FILES = sorted(sql_dir().rglob("*.sql"))
TEST_COMMAND = 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && npm ci && .venv/bin/python -m pytest'
DEMO_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/clinic-outcomes demo"
# A reference to a section of the manual, as code comments, CLI help and tests write it.
DOCS_REFERENCE = re.compile(r"docs/((?:[\w-]+/)*[\w-]+\.md)(?:#([\w-]+))?")


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@cache
def all_docs() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.rglob("*.md")))


@cache
def repository_texts() -> dict[str, str]:
    """Every text file git would commit (tracked, or new and not ignored), by path from the root;
    pictures and Parquet files are left out."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    texts = {}
    for name in listed:
        if name and (ROOT / name).is_file():
            try:
                texts[name] = (ROOT / name).read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
    return texts


@cache
def anchors(target: str) -> set[str]:
    """The anchors MkDocs gives the headings of a page of docs/ (Python-Markdown's toc slugify)."""
    from markdown.extensions.toc import slugify

    found: set[str] = set()
    in_code = False
    for line in page(target).splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not (heading := re.match(r"#{1,6} (.+?)\s*$", line)):
            continue
        text = heading.group(1)
        if custom := re.search(r"\{\s*#([\w-]+)\s*\}$", text):
            found.add(custom.group(1))
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("`", "").replace("*", "")
        slug = slugify(text, "-")
        unique, n = slug, 0
        while unique in found:
            n += 1
            unique = f"{slug}_{n}"
        found.add(unique)
    return found


# --- every definition, setting, command, option, profile and page is in the manual --------------


@pytest.mark.parametrize("model", sorted(p.stem for p in (sql_dir() / "metrics").glob("*.sql")))
def test_every_metric_model_is_documented_in_the_metrics_pages(model):
    metric_pages = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "metrics").glob("*.md"))
    assert f"`sql/metrics/{model}.sql`" in metric_pages, f"no page of docs/metrics/ names sql/metrics/{model}.sql"


def test_therapist_funnel_report_is_documented():
    assert "`sql/reports/therapist_funnel.sql`" in page("metrics/therapist-funnel.md")


@pytest.mark.parametrize("named", ["`sql/reports/adjusted_funnel_limits.sql`", "`sql/reports/therapist_case_mix.sql`",
                                   "`allow_overdispersion`"])
def test_the_therapists_page_reports_and_parameters_are_documented(named):
    assert named in page("metrics/therapist-funnel.md")


@pytest.mark.parametrize("setting", [f.name for f in fields(Settings) if f.name != "measures"])
def test_every_setting_is_documented(setting):
    assert f"| `{setting}` |" in page("loading/settings.md")


def test_the_measure_tables_of_the_settings_file_are_documented():
    from pipelines.measures import TABLE_KEYS, BUILT_IN

    assert "[measures.NAME]" in page("loading/settings.md")
    assert all(f"| `{key}` |" in page("metrics/measures.md") for key in TABLE_KEYS)
    assert all(f"| `{name}` |" in page("metrics/measures.md") for name in BUILT_IN)


@pytest.mark.parametrize("command", sorted(c.name or c.callback.__name__ for c in app.registered_commands))
def test_every_command_is_documented(command):
    assert f"clinic-outcomes {command}" in all_docs()


def _options() -> list[tuple[str, str]]:
    group = typer.main.get_command(app)
    return sorted((name, option) for name, command in group.commands.items() for parameter in command.params
                  for option in parameter.opts if option.startswith("--"))


def test_the_options_are_read_from_the_commands():
    assert len(_options()) >= 25  # so that the test below cannot pass by finding none


@pytest.mark.parametrize(("command", "option"), _options())
def test_every_command_option_is_documented(command, option):
    assert re.search(rf"{re.escape(option)}\b", all_docs()), f"clinic-outcomes {command} {option} is not in docs/"


@pytest.mark.parametrize("profile", available_profiles())
def test_every_shipped_mapping_profile_is_documented(profile):
    assert f"`{profile}`" in page("loading/profiles.md")


@pytest.mark.parametrize("title", NAV_TITLES)
def test_every_dashboard_page_has_a_section(title):
    assert re.search(rf"^## {re.escape(title)}$", page("dashboard.md"), re.MULTILINE)


def _report_keys() -> list[str]:
    schema = json.loads((ROOT / "tests" / "metrics_report.schema.json").read_text(encoding="utf-8"))
    return sorted(schema["properties"])


@pytest.mark.parametrize("key", _report_keys())
def test_every_key_of_the_metrics_report_is_documented(key):
    assert f"`{key}`" in page("metrics/report.md")


# --- the SQL models ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(sql_dir())))
def test_every_sql_model_opens_with_its_grain(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(f"-- {path.stem}"), f"{path.name} must open with '-- {path.stem}: <grain>'"


def test_every_model_file_is_built_and_every_built_model_exists():
    on_disk = {str(p.relative_to(sql_dir()).with_suffix("")) for p in SQL_FILES
               if not p.parent.name == "reports"}
    assert on_disk == set(MODELS) | set(MACROS) | set(SUMMARIES)


# --- the manual is the only reference ------------------------------------------------------------


def test_nothing_mentions_the_internal_definitions_document():
    """Users and maintainers have docs/, not the team's private definitions: code, SQL, CLI help,
    docs and tests point at docs/ (this test names the word, and tests/fixtures/ may hold it)."""
    word = re.compile(r"SPEC")
    offenders = [f"{relative}:{n}" for relative, text in repository_texts().items()
                 if not relative.startswith("tests/fixtures/") and relative != THIS_FILE
                 for n, line in enumerate(text.splitlines(), 1) if word.search(line)]
    assert not offenders, offenders


@cache
def _references() -> list[tuple[str, str, str | None]]:
    found = {(relative, match.group(1), match.group(2)) for relative, text in repository_texts().items()
             if not relative.startswith("docs/") and relative != THIS_FILE
             for match in DOCS_REFERENCE.finditer(text)}
    return sorted(found, key=lambda reference: (reference[0], reference[1], reference[2] or ""))


def test_code_points_at_the_manual():
    assert len(_references()) > 40


@pytest.mark.parametrize(("where", "target", "anchor"), _references())
def test_every_reference_to_the_manual_resolves(where, target, anchor):
    assert (DOCS / target).is_file(), f"{where} points at docs/{target}, which does not exist"
    if anchor is not None:
        assert anchor in anchors(target), f"{where} points at docs/{target}#{anchor}: no such heading"


def test_the_manual_builds_strictly(tmp_path):
    """MkDocs in strict mode: a broken link or anchor, or a page missing from the navigation, fails."""
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "site" / "metrics" / "episodes" / "index.html").is_file()


# --- the README: a newcomer's two minutes ---------------------------------------------------------


def test_readme_gives_the_two_commands_and_ci_runs_the_test_command():
    assert DEMO_COMMAND in README
    assert TEST_COMMAND in README
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_is_short_and_its_links_resolve():
    assert len(README.encode("utf-8")) < 8 * 1024
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if "://" not in link]
    assert any(link.startswith("docs/") for link in local)
    assert not [link for link in local if not (ROOT / link).exists()]
