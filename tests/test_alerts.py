"""`clinic-outcomes alerts`: what is new in this build since an earlier one (docs/operations.md#nightly-alerts).

The service: ten therapists T01–T10, each with ten closed episodes of one case-mix stratum, one of
them a single-session dropout, so every therapist is where the service is (p = 10/100, z = 0) and
nobody is flagged. A second load then adds, for one therapist (FLAGGED, an id with Rich markup in
it), ten more episodes that all ended after one session, and for a client R1 of T01 a session where
PHQ-9 item 9 was 2 and no session after it:

- FLAGGED has 11 of 20; p = 20/110 = 0.1818, E = 3.636, V = 2.975, z = (11 − 3.636)/1.725 = 4.27.
  The others' z are all (1 − 1.818)/1.220 = −0.67, so Winsorisation (k = 1) leaves φ = 0.449,
  I·φ = 4.49 < I − 1 = 9: τ² = 0 and the adjusted z is 4.27 > 3.09: newly `alarm`.
- With the CUSUM threshold at 2 (the fixture's settings, both builds): in the first build a dropout
  adds log(2/1.1) = 0.598 at most, below 2; in the second FLAGGED's ten dropouts add
  log(2/1.1818) = 0.526 each, 5.26 from 0: newly signalling.
- R1's risk session (2026-05-01) is 60 days before the extract date, never followed up: a new
  unresolved risk follow-up gap.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXTRACT, REPO, Warehouse, appointment, run_cli
from pipelines.alerts import (
    ADJUSTED_FLAG,
    CUSUM_SIGNAL,
    RISK_GAP,
    Build,
    News,
    alerts_json,
    alerts_text,
    compare,
    new_adjusted_flags,
    new_cusum_signals,
    shareable_items,
)
from pipelines.config import Settings
from pipelines.disclosure import SMALL_COUNT_MAX
from test_casemix import closed_episode

FLAGGED = "[bold]T05[/bold]"
THERAPISTS = [f"T{k:02d}" for k in range(1, 11) if k != 5] + [FLAGGED]
LOW_THRESHOLD = Settings(cusum_threshold=2.0)


def base_service() -> list[dict]:
    """Ten closed episodes for each therapist, the first of them a single-session dropout."""
    return [row for t in THERAPISTS for k in range(10)
            for row in closed_episode(f"C-{THERAPISTS.index(t):02d}-{k:02d}", t, k == 0)]


def the_news() -> list[dict]:
    """FLAGGED's ten one-session dropouts, and R1's risk session that nobody followed up."""
    dropouts = [row for k in range(10)
                for row in closed_episode(f"C-new-{k:02d}", FLAGGED, True, first="2026-03-02")]
    risk = [appointment("R1/1", "2026-04-01", client="R1", therapist="T01", episode_id="1"),
            appointment("R1/2", "2026-05-01", client="R1", therapist="T01", episode_id="1", phq9_item9=2)]
    return dropouts + risk


def alerts(warehouse: Warehouse | Path, *args: str):
    path = warehouse.path if isinstance(warehouse, Warehouse) else warehouse
    return run_cli("alerts", "--db", str(path), *args)


def as_json(result) -> dict:
    return json.loads(result.stdout)


def build_ids(warehouse: Warehouse) -> list[str]:
    return warehouse.query("SELECT build_id FROM build_history ORDER BY build_number")["build_id"].to_list()


@pytest.fixture(scope="module")
def news(tmp_path_factory) -> Warehouse:
    """Two builds: the base service, then the second load with the news."""
    warehouse = Warehouse(tmp_path_factory.mktemp("alerts"))
    warehouse.load(base_service(), extract_date=EXTRACT, settings=LOW_THRESHOLD)
    warehouse.load(the_news(), extract_date=EXTRACT, settings=LOW_THRESHOLD)
    return warehouse


def copy_of(warehouse: Warehouse, folder: Path) -> Warehouse:
    copy = Warehouse(folder)
    shutil.copyfile(warehouse.path, copy.path)
    return copy


# === nothing new, a first build ====================================================================


def test_two_builds_of_the_same_data_have_nothing_new_and_exit_0(warehouse):
    warehouse.load(base_service(), settings=LOW_THRESHOLD)
    warehouse.load(base_service(), settings=LOW_THRESHOLD)
    result = alerts(warehouse)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Nothing new in build ")


def test_a_first_build_says_so_and_exits_0(warehouse):
    warehouse.load(base_service() + the_news(), settings=LOW_THRESHOLD)  # flags, but nothing before them
    result = alerts(warehouse)
    assert result.returncode == 0, result.stderr
    assert "is the first in this warehouse's flag history: there is no earlier build" in result.stdout
    printed = as_json(alerts(warehouse, "--format", "json"))
    assert printed["compared_with"] is None
    assert printed["new"] == {"adjusted_flags": [], "cusum_signals": [], "risk_gaps": []}


# === what is new ===================================================================================


def test_a_therapist_newly_at_alarm_is_new_and_exits_3(news):
    result = alerts(news)
    assert result.returncode == 3, result.stderr
    assert f"{FLAGGED} newly alarm on the case-mix adjusted flag (was not alert or alarm): 11 of 20" in result.stdout
    [flag] = as_json(alerts(news, "--format", "json"))["new"]["adjusted_flags"]
    assert (flag["therapist_id"], flag["flag"], flag["previous_flag"]) == (FLAGGED, "alarm", None)
    assert (flag["numerator"], flag["denominator"]) == (11, 20)
    assert flag["expected"] == pytest.approx(20 * 20 / 110)
    assert flag["adjusted_z"] == pytest.approx((11 - 20 * 20 / 110) / (20 * 20 / 110 * 90 / 110) ** 0.5)


def test_a_therapist_newly_signalling_on_the_cusum_is_new(news):
    [signal] = as_json(alerts(news, "--format", "json"))["new"]["cusum_signals"]
    assert signal["therapist_id"] == FLAGGED
    assert signal["previous_last_signal_date"] is None
    assert signal["threshold"] == 2.0 and signal["latest_cusum"] >= 2.0
    assert signal["last_signal_date"] == "2026-03-02"  # the day all of the ten dropouts came


def test_a_new_unresolved_risk_gap_is_new(news):
    [gap] = as_json(alerts(news, "--format", "json"))["new"]["risk_gaps"]
    assert (gap["client_id"], gap["episode_id"], gap["risk_date"], gap["item9"]) == ("R1", "1", "2026-05-01", 2)
    assert "unresolved risk follow-up gap: client R1 episode 1 (therapist T01, clinic K1)" in alerts(news).stdout


def test_alert_rising_to_alarm_is_new_and_alarm_falling_to_alert_is_not():
    def flag(therapist: str, level: str) -> dict:
        return {"therapist_id": therapist, "flag": level}

    before = [flag("T1", "alert"), flag("T2", "alarm"), flag("T3", "alert")]
    now = [flag("T1", "alarm"), flag("T2", "alert"), flag("T3", "alert"), flag("T4", "alert")]
    assert [(r["therapist_id"], r["previous_flag"]) for r in new_adjusted_flags(now, before)] == [
        ("T1", "alert"), ("T4", None)]


def test_a_later_cusum_signal_is_new_and_the_same_signal_is_not():
    def signal(therapist: str, day: int) -> dict:
        return {"therapist_id": therapist, "last_signal_date": dt.date(2026, 3, day)}

    before = [signal("T1", 1), signal("T2", 1)]
    now = [signal("T1", 1), signal("T2", 9), signal("T3", 1)]
    assert [(r["therapist_id"], r["previous_last_signal_date"]) for r in new_cusum_signals(now, before)] == [
        ("T2", dt.date(2026, 3, 1)), ("T3", None)]


# any flags of the three kinds, as the flag history holds them
history_rows = st.lists(st.one_of(
    st.builds(lambda t, f: {"kind": ADJUSTED_FLAG, "therapist_id": t, "flag": f},
              st.sampled_from(["T1", "T2", "T3"]), st.sampled_from(["alert", "alarm"])),
    st.builds(lambda t, d: {"kind": CUSUM_SIGNAL, "therapist_id": t, "last_signal_date": d},
              st.sampled_from(["T1", "T2", "T3"]), st.dates(dt.date(2025, 1, 1), dt.date(2026, 6, 30))),
    st.builds(lambda c, d: {"kind": RISK_GAP, "client_id": c, "episode_id": "1", "risk_date": d},
              st.sampled_from(["C1", "C2"]), st.dates(dt.date(2026, 1, 1), dt.date(2026, 1, 9)))), max_size=12)
BUILD = Build("a" * 32, dt.datetime(2026, 12, 4, 6, 15), EXTRACT)
EARLIER = Build("b" * 32, dt.datetime(2026, 12, 3, 6, 15), EXTRACT)


@settings(max_examples=200, deadline=None)
@given(history_rows)
def test_a_build_compared_with_the_same_flags_has_nothing_new(rows):
    # one row per therapist and kind, as a build records them
    unique = list({(r["kind"], r.get("therapist_id") or r["client_id"], r.get("risk_date")): r for r in rows}.values())
    assert compare(BUILD, EARLIER, unique, unique).count == 0


# === --since-build ==================================================================================


def test_since_build_compares_with_that_older_build(news, tmp_path):
    again = copy_of(news, tmp_path)
    again.load(the_news(), extract_date=EXTRACT, settings=LOW_THRESHOLD)  # a third build, the same data
    first, second, third = build_ids(again)
    assert alerts(again).returncode == 0  # against the second: nothing new
    result = alerts(again, "--since-build", first[:8], "--format", "json")
    assert result.returncode == 3, result.stderr
    printed = as_json(result)
    assert (printed["build"]["build_id"], printed["compared_with"]["build_id"]) == (third, first)
    assert [f["therapist_id"] for f in printed["new"]["adjusted_flags"]] == [FLAGGED]


def test_an_unknown_since_build_is_one_line_naming_the_builds_it_knows_newest_first(news):
    result = alerts(news, "--since-build", "0123abcd")
    assert result.returncode == 1
    assert result.stdout == ""
    first, second = build_ids(news)
    [line] = result.stderr.splitlines()
    assert line.startswith("error: --since-build '0123abcd' is not a build this warehouse's history holds; it holds ")
    assert line.index(second[:8]) < line.index(first[:8])


def test_rebuild_keeps_the_history(news, tmp_path):
    rebuilt = copy_of(news, tmp_path)
    before = build_ids(rebuilt)
    done = run_cli("rebuild", "--db", str(rebuilt.path))
    assert done.returncode == 0, done.stderr
    assert build_ids(rebuilt)[:2] == before and len(build_ids(rebuilt)) == 3
    assert alerts(rebuilt).returncode == 0  # the rebuild against the second build: the same flags
    assert alerts(rebuilt, "--since-build", before[0]).returncode == 3


def test_the_history_keeps_the_last_flag_history_builds(news, tmp_path, monkeypatch):
    import pipelines.alerts

    monkeypatch.setattr(pipelines.alerts, "FLAG_HISTORY_BUILDS", 2)
    kept = copy_of(news, tmp_path)
    second = build_ids(kept)[1]
    kept.load(the_news(), extract_date=EXTRACT, settings=LOW_THRESHOLD)
    assert build_ids(kept)[0] == second and len(build_ids(kept)) == 2
    assert kept.query("SELECT count(DISTINCT build_id) AS n FROM flag_history")["n"].item() == 2


def test_a_warehouse_built_before_the_history_starts_one_with_its_next_rebuild(news, tmp_path):
    older = copy_of(news, tmp_path)
    con = duckdb.connect(str(older.path))
    try:
        con.execute("DROP TABLE build_history; DROP TABLE flag_history")
    finally:
        con.close()
    refused = alerts(older)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (f"error: {older.path}: this build keeps no flag history (it was built before "
                                      f"clinic-outcomes kept one); start one with `clinic-outcomes rebuild --db "
                                      f"{older.path}`")
    assert run_cli("rebuild", "--db", str(older.path)).returncode == 0
    first = alerts(older)
    assert first.returncode == 0 and "is the first in this warehouse's flag history" in first.stdout


# === the output ====================================================================================


def json_keys(value: object, within: str = "") -> set[str]:
    """Every key of a JSON object, nested ones too."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in json_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in json_keys(v)}
    return set()


