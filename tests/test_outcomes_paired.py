"""The Outcomes page's national paired panel (docs/dashboard.md#outcomes-and-hope, docs/metrics/nhs-paired.md):
beside the per-measure table, its rates with their counts and the 50% recovery standard, one sentence on
why paired recovery differs from PHQ-9 recovery in the current selection, a shareable download, and the
empty states."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import Warehouse, appointment
from dashboard_fixtures import _release_cached_connections, dashboard_on, sample_db  # noqa: F401
from hypothesis import given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from dashboard import charts, explain, frames, shareable_tables
from pipelines.disclosure import SUPPRESSED, shareable
from pipelines.queries import MetricsReader, Scope

PANEL = "National paired measures"


def outcomes_page(db: Path, monkeypatch: pytest.MonkeyPatch, **query: str) -> AppTest:
    return dashboard_on(db, monkeypatch, "outcomes", **query)


def expected_rates(db: Path, scope: Scope = Scope()) -> tuple[pl.DataFrame, pl.DataFrame]:
    reader = MetricsReader.open(db)
    try:
        return (frames.nhs_paired_rates(reader.run("nhs_paired", scope)),
                frames.outcome_rates(reader.run("outcomes", scope)).filter(pl.col("is_all_clinics")))
    finally:
        reader.close()


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def test_paired_panel_stands_beside_the_per_measure_table_with_counts_and_the_50_percent_standard(
        sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    at = outcomes_page(sample_db, monkeypatch)
    assert [h.value for h in at.subheader][:2] == ["Per measure", PANEL]
    per_measure_column, paired_column = at.columns[:2]
    assert per_measure_column.subheader[0].value == "Per measure" and paired_column.subheader[0].value == PANEL
    paired, per_measure = expected_rates(sample_db)
    shown = paired_column.dataframe[0].value
    assert shown["measure"].tolist() == list(frames.NHS_PAIRED)
    assert shown["numerator"].tolist() == paired["numerator"].to_list()  # counts beside each rate
    assert shown["denominator"].tolist() == paired["denominator"].to_list()
    spec = json.loads(paired_column.get("vega_lite_chart")[0].proto.spec)
    bars, standard = spec["layer"]
    assert bars["mark"]["type"] == "bar" and standard["mark"]["type"] == "tick"
    # shown by their names (docs/dashboard.md#words-and-numbers)
    assert set(per_measure_column.dataframe[0].value["measure"]) == {frames.MEASURE_NAMES[m] for m in per_measure["measure"]}


def test_the_sentence_gives_phq9_and_paired_recovery_of_the_current_selection(
        sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    for query, scope in (({}, Scope()), ({"clinic": "K02"}, Scope(clinics=("K02",)))):
        at = outcomes_page(sample_db, monkeypatch, **query)
        paired, per_measure = expected_rates(sample_db, scope)
        both = paired.filter(pl.col("measure") == "recovery").row(0, named=True)
        phq9 = per_measure.filter((pl.col("measure") == "phq9") & (pl.col("outcome") == "recovery")).row(0, named=True)
        [sentence] = [t for t in texts(at) if t.startswith("PHQ-9 recovery is")]
        assert f"{phq9['rate']:.1%} ({phq9['numerator']:,} of {phq9['denominator']:,})" in sentence
        assert f"paired recovery {both['rate']:.1%} ({both['numerator']:,} of {both['denominator']:,})" in sentence
        assert ("lower than" in sentence) == (both["rate"] < phq9["rate"])


def test_paired_panel_has_a_shareable_download(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    at = outcomes_page(sample_db, monkeypatch)
    keys = [b.proto.id for b in at.get("download_button")]
    assert any("shareable_nhs_paired" in key for key in keys), keys


def small_course(client: str, gad7: int | None, treatment: int, clinic: str = "K1") -> list[dict[str, object]]:
    """An assessment then `treatment` attended treatment sessions in January 2026, PHQ-9 15 falling by 3 a
    session (GAD-7 too, when given), closed by a planned discharge at the last session."""
    rows = []
    for n in range(treatment + 1):
        date = f"2026-01-{5 + 7 * n:02d}"
        last = n == treatment
        rows.append(appointment(f"{client}-{n}", date, client=client, clinic=clinic,
                                session_type="assessment" if n == 0 else "treatment", phq9=15 - 3 * n,
                                gad7=None if gad7 is None else gad7 - 3 * n,
                                discharge_date=date if last else None, discharge_reason="planned" if last else None))
    return rows


def test_paired_panel_without_gad7_in_the_extract_says_so(warehouse: Warehouse,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse.load([row for c in range(3) for row in small_course(f"C{c}", None, 3)])
    at = outcomes_page(warehouse.path, monkeypatch)
    assert any(text.startswith("No GAD-7 scores in this selection") for text in (i.value for i in at.info))
    assert len(at.get("vega_lite_chart")) == 1  # the per-measure bars only
    assert not any(t.startswith("PHQ-9 recovery is") for t in texts(at))


def test_paired_panel_with_nothing_finished_says_so(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    # an assessment and one treatment session is not a course of treatment
    warehouse.load([row for c in range(3) for row in small_course(f"C{c}", 12, 1)])
    at = outcomes_page(warehouse.path, monkeypatch)
    assert any(text.startswith("No closed episode in this selection finished a course of treatment")
               for text in (i.value for i in at.info))
    assert len(at.get("vega_lite_chart")) == 1


counts = st.integers(min_value=0, max_value=60)


@settings(max_examples=200, deadline=None)
@given(finished=counts, paired=counts, caseness=counts, recovery=counts, improvement=counts, deterioration=counts,
       reliable_recovery=counts)
def test_rate_beside_a_suppressed_paired_count_is_suppressed(finished, paired, caseness, recovery, improvement,
                                                             deterioration, reliable_recovery) -> None:
    report = pl.DataFrame([{"finished_treatment": finished, "paired": paired, "paired_at_caseness": caseness,
                            "recovery": recovery, "reliable_improvement": improvement,
                            "reliable_deterioration": deterioration, "reliable_recovery": reliable_recovery}])
    exact = frames.nhs_paired_rates(report)
    published = shareable(exact, shareable_tables.NHS_PAIRED)
    for row, out in zip(exact.iter_rows(named=True), published.iter_rows(named=True), strict=True):
        for column in ("numerator", "denominator"):
            assert (out[column] == SUPPRESSED) == (1 <= row[column] <= 7)
            assert out[column] == SUPPRESSED or int(out[column]) % 5 == 0
        if SUPPRESSED in (out["numerator"], out["denominator"]):
            assert out["rate"] == SUPPRESSED
    # one count shown in two rows (the paired episodes, those at caseness) reads the same in both
    assert published["denominator"][2] == published["denominator"][3] == published["numerator"][0]
    assert published["denominator"][1] == published["denominator"][4]


def test_recovery_standard_is_drawn_once_as_a_tick_at_half() -> None:
    rates = frames.nhs_paired_rates(pl.DataFrame([{"finished_treatment": 10, "paired": 9, "paired_at_caseness": 8,
                                                   "recovery": 4, "reliable_improvement": 6,
                                                   "reliable_deterioration": 1, "reliable_recovery": 3}]))
    spec = charts.paired_rates(rates).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "tick"]
    assert spec["layer"][1]["encoding"]["x"]["field"] == "standard"
    [tick] = spec["datasets"][spec["layer"][1]["data"]["name"]]
    assert tick == {"measure": "recovery", "standard": 0.5}  # on the recovery bar only, not on every rate
    sentence = explain.paired_difference_sentence(pl.DataFrame(
        {"measure": ["phq9"], "outcome": ["recovery"], "numerator": [5], "denominator": [8], "rate": [0.625]}), rates)
    assert sentence.startswith("PHQ-9 recovery is 62.5% (5 of 8), paired recovery 50.0% (4 of 8): lower than")
