"""Flags over time on the Therapists page (docs/metrics/therapist-cusum.md, docs/dashboard.md#therapists),
run headless with Streamlit's AppTest on the sample warehouse, whose generator plants a rise in
one-session dropout at two therapists (T0103 and T0305)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pyarrow as pa
import pytest
from dashboard_fixtures import _release_cached_connections, dashboard_on, sample_db  # noqa: F401
from streamlit.testing.v1 import AppTest

from dashboard.cusum_panel import status_sentence


@pytest.fixture
def therapists_page(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:  # noqa: F811
    return dashboard_on(sample_db, monkeypatch, "therapists")


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def cusum_table(at: AppTest):
    return next(frame for frame in at.dataframe if "latest_cusum" in frame.value.columns).value


def cusum_datasets(at: AppTest) -> list[list[dict]]:
    """The rows of each dataset the CUSUM chart draws (Streamlit sends them apart from the spec, as Arrow)."""
    chart = next(c for c in at.get("vega_lite_chart") if "CUSUM" in c.proto.spec)
    return [pa.ipc.open_stream(io.BytesIO(dataset.data.data)).read_all().to_pylist()
            for dataset in chart.proto.datasets]


def test_cusum_table_lists_signalling_therapists_first(therapists_page):
    table = cusum_table(therapists_page)
    signalling = table[table["status"] == "signalling"]["therapist_id"].tolist()
    assert sorted(signalling) == ["T0103", "T0305"]
    assert table["therapist_id"].tolist()[:2] == signalling
    assert table["therapist_id"].is_unique and len(table) == 50


def test_cusum_chart_marks_the_date_the_score_crossed_the_threshold(therapists_page):
    at = therapists_page
    chosen = at.selectbox(key="cusum_therapist").value
    row = cusum_table(at).set_index("therapist_id").loc[chosen]
    crossings = [d for d in cusum_datasets(at) if d and all(point["crossed"] for point in d)]
    assert [str(point["first_attended_date"])[:10] for point in crossings[0]] == [str(row["last_signal_date"])[:10]]
    assert any(f"crossed the threshold on {str(row['last_signal_date'])[:10]}" in m.value for m in at.markdown)


def test_a_higher_threshold_in_the_panel_leaves_no_therapist_signalling(therapists_page):
    at = therapists_page
    at.number_input(key="cusum_threshold").set_value(100.0)
    rerun(at)
    assert set(cusum_table(at)["status"]) == {"no signal"}
    assert any("has never reached the threshold" in m.value for m in at.markdown)


def test_choosing_another_therapist_draws_their_score(therapists_page):
    at = therapists_page
    at.selectbox(key="cusum_therapist").set_value("T0101")
    rerun(at)
    episodes = cusum_table(at).set_index("therapist_id").loc["T0101", "episodes"]
    drawn = max(len(d) for d in cusum_datasets(at))
    assert drawn == episodes


SUMMARY = {"episodes": 40, "signals": 1, "first_signal_date": dt.date(2025, 3, 1),
           "last_signal_date": dt.date(2025, 3, 1), "latest_cusum": 6.5, "peak": 7.25, "threshold": 6.0}


@pytest.mark.parametrize(("status", "latest", "words"), [
    ("signalling", 6.5, "crossed the threshold on 2025-03-01, and is still above it after 40 closed episodes: "
                        "the excess goes on."),
    ("signalled before", 1.25, "crossed the threshold on 2025-03-01 and has since fallen back below it (latest "
                               "1.25 of 6, after 40 closed episodes): that excess is over."),
    ("no signal", 1.25, "has never reached the threshold over 40 closed episodes (highest 7.25 of 6): no run of "
                        "dropout beyond what the case mix explains."),
])
def test_cusum_status_is_said_in_plain_words(status, latest, words):
    assert status_sentence({**SUMMARY, "status": status, "latest_cusum": latest}) == words
