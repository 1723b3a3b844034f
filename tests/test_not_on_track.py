"""Not on track (docs/metrics/not-on-track.md): the intake bands, the service's expected change from its
closed episodes, and the open episodes whose latest change is strictly worse than the 90th percentile
line. Hand-computed fixtures on PHQ-9 (clinical cut-off 10, reliable change 6)."""

from __future__ import annotations

import pytest
from conftest import Warehouse
from hypothesis import given, settings
from hypothesis import strategies as st
from test_metrics import EXTRACT, course, dates

from pipelines.queries import MetricsReader, Scope

CLOSED_START, OPEN_START = "2025-01-06", "2026-05-04"
# Band 1 (first PHQ-9 10 to under 16): 21 closed episodes, first score 14, changes at session 3 sorted.
# quantile_cont at p over n = 21 values is the value at position p·20 (from 0): the 90th percentile
# line (p = 0.10) is the 3rd smallest, 0; the 75th (p = 0.25) the 6th, 2; the median (p = 0.5) the 11th, 7.
BAND_1_CHANGES = [-2, -1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 14, 14, 14]
# Band 2 (16 to under 22): only 19 closed episodes, one short of the minimum of 20.
BAND_2_CHANGES = [-3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]


def closed(prefix: str, first: int, changes: list[int]) -> list[dict]:
    """Closed (discharged) episodes scored at sessions 1 and 3, session 2 unscored."""
    rows = []
    for k, change in enumerate(changes):
        rows += course(f"{prefix}{k:02d}", dates(CLOSED_START, 3), phq9=[first, None, first - change],
                       discharge_date="2025-02-01", discharge_reason="planned")
    return rows


def open_episode(client: str, first: int, latest: int, clinic: str = "K1") -> list[dict]:
    return course(client, dates(OPEN_START, 3), phq9=[first, None, latest], clinic=clinic)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    rows = [
        *closed("CB1_", 14, BAND_1_CHANGES),
        *closed("CB2_", 18, BAND_2_CHANGES),
        *open_episode("O_ON_LINE", 14, 14),  # change 0: exactly on the 90th percentile line
        *open_episode("O_BELOW", 14, 15),  # change -1: just below it
        *open_episode("O_ABOVE", 14, 10),  # change 4: above it
        *open_episode("O_FEW", 18, 25),  # change -7, but band 2 has too few closed episodes
        *open_episode("O_OTHER_CLINIC", 14, 20, clinic="K2"),  # change -6, in a clinic with no closed episode
        # worse than the line at session 3 but better at its latest score (session 4): on track
        *course("O_RECOVERED", dates(OPEN_START, 4), phq9=[14, None, 20, 12]),
    ]
    warehouse = Warehouse(tmp_path_factory.mktemp("not_on_track"))
    warehouse.load(rows, extract_date=EXTRACT)
    return warehouse


def run(warehouse: Warehouse, report: str, scope: Scope = Scope(), clinics=None, **extra):
    reader = MetricsReader.open(warehouse.path).restricted(clinics)
    try:
        return reader.run(report, scope, **extra)
    finally:
        reader.close()


def flagged(warehouse: Warehouse, scope: Scope = Scope(), clinics=None) -> dict[str, dict]:
    return {row["client_id"]: row for row in run(warehouse, "not_on_track", scope, clinics).iter_rows(named=True)}


def test_intake_band_is_the_first_scores_distance_past_the_cutoff_in_reliable_changes(service):
    bands = service.query("SELECT DISTINCT client_id, intake_band, intake_band_label FROM trajectories "
                          "WHERE client_id IN ('O_BELOW', 'O_FEW')").sort("client_id")
    assert bands.rows() == [("O_BELOW", 1, "10 to under 16"), ("O_FEW", 2, "16 to under 22")]


