"""The measure catalogue (docs/metrics/measures.md): measures as data, one test per rule, and the
clinicalsignificance package's published counts on the real claus_2020 data."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import pytest

from conftest import Warehouse, appointment, report, run_cli, write_csv
from pipelines.config import Settings, load_settings
from pipelines.errors import LoadError
from pipelines.measures import BUILT_IN, jacobson_truax
from test_real_data import EXTERNAL, needs

CLAUS = EXTERNAL / "clinicalsignificance_real" / "claus_2020.csv"


def settings_from(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def refusal(tmp_path: Path, text: str) -> str:
    with pytest.raises(LoadError) as caught:
        settings_from(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message and str(tmp_path / "settings.toml") in message
    return message


WELLBEING = """
[measures.wellbeing]
label = "Wellbeing"
min = 0
max = 10
integer = false
higher_is_better = true
clinical_cutoff = 5
reliable_change = 1.5
"""


# --- the catalogue ----------------------------------------------------------------------------------------------


def test_built_in_measures_are_the_nine_with_their_published_values():
    assert list(BUILT_IN) == ["phq9", "gad7", "core10", "ors", "srs", "bdi2", "pcl5", "oq45", "core_om"]
    assert (BUILT_IN["phq9"].clinical_cutoff, BUILT_IN["phq9"].reliable_change) == (10, 6)
    assert BUILT_IN["ors"].higher_is_better and not BUILT_IN["ors"].integer
    assert BUILT_IN["srs"].clinical_cutoff == 36 and BUILT_IN["srs"].reliable_change is None
    assert (BUILT_IN["bdi2"].highest, BUILT_IN["pcl5"].highest, BUILT_IN["oq45"].highest,
            BUILT_IN["core_om"].highest) == (63, 80, 180, 40)


def test_jacobson_truax_reliable_change_from_sd_and_reliability(tmp_path):
    # 1.96 · √2 · 8.1586 · √(1 − .801), by hand: 8.1586 × 0.446094 = 3.63950; × 1.414214 = 5.14705;
    # × 1.96 = 10.0882
    assert jacobson_truax(8.1586, 0.801) == pytest.approx(10.0882, abs=1e-4)
    text = "[measures.bdi2]\nreliable_change_sd = 8.1586\nreliable_change_reliability = 0.801\n"
    bdi2 = {m.name: m for m in settings_from(tmp_path, text).measures}["bdi2"]
    assert bdi2.reliable_change == pytest.approx(10.0882, abs=1e-4)


def test_a_new_measure_table_must_be_complete(tmp_path):
    message = refusal(tmp_path, "[measures.wellbeing]\nlabel = 'Wellbeing'\nmin = 0\nmax = 10\n")
    assert "[measures.wellbeing]" in message and "a new measure needs integer, higher_is_better" in message


def test_an_override_may_set_any_subset_and_keeps_the_rest(tmp_path):
    measures = {m.name: m for m in settings_from(tmp_path, "[measures.core_om]\nclinical_cutoff = 9.9\n").measures}
    assert measures["core_om"].clinical_cutoff == 9.9
    assert measures["core_om"].reliable_change == BUILT_IN["core_om"].reliable_change
    assert measures["phq9"] == BUILT_IN["phq9"]


def test_an_unknown_key_in_a_measure_table_is_refused(tmp_path):
    assert "unknown key 'cutoff'" in refusal(tmp_path, "[measures.phq9]\ncutoff = 12\n")


def test_a_wrongly_typed_value_in_a_measure_table_is_refused(tmp_path):
    assert "'max' must be a number" in refusal(tmp_path, "[measures.bdi2]\nmax = \"63\"\n")
    assert "'integer' must be true or false" in refusal(tmp_path, "[measures.bdi2]\ninteger = 1\n")


def test_min_not_below_max_is_refused(tmp_path):
    assert "min (63) must be less than max (63)" in refusal(tmp_path, "[measures.bdi2]\nmin = 63\n")


def test_reliable_change_given_both_ways_is_refused(tmp_path):
    message = refusal(tmp_path, "[measures.bdi2]\nreliable_change = 9\nreliable_change_sd = 8\n"
                                "reliable_change_reliability = 0.8\n")
    assert "either as points" in message and "not both" in message


def test_a_measure_may_not_take_the_name_of_a_column_of_the_log(tmp_path):
    assert "a column of the log already" in refusal(tmp_path, WELLBEING.replace("wellbeing", "status"))


def test_the_plateau_measure_may_be_any_outcome_measure_of_the_catalogue(tmp_path):
    assert settings_from(tmp_path, WELLBEING + "\n").plateau_measure == "phq9"
    assert settings_from(tmp_path, "plateau_measure = 'bdi2'\n").plateau_measure == "bdi2"
    assert "plateau_measure must be an outcome measure" in refusal(tmp_path, "plateau_measure = 'srs'\n")


def test_a_bad_measure_table_is_one_line_from_the_command_line(tmp_path):
    config = tmp_path / "settings.toml"
    config.write_text("[measures.bdi2]\nmin = 70\n", encoding="utf-8")
    log = write_csv(tmp_path, [appointment("A1", "2026-01-05")])
    result = run_cli("ingest", str(log), "--db", str(tmp_path / "c.duckdb"), "--config", str(config))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "min (70) must be less than max (63)" in result.stderr


# --- scores on any catalogued measure ---------------------------------------------------------------------------


def episode(client: str, scores: list[object], measure: str, closed: bool = True) -> list[dict[str, object]]:
    """One episode of weekly attended sessions with these scores: discharged (planned) at the last one
    in January, or, not `closed`, still going in June (the extract date is 2026-06-30)."""
    rows = []
    for i, score in enumerate(scores):
        date = f"2026-{'01' if closed else '06'}-{5 + 7 * i:02d}"
        row = appointment(f"{client}-{i}", date, client=client, episode_id="1", **{measure: score})
        if closed and i == len(scores) - 1:
            row.update(discharge_date=date, discharge_reason="planned")
        rows.append(row)
    return rows


def test_a_score_column_is_read_when_named_as_a_catalogued_measure(warehouse):
    loaded = warehouse.load(episode("C1", [30, 18], "bdi2") + episode("C2", [3, 2], "unknown_scale"))
    assert loaded.ignored_columns == {str(warehouse.folder / "log1.csv"): ["unknown_scale"]}
    scores = warehouse.query("SELECT appointment_id, scores FROM appointments ORDER BY 1").rows()
    assert scores[0] == ("C1-0", [{"measure": "bdi2", "score": 30.0}]) and scores[2] == ("C2-0", [])


def test_a_score_out_of_its_own_measures_range_is_a_data_issue(warehouse):
    warehouse.load(episode("C1", [64, 27.5, 40], "bdi2"))
    issues = warehouse.query("SELECT appointment_id, field, value, reason FROM data_issues ORDER BY 1").rows()
    assert issues == [("C1-0", "bdi2", "64", "out of range 0–63"), ("C1-1", "bdi2", "27.5", "not a whole number")]


def test_a_mapping_profile_may_rename_a_column_to_a_built_in_measure(warehouse, tmp_path):
    from pipelines.read import load_profile

    profile = tmp_path / "ours.toml"
    profile.write_text('name = "ours"\n[columns]\n"BDI total" = "bdi2"\n', encoding="utf-8")
    rows = episode("C1", [30, 18], "bdi2")
    for row in rows:
        row["BDI total"] = row.pop("bdi2")
    warehouse.load(rows, profile=load_profile(str(profile)))
    assert warehouse.query("SELECT scores FROM appointments ORDER BY appointment_id").to_series().to_list() == [
        [{"measure": "bdi2", "score": 30.0}], [{"measure": "bdi2", "score": 18.0}]]


def test_a_quarantined_row_keeps_its_scores_on_measures_beyond_the_canonical_columns(warehouse):
    rows = episode("C1", [30, 18], "bdi2")
    rows[1]["status"] = "maybe"  # not a status: the row is quarantined, as written
    warehouse.load(rows)
    assert warehouse.query("SELECT appointment_id, other_scores FROM quarantine").rows() == [("C1-1", "bdi2=18")]


def test_a_new_measure_needs_no_change_to_the_warehouses_tables(warehouse, tmp_path):
    def layout() -> list[tuple]:
        return warehouse.query("""SELECT table_name, column_name, data_type FROM duckdb_columns()
                                  WHERE database_name = current_database() ORDER BY ALL""").rows()

    warehouse.load(episode("C1", [7, 3], "phq9"))
    before = layout()
    settings = settings_from(tmp_path, WELLBEING)
    warehouse.load(episode("C2", [2.5, 6.25], "wellbeing"), settings=settings)
    assert layout() == before
    assert warehouse.query("SELECT measure, label FROM measures WHERE measure = 'wellbeing'").rows() == [
        ("wellbeing", "Wellbeing")]


def test_a_custom_higher_is_better_decimal_measure_is_an_outcome_like_any_other(warehouse, tmp_path):
    # wellbeing: 0–10, decimals, higher is better, clinical range below 5, reliable change 1.5 points. By hand:
    #   C1 2.5 → 6.25  +3.75: reliable improvement; started in range (2.5 < 5), ended out (6.25): recovered, reliably
    #   C2 4.9 → 5.0   +0.1 : not reliable; in range → out of range: recovered, not reliably
    #   C3 8.0 → 6.5   −1.5 : reliable deterioration (exactly the reliable change); never in range
    #   C4 3.0 → 4.0   +1.0 : nothing; still in range
    #   C5 1.0 (one score): not paired
    #   C6 2.0 → 4.0   +2.0 but still open: not counted among the closed
    settings = settings_from(tmp_path, WELLBEING)
    rows = (episode("C1", [2.5, 6.25], "wellbeing") + episode("C2", [4.9, 5.0], "wellbeing")
            + episode("C3", [8.0, 6.5], "wellbeing") + episode("C4", [3.0, 4.0], "wellbeing")
            + episode("C5", [1.0], "wellbeing") + episode("C6", [2.0, 4.0], "wellbeing", closed=False))
    warehouse.load(rows, settings=settings)
    outcome = report(warehouse)["outcomes"]["wellbeing"]
    assert outcome["paired"] == 4
    assert (outcome["reliable_improvement"]["numerator"], outcome["reliable_deterioration"]["numerator"]) == (1, 1)
    assert (outcome["recovery"]["numerator"], outcome["recovery"]["denominator"]) == (2, 3)
    assert outcome["reliable_recovery"]["numerator"] == 1
    assert outcome["early_change"]["episodes"] == 5


def test_score_coverage_counts_each_measures_scored_sessions(warehouse, tmp_path):
    from pipelines.queries import MetricsReader, Scope

    rows = episode("C1", [30, 18, 12], "bdi2") + episode("C2", [2.5, 6.25], "wellbeing")
    rows[0].update(srs=38, phq9_item9=1)
    rows[3].update(srs=30.5)
    warehouse.load(rows, settings=settings_from(tmp_path, WELLBEING))
    reader = MetricsReader.open(warehouse.path)
    try:
        coverage = {m: (n, scored) for m, n, scored in reader.run("score_coverage", Scope()).rows()}
    finally:
        reader.close()
    assert coverage["bdi2"] == (5, 3) and coverage["wellbeing"] == (5, 2)
    assert (coverage["srs"], coverage["phq9_item9"], coverage["phq9"]) == ((5, 2), (5, 1), (5, 0))
    assert list(coverage)[:2] == ["phq9", "phq9_item9"] and list(coverage)[-1] == "wellbeing"


def test_the_srs_is_not_an_outcome(warehouse):
    warehouse.load(episode("C1", [20, 39], "srs") + episode("C2", [12, 8], "phq9"))
    assert set(report(warehouse)["outcomes"]) == {"phq9"}


def test_changing_the_catalogue_builds_every_model_again(warehouse, tmp_path):
    warehouse.load(episode("C1", [30, 18], "bdi2") + [appointment(f"X{i}", "2026-01-05", client=f"X{i}")
                                                       for i in range(10)])
    before = report(warehouse)["outcomes"]["bdi2"]["reliable_improvement"]["numerator"]
    stricter = settings_from(tmp_path, "[measures.bdi2]\nreliable_change = 13\n")
    again = warehouse.load(episode("C1", [30, 18], "bdi2"), settings=stricter)
    assert not again.incremental
    assert (before, report(warehouse)["outcomes"]["bdi2"]["reliable_improvement"]["numerator"]) == (1, 0)


# --- the clinicalsignificance package's published counts on claus_2020 -------------------------------------------


@needs(CLAUS)
def test_claus_2020_as_bdi2_reproduces_the_clinicalsignificance_packages_jacobson_truax_counts(tmp_path):
    # pre = time 1, post = time 4; cut-off c from the package's example functional norms (M 7.69, SD 7.52) and the
    # patients' own pre scores; Jacobson-Truax with those pre scores' SD and r = .801. The package publishes, for
    # the 40 patients with both: 18 reliably improved, 0 reliably deteriorated, 13 below c, 10 recovered.
    with CLAUS.open(newline="", encoding="utf-8") as handle:
        bdi = {(row["id"], int(row["time"])): float(row["bdi"]) for row in csv.DictReader(handle) if row["bdi"]}
    patients = sorted({p for p, t in bdi if t == 1 and (p, 4) in bdi}, key=int)
    assert len(patients) == 40
    pre = [bdi[p, 1] for p in patients]
    mean, sd = statistics.mean(pre), statistics.stdev(pre)
    cutoff = (7.52 * mean + sd * 7.69) / (7.52 + sd)
    assert (round(cutoff, 2), round(sd, 4)) == (21.02, 8.1586)
    config = tmp_path / "settings.toml"
    config.write_text(f"[measures.bdi2]\nclinical_cutoff = {cutoff!r}\nreliable_change_sd = {sd!r}\n"
                      "reliable_change_reliability = 0.801\n", encoding="utf-8")
    rows = []
    for p in sorted({p for p, _ in bdi}, key=int):  # every patient: those without time 4 are not paired
        for time, date in ((1, "2026-01-05"), (4, "2026-03-02")):
            if (p, time) in bdi:
                rows.append(appointment(f"{p}-{time}", date, client=f"P{p}", episode_id="1", bdi2=bdi[p, time],
                                        discharge_date="2026-03-02", discharge_reason="planned"))
    warehouse = Warehouse(tmp_path)
    warehouse.load(rows, settings=load_settings(config))
    outcome = report(warehouse)["outcomes"]["bdi2"]
    assert outcome["paired"] == 40
    assert outcome["reliable_improvement"]["numerator"] == 18
    assert outcome["reliable_deterioration"]["numerator"] == 0
    assert outcome["recovery"]["numerator"] == 13  # "below cut-off c", of those who started above it
    assert outcome["reliable_recovery"]["numerator"] == 10
    assert math.isclose(outcome["reliable_improvement"]["rate"], 18 / 40)