def nightly_alerts_section() -> str:
    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    return text.split("\n## Nightly alerts\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("shared", [(), ("--shareable",)], ids=["internal", "shareable"])
def test_alerts_json_parses_and_every_key_is_documented(news, shared):
    printed = as_json(alerts(news, "--format", "json", *shared))
    assert set(printed) == {"build", "compared_with", "shareable", "new"}
    assert set(printed["new"]) == {"adjusted_flags", "cusum_signals", "risk_gaps"}
    assert all(printed["new"].values())  # every kind has an item, so every item key is checked
    documented = nightly_alerts_section()
    for key in json_keys(printed):
        assert f"`{key}`" in documented, f"the alerts JSON key {key} is not in docs/operations.md#nightly-alerts"


def test_alerts_text_shows_a_therapist_id_with_rich_markup_literally(news):
    result = alerts(news)
    assert f"{FLAGGED} newly alarm" in result.stdout
    assert f"{FLAGGED} CUSUM signalling" in result.stdout


def test_shareable_alert_shows_no_small_count_and_no_client_id(news):
    text = alerts(news, "--shareable")
    assert text.returncode == 3, text.stderr
    printed = as_json(alerts(news, "--shareable", "--format", "json"))
    for output in (text.stdout, json.dumps(printed)):
        assert "R1" not in output and "C-" not in output and "client" not in output
    assert printed["new"]["risk_gaps"] == [{"clinic_id": "K1", "new_gaps": "*"}]  # one gap
    [flag] = printed["new"]["adjusted_flags"]
    assert (flag["numerator"], flag["denominator"], flag["flag"]) == ("10", "20", "alarm")  # 11 rounded
    assert f"{FLAGGED} newly alarm on the case-mix adjusted flag: 10 of 20" in text.stdout
    assert "clinic K1: * new unresolved risk follow-up gaps" in text.stdout


def gaps_at(clinics: list[str]) -> list[dict]:
    return [{"client_id": f"C{k}", "episode_id": "1", "therapist_id": "T1", "clinic_id": clinic,
             "risk_date": EXTRACT, "item9": 1, "days_since_risk": 20} for k, clinic in enumerate(clinics)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=6),
       st.lists(st.sampled_from(["K1", "K2", "K3"]), max_size=30))
def test_shareable_alert_never_shows_a_count_of_1_to_7_or_a_client(counts, gap_clinics):
    flags = [{"therapist_id": f"T{k}", "flag": "alarm", "previous_flag": None, "numerator": min(n, d),
              "denominator": d, "expected": 1.0, "adjusted_z": 4.0} for k, (n, d) in enumerate(counts)]
    news = News(BUILD, EARLIER, flags, [], gaps_at(gap_clinics))
    items = shareable_items(news)
    shown = [r[c] for r in items["adjusted_flags"] for c in ("numerator", "denominator")]
    shown += [r["new_gaps"] for r in items["risk_gaps"]]
    assert all(v == "*" or not 1 <= int(v) <= SMALL_COUNT_MAX for v in shown)
    assert all(r["flag"] == "*" for r in items["adjusted_flags"] if "*" in (r["numerator"], r["denominator"]))
    everything = json.dumps(alerts_json(news, True)) + "\n".join(alerts_text(news, True))
    assert not re.search(r"\bC\d+\b", everything)