@pytest.mark.parametrize(("measure", "first_scores", "bands"), [
    ("phq9", [9, 10, 15, 16, 21, 22, 27],
     ["under 10", "10 to under 16", "10 to under 16", "16 to under 22", "16 to under 22", "22 and over",
      "22 and over"]),
    # higher is better: the clinical range is below 25, and the bands run downwards from it
    ("ors", [25.0, 24.9, 20.1, 20.0, 15.1, 15.0, 3.0],
     ["25 and over", "over 20 to under 25", "over 20 to under 25", "over 15 to 20", "over 15 to 20",
      "15 and under", "15 and under"]),
])
def test_intake_bands_are_cut_at_the_cutoff_and_each_reliable_change_past_it(tmp_path, measure, first_scores,
                                                                             bands):
    from pipelines.config import Settings

    warehouse = Warehouse(tmp_path)
    warehouse.load([row for k, first in enumerate(first_scores)
                    for row in course(f"B{k}", dates(OPEN_START, 2), **{measure: [first, first]})],
                   extract_date=EXTRACT, settings=Settings(plateau_measure=measure))
    labels = warehouse.query("SELECT client_id, intake_band_label FROM trajectories WHERE score_number = 1")
    assert dict(labels.iter_rows()) == {f"B{k}": band for k, band in enumerate(bands)}


def test_expected_change_is_the_median_and_the_75th_and_90th_percentile_lines_of_closed_episodes(service):
    lines = run(service, "episode_trajectory", client_id="O_BELOW", episode_id="1")
    assert lines.rows(named=True) == [
        {"session_number": 1, "change": 0.0, "expected_median": 0.0, "expected_75th": 0.0, "expected_90th": 0.0},
        {"session_number": 3, "change": -1.0, "expected_median": 7.0, "expected_75th": 2.0, "expected_90th": 0.0},
    ]


def test_episode_exactly_on_the_90th_percentile_line_is_on_track(service):
    assert "O_ON_LINE" not in flagged(service)


def test_episode_just_below_the_90th_percentile_line_is_not_on_track(service):
    row = flagged(service)["O_BELOW"]
    assert (row["session_number"], row["latest_score"], row["latest_change"]) == (3, 15, -1)
    assert (row["expected_90th"], row["expected_median"], row["closed_episodes"]) == (0, 7, 21)
    assert row["intake_band"] == "10 to under 16"


def test_too_few_closed_episodes_flags_nobody(service):
    assert "O_FEW" not in flagged(service)
    assert run(service, "episode_trajectory", client_id="O_FEW", episode_id="1")["expected_90th"].is_null().all()


def test_only_the_latest_score_counts_for_not_on_track(service):
    assert "O_RECOVERED" not in flagged(service)


def test_not_on_track_lists_open_episodes_only(service):
    # the closed CB1_00 and CB1_01 ended below the line (changes -2 and -1); they are never listed
    assert set(flagged(service)) == {"O_BELOW", "O_OTHER_CLINIC"}


def test_expected_change_is_drawn_from_the_closed_episodes_of_the_clinics_in_scope(service):
    # K2 has no closed episode: no expectation there, so nobody is flagged, for a filter or a restricted user
    assert flagged(service, Scope(clinics=("K2",))) == {}
    assert flagged(service, clinics=("K2",)) == {}
    assert run(service, "episode_trajectory", clinics=("K1",), client_id="O_OTHER_CLINIC", episode_id="1").is_empty()


# --- the generator's planted clients going off track (docs/sample-data.md#clients-going-off-track) ----------------

GENERATED_CLIENTS, GENERATED_SEED = 3000, 42  # off-track clients are planted above the bundled sample's 2,000


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    from pipelines.generate import EXTRACT_DATE, generate_appointments, write_appointments

    folder = tmp_path_factory.mktemp("off_track_generated")
    warehouse = Warehouse(folder)
    warehouse.load([write_appointments(generate_appointments(GENERATED_CLIENTS, GENERATED_SEED), folder)],
                   extract_date=EXTRACT_DATE)
    return warehouse


def judged_open_episodes(warehouse: Warehouse) -> set[str]:
    """Clients whose open episode's latest score falls at a band and session that has an expectation."""
    return set(warehouse.query("""
        SELECT t.client_id FROM trajectories AS t
        INNER JOIN expected_change(NULL, NULL) AS x USING (intake_band, session_number)
        WHERE t.status = 'open' AND t.score_number = (
            SELECT max(score_number) FROM trajectories AS l
            WHERE l.client_id = t.client_id AND l.episode_id = t.episode_id)""")["client_id"].to_list())


