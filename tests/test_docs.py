"""Documentation stays in step with the code: a metric or a setting without docs fails."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from pipelines.cli import app
from pipelines.config import Settings
from pipelines.read import available_profiles
from pipelines.warehouse import MACROS, MODELS, sql_dir

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SQL_FILES = sorted(sql_dir().rglob("*.sql"))


@pytest.mark.parametrize("model", sorted(p.stem for p in (sql_dir() / "metrics").glob("*.sql")))
def test_every_metric_model_has_a_glossary_entry(model):
    glossary = README.split("## Metric glossary", 1)[1]
    assert re.search(rf"^### {model}$", glossary, re.MULTILINE), f"README glossary has no '### {model}'"


def test_therapist_funnel_report_has_a_glossary_entry():
    assert "### therapist_funnel" in README


@pytest.mark.parametrize("setting", [f.name for f in fields(Settings)])
def test_every_setting_is_documented(setting):
    assert f"| `{setting}` |" in README


@pytest.mark.parametrize("command", sorted(c.name or c.callback.__name__ for c in app.registered_commands))
def test_every_command_is_documented(command):
    # the generator is documented with the sample data it writes
    docs = README + (ROOT / "sample_data" / "README.md").read_text(encoding="utf-8")
    assert f"clinic-outcomes {command}" in docs


@pytest.mark.parametrize("profile", available_profiles())
def test_every_shipped_mapping_profile_is_documented(profile):
    assert f"`{profile}`" in README


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(sql_dir())))
def test_every_sql_model_opens_with_its_grain(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(f"-- {path.stem}"), f"{path.name} must open with '-- {path.stem}: <grain>'"


def test_every_model_file_is_built_and_every_built_model_exists():
    on_disk = {str(p.relative_to(sql_dir()).with_suffix("")) for p in SQL_FILES
               if not p.parent.name == "reports"}
    assert on_disk == set(MODELS) | set(MACROS)


def test_readme_gives_the_two_commands_and_ci_runs_the_test_command():
    test_command = 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest'
    assert test_command in README
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
