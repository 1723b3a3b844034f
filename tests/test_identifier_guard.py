"""The identifier guard on values (docs/loading/identifiers.md): id columns holding e-mail
addresses, phone numbers or NHS numbers refuse the load; keyed pseudonymisation
(--pseudonymise-key) loads them instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import Warehouse, appointment, write_csv
from hypothesis import given, settings, strategies as st

from pipelines.errors import LoadError
from pipelines.identifiers import pseudonymise

REPO = Path(__file__).resolve().parent.parent
KEY = "a-secret-of-at-least-16-chars"


def visits(client: str = "C1", therapist: str = "T1", n: int = 2, prefix: str = "A") -> list[dict]:
    return [appointment(f"{prefix}{i}", f"2026-0{i + 1}-10", client=client, therapist=therapist) for i in range(n)]


def refusal(warehouse: Warehouse, rows: list[dict]) -> str:
    with pytest.raises(LoadError) as caught:
        warehouse.load(rows)
    message = str(caught.value)
    assert "\n" not in message
    assert not warehouse.path.exists(), "a refused load wrote a warehouse"
    return message


@pytest.mark.parametrize("client", ["jane.doe@example.org", "JANE@EXAMPLE.CO.UK"])
def test_client_id_holding_email_addresses_is_refused(warehouse, client):
    rows = visits() + visits(client=client, prefix="B")
    message = refusal(warehouse, rows)
    assert "log1.csv: line 4: column client_id holds values that look like e-mail addresses" in message
    assert client not in message, "the error must not repeat the identifier"
    assert "--pseudonymise-key" in message


@pytest.mark.parametrize("therapist", ["+44 7700 900123", "(555) 123-4567", "555-123-4567", "020 7946 0958"])
def test_therapist_id_holding_phone_numbers_is_refused(warehouse, therapist):
    message = refusal(warehouse, visits(therapist=therapist))
    assert "column therapist_id holds values that look like phone numbers" in message


def test_client_ids_that_are_nhs_numbers_are_refused(warehouse):
    nhs_numbers = ["9434765919", "4010232137", "9990001235"]  # valid modulus-11 check digits
    rows = [row for i, n in enumerate(nhs_numbers) for row in visits(client=n, prefix=f"N{i}-")]
    assert "look like NHS numbers" in refusal(warehouse, rows)


def test_numbered_client_ids_are_not_mistaken_for_nhs_numbers(warehouse):
    """One random 10-digit number in eleven passes the NHS check; a numbering scheme is not refused."""
    numbers = np.random.default_rng(7).integers(10**9, 10**10, 200)
    rows = [appointment(f"A{i}", "2026-01-10", client=str(n)) for i, n in enumerate(numbers)]
    assert warehouse.load(rows).totals["rows_loaded"] == 200


def test_pseudonymise_key_loads_identifier_ids_as_pseudonyms(warehouse):
    rows = visits(client="jane.doe@example.org", therapist="+44 7700 900123", n=3)
    report = warehouse.load(rows, pseudonymise_key=KEY)
    assert report.reconciles and report.totals["rows_loaded"] == 3
    stored = warehouse.query("SELECT DISTINCT client_id, therapist_id FROM appointments").row(0)
    assert stored[0].startswith("p") and len(stored[0]) == 21 and "@" not in stored[0]
    assert stored[1].startswith("p") and "7700" not in stored[1]
    assert warehouse.episode(client=stored[0])["attended_sessions"] == 3


def test_same_key_gives_the_same_pseudonyms_across_loads(warehouse):
    warehouse.load(visits(client="jane.doe@example.org", n=2), pseudonymise_key=KEY)
    warehouse.load([appointment("A9", "2026-03-10", client="jane.doe@example.org")], pseudonymise_key=KEY)
    clients = warehouse.query("SELECT DISTINCT client_id FROM appointments")
    assert clients.height == 1


def test_a_short_pseudonymise_key_is_refused(warehouse):
    with pytest.raises(LoadError, match="at least 16"):
        warehouse.load(visits(), pseudonymise_key="short")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=40, unique=True), st.text(min_size=16))
def test_pseudonyms_are_one_to_one_and_repeatable(ids, key):
    frame = pl.DataFrame({"client_id": ids, "therapist_id": ids})
    once = pseudonymise(frame, key.encode())
    assert once["client_id"].n_unique() == len(ids)
    assert once.equals(pseudonymise(frame, key.encode()))
    assert not set(once["client_id"]) & set(ids)


def test_cli_reads_the_key_from_the_environment(tmp_path):
    log = write_csv(tmp_path, visits(client="jane.doe@example.org"))
    db = tmp_path / "w.duckdb"
    command = [sys.executable, "-m", "pipelines.cli", "ingest", str(log), "--db", str(db), "--extract-date", "2026-06-30"]
    refused = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if k != "CLINIC_OUTCOMES_PSEUDONYMISE_KEY"})
    assert refused.returncode == 1 and "e-mail addresses" in refused.stderr and "Traceback" not in refused.stderr
    loaded = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "CLINIC_OUTCOMES_PSEUDONYMISE_KEY": KEY})
    assert loaded.returncode == 0, loaded.stderr