def test_planted_off_track_clients_are_all_found_not_on_track(generated):
    from pipelines.generate import PLANTED, planted_client_ids

    planted = set(planted_client_ids("off_track_clients", GENERATED_CLIENTS))
    assert len(planted) == 20 and GENERATED_CLIENTS > PLANTED["off_track_clients"]["more_clients_than"]
    assert planted <= set(flagged(generated))  # 20 of 20 found


def test_no_more_than_12_percent_of_the_other_judged_open_episodes_are_flagged(generated):
    """The line is the 10th percentile of the closed episodes' change, so about one open episode in ten that
    has an expectation falls below it by chance; at seed 42, 11 of the 146 unplanted ones do (7.5%)."""
    from pipelines.generate import planted_client_ids

    others = judged_open_episodes(generated) - set(planted_client_ids("off_track_clients", GENERATED_CLIENTS))
    assert len(others) > 100
    assert len(others & set(flagged(generated))) <= 0.12 * len(others)


def test_bundled_sample_size_has_no_planted_off_track_client():
    from pipelines.generate import SAMPLE_CLIENTS, planted_client_ids

    assert planted_client_ids("off_track_clients", SAMPLE_CLIENTS) == []


# --- the rule for every input: strictly below the 10th percentile of the closed episodes' changes -------------

def line_service(closed_changes: list[float], open_changes: list[float]):
    """An in-memory DuckDB holding a trajectories table of one band at one session (session 3), with the
    warehouse's own macros and the not_on_track report's SQL: the rule without a load, for many inputs."""
    import duckdb

    from pipelines.queries import report_sql
    from pipelines.warehouse import model_sql

    con = duckdb.connect()
    rows = [(f"C{k}", "closed", change) for k, change in enumerate(closed_changes)]
    rows += [(f"O{k}", "open", change) for k, change in enumerate(open_changes)]
    con.sql("""CREATE TABLE trajectories AS SELECT client_id, '1' AS episode_id, 'phq9' AS measure,
               3 AS session_number, 14.0 - change AS score, change AS improvement, 1 AS intake_band,
               1 AS score_number, '10 to under 16' AS intake_band_label, status, 'K1' AS clinic_id,
               'T1' AS therapist_id, 'assessment' AS first_session_type, DATE '2026-05-04' AS first_attended_date
               FROM (SELECT unnest(?, recursive := true)) AS r(client_id, status, change)""",
            params=[[{"client_id": c, "status": s, "change": float(x)} for c, s, x in rows]])
    for macro in ("macros/in_scope", "macros/expected_change"):
        con.execute(model_sql(macro))
    con.execute(f"CREATE TABLE expected_lines AS {model_sql('metrics/expected_lines')}")
    sql, wanted = report_sql("not_on_track")
    flagged_now = con.sql(sql, params={name: Scope().params().get(name) for name in wanted}).pl()
    return con, set(flagged_now["client_id"].to_list())


def tenth_percentile(values: list[float]) -> float:
    """quantile_cont at 0.10 by hand: linear between the two values either side of position 0.1·(n − 1)."""
    ordered = sorted(values)
    position = 0.1 * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (position - low) * (ordered[high] - ordered[low]), 6)


@settings(max_examples=40, deadline=None)
@given(closed_changes=st.lists(st.integers(-12, 15), min_size=20, max_size=60),
       open_changes=st.lists(st.integers(-15, 15), min_size=1, max_size=10))
def test_an_open_episode_is_flagged_exactly_when_its_change_is_below_the_90th_percentile_line(
        closed_changes, open_changes):
    line = tenth_percentile(closed_changes)
    con, flagged_now = line_service(closed_changes, [*open_changes, line])  # the last one exactly on the line
    try:
        assert flagged_now == {f"O{k}" for k, change in enumerate(open_changes) if change < line}
    finally:
        con.close()


@pytest.mark.parametrize("closed", [1, 19, 20])
def test_the_lines_need_at_least_20_closed_episodes_at_the_band_and_session(closed):
    con, flagged_now = line_service([0] * closed, [-99])
    con.close()
    assert flagged_now == ({"O0"} if closed >= 20 else set())
