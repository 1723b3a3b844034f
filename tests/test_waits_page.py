"""The Waits page (docs/dashboard.md#waits): its numbers are the waits reports', hand-checked on the
worked example of docs/metrics/waits.md; its empty states say what is missing; the filters narrow it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from dashboard_fixtures import _release_cached_connections, dashboard_on, sample_db  # noqa: F401
from streamlit.testing.v1 import AppTest

from conftest import Warehouse, appointment
from pipelines.queries import MetricsReader, Scope

WORKED_EXAMPLE = [  # docs/metrics/waits.md#worked-example, row for row
    appointment("A1", "2026-02-16", client="A", referral_date="2026-01-05"),
    appointment("A2", "2026-02-23", client="A", discharge_date="2026-02-23", discharge_reason="planned"),
    appointment("B1", "2026-02-17", client="B", referral_date="2026-01-05"),
    appointment("B2", "2026-03-31", "dna", client="B", discharge_date="2026-04-01", discharge_reason="dropout"),
    appointment("C1", "2026-02-09", client="C", referral_date="2026-02-02"),
    appointment("D1", "2026-03-09", client="D", referral_date="2025-11-03"),
    appointment("D2", "2026-06-08", client="D"),
]


def waits_page(db: Path, monkeypatch: pytest.MonkeyPatch, **query: str) -> AppTest:
    return dashboard_on(db, monkeypatch, "waits", **query)


def loaded(tmp_path: Path, rows: list[dict]) -> Path:
    warehouse = Warehouse(tmp_path)
    warehouse.load(rows, extract_date=dt.date(2026, 6, 30))
    return warehouse.path

def table(at: AppTest, index: int) -> pl.DataFrame:
    return pl.from_pandas(at.dataframe[index].value)

def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]

def test_waits_page_shows_the_worked_example_as_counted_by_hand(tmp_path: Path, monkeypatch) -> None:
    at = waits_page(loaded(tmp_path, WORKED_EXAMPLE), monkeypatch)
    tiles = {m.label: m.value for m in at.metric}
    assert tiles == {
        "Seen within 6 weeks (standard 75%)": "50.0% (2 of 4)",  # 7 and 42 days; 43 and 126 are not
        "Seen within 18 weeks (standard 95%)": "100.0% (4 of 4)",  # 126 days counts
        "Median wait": "42.5 days",
        "Median days to session 2": "49",  # 7 (A) and 91 (D)
        "Over 28 days": "50.0% (1 of 2)",
        "Over 90 days": "50.0% (1 of 2)",
    }
    by_clinic, bands = table(at, 0), table(at, 1)
    assert by_clinic.select("clinic_id", "waited", "within_6_weeks", "within_18_weeks", "second_sessions",
                            "over_28_days", "over_90_days", "booked_over_28_days", "dropouts",
                            "closed").rows() == [("K1", 4, 2, 4, 2, 1, 1, 1, 2, 3)]
    assert bands.select("band", "numerator", "denominator").rows() == [
        ("0-14", 0, 1), ("15-28", 0, 0), ("29-90", 1, 1), ("over 90", 0, 0), ("none booked", 1, 1)]
    assert len(charts(at)) == 3

def test_dropout_by_next_booking_shows_counts_beside_the_rates_and_in_the_tooltip(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    at = waits_page(loaded(tmp_path, WORKED_EXAMPLE), monkeypatch)
    bands = charts(at)[-1]
    assert [layer["mark"]["type"] for layer in bands["layer"]] == ["bar", "text"]
    assert bands["layer"][1]["encoding"]["text"]["field"] == "counts"
    tooltip = {t["field"] for t in bands["layer"][0]["encoding"]["tooltip"]}
    assert {"numerator", "denominator", "rate"} <= tooltip
    trend = charts(at)[0]
    assert {"numerator", "denominator"} <= {t["field"] for t in trend["layer"][0]["encoding"]["tooltip"]}

def test_waits_page_without_referral_dates_says_which_column_is_missing(tmp_path: Path, monkeypatch) -> None:
    rows = [{k: v for k, v in row.items() if k != "referral_date"} for row in WORKED_EXAMPLE]
    at = waits_page(loaded(tmp_path, rows), monkeypatch)
    infos = [info.value for info in at.info]
    assert any(text.startswith("No referral dates in this extract") and "referral_date" in text for text in infos)
    # the other two sections need no referral date and are still drawn
    assert "Median days to session 2" in {m.label for m in at.metric}
    assert len(charts(at)) == 2

def test_waits_page_with_no_second_session_says_so(tmp_path: Path, monkeypatch) -> None:
    rows = [row for row in WORKED_EXAMPLE if row["appointment_id"] in ("B1", "B2", "C1")]
    at = waits_page(loaded(tmp_path, rows), monkeypatch)
    assert any("no gap to show" in info.value for info in at.info)
    assert "Median days to session 2" not in {m.label for m in at.metric}

def test_waits_page_with_nothing_closed_draws_no_dropout_chart(tmp_path: Path, monkeypatch) -> None:
    at = waits_page(loaded(tmp_path, [row for row in WORKED_EXAMPLE if row["client_id"] == "D"]), monkeypatch)
    assert any("no dropout to set against the next booking" in info.value for info in at.info)
    assert [c.get("layer", [{}])[0].get("mark", {}).get("type") for c in charts(at)] == ["line", "bar"]

def test_clinic_filter_narrows_the_waits_page_to_that_clinic(sample_db: Path, monkeypatch) -> None:  # noqa: F811
    at = waits_page(sample_db, monkeypatch, clinic="K02")
    reader = MetricsReader.open(sample_db)
    try:
        waits = reader.run("waits", Scope(clinics=("K02",))).row(0, named=True)
        everyone = reader.run("waits").row(0, named=True)
    finally:
        reader.close()
    assert waits["waited"] < everyone["waited"]
    tiles = {m.label: m.value for m in at.metric}
    assert tiles["Seen within 6 weeks (standard 75%)"].endswith(f"({waits['within_6_weeks']:,} of {waits['waited']:,})")
    assert table(at, 0)["clinic_id"].to_list() == ["K02"]


# Above the bundled sample's size the generator plants a clinic that books second appointments weeks out
# (docs/sample-data.md#a-clinic-books-second-appointments-weeks-out).
PLANTED_CLIENTS = 2400


@pytest.fixture(scope="module")
def planted_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipelines.generate import EXTRACT_DATE, generate_appointments, write_appointments

    folder = tmp_path_factory.mktemp("slow_booking")
    warehouse = Warehouse(folder)
    warehouse.load([write_appointments(generate_appointments(PLANTED_CLIENTS, 42), folder)],
                   extract_date=EXTRACT_DATE)
    return warehouse.path


def test_planted_slow_booking_clinic_stands_out_in_the_waits_pages_clinic_rows(planted_db: Path, monkeypatch) -> None:
    from pipelines.generate import PLANTED, SAMPLE_CLIENTS

    planted = PLANTED["slow_booking_clinic"]
    assert PLANTED_CLIENTS > planted["more_clients_than"] == SAMPLE_CLIENTS
    clinics = table(waits_page(planted_db, monkeypatch), 0).with_columns(
        booked_late=pl.col("booked_over_28_days") / pl.col("closed"))

    def top(column: str) -> str:
        return clinics.sort(column, descending=True)["clinic_id"][0]

    assert top("median_second_gap") == top("booked_late") == top("dropout_rate") == planted["clinic_id"]
    slow = clinics.filter(pl.col("clinic_id") == planted["clinic_id"]).row(0, named=True)
    others = clinics.filter(pl.col("clinic_id") != planted["clinic_id"])
    assert slow["median_second_gap"] > 28 >= others["median_second_gap"].max()
    assert slow["booked_late"] > 0.5 > 0.05 > others["booked_late"].max()


def test_the_bundled_sample_has_no_slow_booking_clinic(sample_db: Path) -> None:  # noqa: F811
    reader = MetricsReader.open(sample_db)
    try:
        clinics = reader.run("waits_by_clinic")
    finally:
        reader.close()
    assert clinics["median_second_gap"].max() <= 14
    assert (clinics["booked_over_28_days"] / clinics["closed"]).max() < 0.05


def test_waits_shareable_tables_round_and_suppress_every_count(sample_db: Path) -> None:  # noqa: F811
    from dashboard import frames, shareable_tables
    from pipelines.disclosure import SMALL_COUNT_MAX, SUPPRESSED, shareable

    reader = MetricsReader.open(sample_db)
    try:
        tables = {
            "clinics": (frames.waits_by_clinic(reader.run("waits_by_clinic")), shareable_tables.WAITS_BY_CLINIC),
            "bands": (frames.with_rate(reader.run("dropout_by_next_booking"), "numerator", "denominator"),
                      shareable_tables.DROPOUT_BY_NEXT_BOOKING),
        }
    finally:
        reader.close()
    for name, (table, spec) in tables.items():
        shared = shareable(table, spec)
        assert "median_second_gap" not in shared.columns, name
        for column in spec.counts:
            for exact, shown in zip(table[column], shared[column], strict=True):
                # a small count is hidden; any other is hidden beside one (its part or total) or rounded to 5
                if 1 <= exact <= SMALL_COUNT_MAX:
                    assert shown == SUPPRESSED, (name, column)
                else:
                    assert shown == SUPPRESSED or int(shown) % 5 == 0, (name, column)


def test_dropout_bands_are_drawn_in_their_order_even_when_one_is_empty(tmp_path: Path, monkeypatch) -> None:
    at = waits_page(loaded(tmp_path, WORKED_EXAMPLE), monkeypatch)  # 15-28 and over 90 are 0 of 0
    bars = charts(at)[-1]["layer"][0]["encoding"]["y"]
    assert bars["sort"] == ["0-14", "15-28", "29-90", "over 90", "none booked"]


@pytest.mark.parametrize("clinics", [None, ("K01", "K04")])
def test_the_waits_pages_clinic_and_month_rows_add_up_to_its_tiles(sample_db: Path, clinics) -> None:  # noqa: F811
    reader = MetricsReader.open(sample_db)
    scope = Scope(clinics=clinics)
    try:
        waits = reader.run("waits", scope).row(0, named=True)
        by_clinic, by_month = reader.run("waits_by_clinic", scope), reader.run("waits_by_month", scope)
        bands, gaps = reader.run("dropout_by_next_booking", scope), reader.run("second_session_gaps", scope)
    finally:
        reader.close()
    for column in ("waited", "within_6_weeks", "within_18_weeks", "second_sessions", "over_28_days", "over_90_days"):
        assert by_clinic[column].sum() == waits[column], column
    for column in ("waited", "within_6_weeks", "within_18_weeks"):
        assert by_month[column].sum() == waits[column], column
    assert by_clinic["closed"].sum() == bands["denominator"].sum()
    assert by_clinic["dropouts"].sum() == bands["numerator"].sum()
    assert gaps["episodes"].sum() == waits["second_sessions"]
    assert gaps.filter(pl.col("days") > 28)["episodes"].sum() == waits["over_28_days"]
    assert set(by_clinic["clinic_id"]) == set(clinics or by_clinic["clinic_id"])
