"""The board report (`clinic-outcomes report`, dashboard/board_report.py): one self-contained HTML
file with the numbers of the metrics report, disclosure control in its shareable version, the
scope of the filters and of a restricted reader, charts that draw in a real browser, a PDF, and
the dashboard's download."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from conftest import REQUIRED, Warehouse, appointment, report
from dashboard_fixtures import APP, _release_cached_connections  # noqa: F401
from test_dashboard_browser import CHROMIUM_ARGS, chromium  # noqa: F401 - the same Chromium and its fixture
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from dashboard import board_report, frames
from dashboard.board_report import SECTIONS, SHAREABLE_RULE, board_report_html, chart_data, namespaced
from dashboard.data import DB_ENV
from dashboard.gate import ACCESS_ENV
from pipelines.cli import app
from pipelines.disclosure import Shareable
from pipelines.errors import LoadError
from pipelines.queries import MetricsReader, Scope

# every chart the report draws on the sample, by its data-chart name
SAMPLE_CHARTS = {"dropout_by_month", "dropout_by_first_session_type", "dropout_by_next_booking", "outcomes",
                 "nhs_paired", "first_session_alliance", "dose_response", "time_to_discharge", "therapist_funnel"}
OTHER_CLINICS = re.compile(r"\bK0[2-9]\b")
THERAPIST_ID = re.compile(r"\bT\d{4}\b")


def cli(*args: str) -> str:
    """Run the command in-process; its output (an expected failure raises, as main() would print it)."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def write_report(db: Path, out: Path, *options: str) -> str:
    printed = " ".join(cli("report", "--db", str(db), "--out", str(out), *options).split())
    assert re.search(rf"wrote the .*board report to {re.escape(str(out))} \(\d+ KB\)", printed), printed
    return out.read_text(encoding="utf-8")


class Marked(HTMLParser):
    """Each element carrying data-metric, with the rate / count / days texts inside it, in order."""

    VOID = {"meta", "br", "img", "hr", "input", "link", "wbr"}
    KINDS = ("rate", "count", "days")

    def __init__(self, text: str) -> None:
        super().__init__()
        self.metrics: dict[str, list[tuple[str, str]]] = {}
        self._stack: list[tuple[str | None, str | None]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        attributes = dict(attrs)
        metric = attributes.get("data-metric")
        if metric:
            self.metrics[metric] = []
        kind = next((c for c in (attributes.get("class") or "").split() if c in self.KINDS), None)
        self._stack.append((metric, kind))
        owner = next((m for m, _ in reversed(self._stack) if m), None)
        if owner and kind:
            self.metrics[owner].append((kind, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1][1]:
            owner = next((m for m, _ in reversed(self._stack) if m), None)
            if owner:
                kind, text = self.metrics[owner][-1]
                self.metrics[owner][-1] = (kind, text + data)


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.1%}"


def as_shown(part: dict) -> list[tuple[str, str]]:
    """A metrics-report rate ({numerator, denominator, rate}) as the internal report shows it."""
    return [("rate", percent(part["rate"])), ("count", f"{part['numerator']:,}"), ("count", f"{part['denominator']:,}")]


def count(n: int) -> list[tuple[str, str]]:
    return [("count", f"{n:,}")]


def section(text: str, name: str) -> str:
    return re.search(rf'<section id="{name}">(.*?)</section>', text, re.S).group(1)


def figures(text: str) -> dict[str, str]:
    """data-chart name -> the figure's SVG."""
    return dict(re.findall(r'<figure class="chart" data-chart="([a-z_]+)">(<svg.*?</svg>)', text, re.S))


def assert_self_contained(text: str) -> None:
    lowered = text.lower()
    assert "<script" not in lowered and "<link" not in lowered and "@import" not in lowered
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?(?!#)""", text, re.I), "a reference to another file"
    assert not re.search(r"url\((?!#)", text), "a CSS url() to another file"


# --- the sample: numbers, sections, scope ----------------------------------------------------------


@pytest.fixture(scope="module")
def sample_report(sample_like_warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The internal report of the whole sample-like warehouse, written by the command."""
    out = tmp_path_factory.mktemp("board_report") / "report.html"
    write_report(sample_like_warehouse.path, out)
    return out


def test_report_is_one_self_contained_html_file_with_every_section(sample_report: Path) -> None:
    assert sorted(p.name for p in sample_report.parent.iterdir()) == ["report.html"]
    text = sample_report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert_self_contained(text)
    for name, heading in SECTIONS.items():
        assert f'<section id="{name}"><h2>{heading}</h2>' in text
    assert set(figures(text)) == SAMPLE_CHARTS
    assert "Internal version: not for sharing outside the clinic." in text
    assert "Shareable version" not in text


FILTERS = pytest.mark.parametrize("filters", [[], ["--clinic", "K02", "--from", "2024-07-01"]],
                                  ids=["all", "K02_since_2024_07"])


def report_and_metrics(warehouse: Warehouse, sample_report: Path, folder: Path,
                       filters: list[str]) -> tuple[dict[str, list[tuple[str, str]]], dict]:
    """The figures the internal report shows for the filters, and the metrics report of the same filters."""
    db = warehouse.path
    text = sample_report.read_text(encoding="utf-8") if not filters else write_report(db, folder / "r.html", *filters)
    return Marked(text).metrics, json.loads(cli("metrics", "--db", str(db), "--format", "json", *filters))


@FILTERS
def test_report_numbers_equal_the_metrics_report_for_the_same_filters(
        sample_like_warehouse: Warehouse, sample_report: Path, tmp_path: Path, filters: list[str]) -> None:
    shown, metrics = report_and_metrics(sample_like_warehouse, sample_report, tmp_path, filters)

    expected = {f"episodes.{k}": count(n) for k, n in metrics["episodes"].items()}
    expected |= {f"single_session.{k}": as_shown(metrics["single_session"][k]) for k in ("dropout", "ended_after_one")}
    for measure, outcome in metrics["outcomes"].items():
        for name in ("reliable_improvement", "recovery", "reliable_recovery", "reliable_deterioration"):
            expected[f"outcomes.{measure}.{name}"] = as_shown(outcome[name])
    plateaus = metrics["plateaus"]
    expected["plateaus.plateaued"] = as_shown({"numerator": plateaus["plateaued"], "denominator": plateaus["assessed"],
                                               "rate": plateaus["plateaued"] / plateaus["assessed"]
                                               if plateaus["assessed"] else None})
    expected["plateaus.assessed"] = count(plateaus["assessed"])
    expected["plateaus.sessions_after_plateau"] = count(plateaus["sessions_after_plateau"])
    ttd = metrics["time_to_discharge"]
    expected["time_to_discharge.median_days"] = [("days", "not reached" if ttd["median_days"] is None
                                                  else f"{ttd['median_days']:,}")]
    expected["time_to_discharge.events"] = count(ttd["events"])
    expected["time_to_discharge.censored"] = count(ttd["censored"])
    gaps = metrics["risk_followup_gaps"]
    expected["risk_followup_gaps"] = count(len(gaps))
    expected["risk_followup_gaps.unresolved"] = count(sum(not g["returned_later"] for g in gaps))
    expected["long_engagement"] = count(len(metrics["long_engagement"]))
    flagged = [t for t in metrics["therapists"] if t["flag"] in ("alarm", "alert")]
    for t in flagged:
        expected[f"therapists.{t['therapist_id']}"] = [*as_shown(t), ("rate", percent(t["limit95"])),
                                                       ("rate", percent(t["limit998"]))]

    assert {k: shown.get(k) for k in expected} == expected
    assert {k for k in shown if k.startswith("therapists.")} == {f"therapists.{t['therapist_id']}" for t in flagged}
    assert expected["episodes.closed"] != count(0)
    if not filters:
        assert flagged  # the sample plants two high-attrition therapists


def test_overview_compares_the_last_year_with_the_year_before(sample_like_warehouse: Warehouse,
                                                              sample_report: Path) -> None:
    shown = Marked(sample_report.read_text(encoding="utf-8")).metrics
    extract = report(sample_like_warehouse)["extract_date"]
    periods = frames.headline_periods(Scope(), dt.date.fromisoformat(extract))
    for name, period in zip(("current", "previous"), periods, strict=True):
        assert shown[f"overview.{name}.dropout"] == as_shown(report(sample_like_warehouse, period)
                                                             ["single_session"]["dropout"])


def test_a_filter_narrows_the_report_to_its_clinic(sample_like_warehouse: Warehouse, tmp_path: Path) -> None:
    text = write_report(sample_like_warehouse.path, tmp_path / "k01.html", "--clinic", "K01")
    assert not OTHER_CLINICS.search(text)
    assert THERAPIST_ID.findall(text) and all(t.startswith("T01") for t in THERAPIST_ID.findall(text))
    assert "clinics K01" in text


def test_a_restricted_reader_gets_a_report_of_its_clinics_only(sample_like_warehouse: Warehouse) -> None:
    reader = MetricsReader.open(sample_like_warehouse.path)
    try:
        text = board_report_html(reader.restricted(("K01",)))
        asked_other = board_report_html(reader.restricted(("K01",)), Scope(clinics=("K02",)))
    finally:
        reader.close()
    assert not OTHER_CLINICS.search(text)
    assert all(t.startswith("T01") for t in THERAPIST_ID.findall(text))
    assert "limited to the clinics this user may see: K01" in text
    assert "shown only to users who can see every clinic" in section(text, "data_quality")
    # asking for another clinic through the filters gives nothing of it
    assert not OTHER_CLINICS.search(asked_other)
    assert "No episodes match this selection." in asked_other


@FILTERS
def test_report_carries_the_paired_measures_and_the_waits_of_the_metrics_report(
        sample_like_warehouse: Warehouse, sample_report: Path, tmp_path: Path, filters: list[str]) -> None:
    shown, metrics = report_and_metrics(sample_like_warehouse, sample_report, tmp_path, filters)
    paired, waits = metrics["nhs_paired"], metrics["waits"]
    finished = paired["finished_treatment"]
    expected = {"nhs_paired.paired": as_shown({"numerator": paired["paired"], "denominator": finished,
                                               "rate": paired["paired"] / finished})}
    expected |= {f"nhs_paired.{name}": as_shown(paired[name])
                 for name in ("recovery", "reliable_improvement", "reliable_deterioration", "reliable_recovery")}
    first, second = waits["referral_to_first"], waits["first_to_second"]
    expected |= {f"waits.referral_to_first.{name}": as_shown(first[name])
                 for name in ("within_6_weeks", "within_18_weeks")}
    expected |= {f"waits.first_to_second.{name}": as_shown(second[name]) for name in ("over_28_days", "over_90_days")}
    expected["waits.referral_to_first.median"] = [("days", f"{first['median_days']:,}")]
    expected["waits.first_to_second.median"] = [("days", f"{second['median_days']:,}")]
    expected |= {f"waits.dropout_by_next_booking.{band['band'].replace(' ', '_')}": as_shown(band)
                 for band in waits["dropout_by_next_booking"]}
    assert {k: shown.get(k) for k in expected} == expected
    assert paired["finished_treatment"] and first["episodes"] and second["episodes"]


def test_report_says_why_paired_recovery_is_stricter_and_marks_the_50_percent_standard(sample_report: Path) -> None:
    no_hope = section(sample_report.read_text(encoding="utf-8"), "no_hope")
    assert "so it is stricter than PHQ-9 recovery above" in no_hope
    assert "never a pass mark for one therapist" in no_hope
    assert "mark-rect" in figures(sample_report.read_text(encoding="utf-8"))["nhs_paired"]


def paired_and_waited(warehouse: Warehouse) -> Warehouse:
    """Clinic K1: 12 courses of an assessment and three treatment sessions a week apart (PHQ-9 15 → 6, GAD-7
    12 → 3: each recovers), referred 10 days before session 1; and 3 that recover on PHQ-9 alone (GAD-7 stays
    12), referred 60 days before, with a fortnight between sessions 1 and 2. Small counts: 3 waited over 6
    weeks, 3 not recovered in the paired sense."""
    rows = []
    for n in range(15):
        late = n >= 12
        start = dt.date(2025, 2, 3)
        for s in range(4):
            date = start + dt.timedelta(weeks=s + (1 if late and s else 0))
            last = s == 3
            rows.append(appointment(
                f"a{n}s{s}", date.isoformat(), client=f"C{n}", session_type="assessment" if s == 0 else "treatment",
                referral_date=(start - dt.timedelta(days=60 if late else 10)).isoformat(), phq9=15 - 3 * s,
                gad7=12 if late else 12 - 3 * s, discharge_date=date.isoformat() if last else None,
                discharge_reason="planned" if last else None))
    warehouse.load(rows)
    return warehouse


def test_shareable_report_shows_no_small_count_in_the_paired_measures_and_the_waits(warehouse: Warehouse,
                                                                                   tmp_path: Path) -> None:
    db = paired_and_waited(warehouse).path
    internal = Marked(write_report(db, tmp_path / "internal.html")).metrics
    assert internal["nhs_paired.recovery"] == [("rate", "80.0%"), ("count", "12"), ("count", "15")]
    assert internal["waits.referral_to_first.within_6_weeks"] == [("rate", "80.0%"), ("count", "12"),
                                                                  ("count", "15")]
    text = write_report(db, tmp_path / "shareable.html", "--shareable")
    shown = Marked(text).metrics
    # 12 of 15 rounds to 10 of 15: the 3 not recovered (or waiting longer) are not given back by 15 - 12
    assert shown["nhs_paired.recovery"] == [("rate", "66.7%"), ("count", "10"), ("count", "15")]
    assert shown["waits.referral_to_first.within_6_weeks"] == [("rate", "66.7%"), ("count", "10"), ("count", "15")]
    assert shown["waits.first_to_second.over_28_days"] == [("rate", "0.0%"), ("count", "0"), ("count", "15")]
    for name, figure in shown.items():
        if name.startswith(("nhs_paired.", "waits.")):
            for kind, value in figure:
                if kind == "count":
                    assert value in ("*", "0") or int(value.replace(",", "")) % 5 == 0 and \
                        int(value.replace(",", "")) >= 10, (name, figure)


def test_shareable_report_withholds_a_median_wait_over_fewer_than_8_episodes(warehouse: Warehouse,
                                                                            tmp_path: Path) -> None:
    rows = [appointment(f"a{n}", "2025-03-03", client=f"C{n}", referral_date="2025-02-01") for n in range(5)]
    warehouse.load(rows)
    assert Marked(write_report(warehouse.path, tmp_path / "i.html")).metrics["waits.referral_to_first.median"] == \
        [("days", "30")]
    shown = Marked(write_report(warehouse.path, tmp_path / "s.html", "--shareable")).metrics
    assert shown["waits.referral_to_first.median"] == [("days", "*")]
    assert shown["waits.referral_to_first.within_6_weeks"] == [("rate", "*"), ("count", "*"), ("count", "*")]


def test_report_without_gad7_or_referral_dates_says_so(warehouse: Warehouse, tmp_path: Path) -> None:
    warehouse.load([appointment(f"a{s}", f"2025-02-{3 + 7 * s:02d}", phq9=15 - 3 * s) for s in range(3)])
    text = write_report(warehouse.path, tmp_path / "r.html")
    assert "No GAD-7 scores in this selection, so there are no paired measures." in section(text, "no_hope")
    assert "No referral dates in this selection" in section(text, "first_session")
    assert "nhs_paired" not in figures(text)


def test_an_empty_warehouse_says_so_in_every_section(warehouse: Warehouse) -> None:
    warehouse.load([], columns=list(REQUIRED))
    reader = MetricsReader.open(warehouse.path)
    try:
        text = board_report_html(reader)
    finally:
        reader.close()
    assert not figures(text) and "<svg" not in text
    for name in SECTIONS:
        assert '<p class="empty">' in section(text, name), name
    assert "No episodes match this selection." in section(text, "overview")
    assert "No therapist has a closed episode in this selection." in section(text, "therapists")


# --- disclosure control -----------------------------------------------------------------------------


def small_clinics(warehouse: Warehouse) -> Warehouse:
    """K1 (therapist T1, assessment first): 3 single-session dropouts and 7 planned three-session
    courses with PHQ-9 15 → 12 → 8; K2 (T2, treatment first): 1 dropout and 3 such courses. Small
    counts everywhere: 4 dropouts in all, K2's rates rest on 4 closed episodes, each clinic's
    outcome rates on 7 and 3."""
    rows = []
    for clinic, therapist, kind, dropouts, courses in (("K1", "T1", "assessment", 3, 7), ("K2", "T2", "treatment", 1, 3)):
        for n in range(dropouts):
            rows.append(appointment(f"{clinic}d{n}", "2025-01-06", client=f"{clinic}D{n}", therapist=therapist,
                                    clinic=clinic, session_type=kind))
        for n in range(courses):
            for week, score in enumerate((15, 12, 8)):
                rows.append(appointment(
                    f"{clinic}c{n}s{week}", (dt.date(2025, 2, 3) + dt.timedelta(weeks=week)).isoformat(),
                    client=f"{clinic}C{n}", therapist=therapist, clinic=clinic,
                    session_type=kind if week == 0 else "treatment", phq9=score,
                    discharge_date="2025-02-17" if week == 2 else None, discharge_reason="planned" if week == 2 else None))
    warehouse.load(rows)
    return warehouse


def all_counts(text: str) -> list[str]:
    """Every count the report shows (in prose and in table cells; headings are not counts)."""
    return [c.strip() for c in re.findall(r'<(?:span|td) class="count"[^>]*>([^<]*)<', text)]


def test_shareable_report_shows_no_small_count_and_no_rate_that_gives_one_back(warehouse: Warehouse,
                                                                               tmp_path: Path) -> None:
    db = small_clinics(warehouse).path
    internal = write_report(db, tmp_path / "internal.html")
    text = write_report(db, tmp_path / "shareable.html", "--shareable")
    assert_self_contained(text)
    assert "Shareable version." in text and SHAREABLE_RULE in text
    assert "Internal version" not in text

    assert "3" in all_counts(internal)  # the exact small counts are there internally …
    counts = all_counts(text)
    assert counts and all(c in ("*", "0", "–") or int(c.replace(",", "")) % 5 == 0 and int(c.replace(",", "")) >= 10
                          for c in counts), counts  # … and nowhere in the shareable version
    shown = Marked(text).metrics
    # 4 dropouts of 14 closed episodes: the rate beside a `*` would give the 4 back, so it is `*` too
    assert shown["single_session.dropout"] == [("rate", "*"), ("count", "*"), ("count", "15")]
    by_type = section(text, "first_session")
    # treatment's 4 closed episodes are `*`; beside the total of 15, assessment's 10 would give them back (15 - 10),
    # so they are `*` as well: a total and all but one of its parts are never all shown
    for kind in ("treatment", "assessment"):
        assert re.search(rf'<td class="key">{kind}</td><td class="rate">\*</td><td class="count">\*</td>'
                         r'<td class="count">\*</td>', by_type), kind

    # charts draw no withheld rate: no clinic's outcome bars (7 and 3 episodes), no first session type (every
    # dropout count is `*`), no funnel point (T1's 3 dropouts and T2's 4 closed episodes are `*`), and no
    # mark descriptions repeating the counts
    drawn = figures(text)
    assert not re.search(r">K[12]<", drawn["outcomes"]) and ">all clinics<" in drawn["outcomes"]
    assert "dropout_by_first_session_type" not in drawn and "therapist_funnel" not in drawn
    # each step of the discharge curve is a day's exact discharges over those at risk: internal only
    assert "time_to_discharge" not in drawn and "time_to_discharge" in figures(internal)
    assert "Every first session type rests on fewer than" in by_type
    def described(svgs: dict[str, str]) -> list[str]:
        return [label for svg in svgs.values() for label in re.findall(r'aria-label="([^"]*)"', svg)
                if "numerator" in label]

    assert not described(drawn) and described(figures(internal))

    k2 = write_report(db, tmp_path / "k2.html", "--shareable", "--clinic", "K2")
    assert Marked(k2).metrics["single_session.dropout"] == [("rate", "*"), ("count", "*"), ("count", "*")]
    assert all(Marked(k2).metrics[f"outcomes.phq9.{o}"][0] == ("rate", "*")
               for o in ("reliable_improvement", "recovery", "reliable_recovery", "reliable_deterioration"))


def dropouts_and_courses(therapist: str, dropouts: int, courses: int) -> list[dict[str, object]]:
    """A therapist's single-session dropouts and planned three-session courses, each a closed episode."""
    rows = [appointment(f"{therapist}d{n}", "2025-01-06", client=f"{therapist}D{n}", therapist=therapist)
            for n in range(dropouts)]
    for n in range(courses):
        for week in range(3):
            date = (dt.date(2025, 2, 3) + dt.timedelta(weeks=week)).isoformat()
            rows.append(appointment(f"{therapist}c{n}s{week}", date, client=f"{therapist}C{n}", therapist=therapist,
                                    discharge_date="2025-02-17" if week == 2 else None,
                                    discharge_reason="planned" if week == 2 else None))
    return rows


def test_flag_beside_a_suppressed_count_is_suppressed_in_the_report(warehouse: Warehouse, tmp_path: Path) -> None:
    # T1: 7 dropouts of 13 closed episodes, against T2's 10 of 100: alarm. Shown beside `*` dropouts and 15
    # closed episodes, alarm could only be 7 of 13 (or nearly): the flag is `*`, and the flagged table and
    # the count of therapists by flag do not give it back either
    warehouse.load(dropouts_and_courses("T1", 7, 6) + dropouts_and_courses("T2", 10, 90))
    internal = section(write_report(warehouse.path, tmp_path / "internal.html"), "therapists")
    assert "<td class=\"key\">T1</td><td class=\"key\">alarm</td>" in internal
    assert Marked(internal).metrics["therapist_flags.alarm"] == [("count", "1")]
    text = section(write_report(warehouse.path, tmp_path / "shareable.html", "--shareable"), "therapists")
    prose = re.sub(r"<svg.*?</svg>", "", text, flags=re.S)  # the funnel's legend names every flag
    assert ">T1<" not in text and "alarm" not in prose and "alert" not in prose
    assert "No therapist is above the 95% limit." in text
    shown = Marked(text).metrics
    assert shown["therapist_flags.*"] == [("count", "*")] and shown["therapist_flags.none"] == [("count", "*")]


def test_one_figure_shows_the_same_text_everywhere_in_the_report(warehouse: Warehouse, tmp_path: Path) -> None:
    # the reviewer's case: 27 episodes, 13 open, 13 closed, 1 not started. The overview hides the closed 13
    # beside the 1 not started; the first-session section printed them again as 15, which gave the 1 back
    rows = [row for n in range(10) for row in dropouts_and_courses(f"D{n}", 1, 0)]
    rows += [row for n in range(3) for row in dropouts_and_courses(f"P{n}", 0, 1)]
    rows += [appointment(f"o{n}", "2026-06-20", client=f"O{n}") for n in range(13)]
    rows += [appointment("n0", "2026-06-25", status="dna", client="N0")]
    warehouse.load(rows)
    internal = Marked(write_report(warehouse.path, tmp_path / "internal.html")).metrics
    assert [internal[f"episodes.{k}"] for k in ("total", "open", "closed", "not_started")] == [
        [("count", "27")], [("count", "13")], [("count", "13")], [("count", "1")]]
    shown = Marked(write_report(warehouse.path, tmp_path / "shareable.html", "--shareable")).metrics
    assert shown["episodes.closed"] == [("count", "*")] and shown["episodes.not_started"] == [("count", "*")]
    closed = {"overview": shown["episodes.closed"][0], "discharged": shown["time_to_discharge.events"][0],
              "dropout": shown["single_session.dropout"][2], "ended": shown["single_session.ended_after_one"][2]}
    assert set(closed.values()) == {("count", "*")}, closed
    assert shown["time_to_discharge.censored"] == shown["episodes.open"]
    assert shown["single_session.ended_after_one"][0] == ("rate", "*")


def test_quarantined_rows_hidden_beside_the_files_are_hidden_beside_the_reasons(warehouse: Warehouse,
                                                                                tmp_path: Path) -> None:
    # 30 loaded, 10 quarantined for one reason, 3 duplicates merged: the 3 hides the 10 beside the rows read, and
    # the reasons table must not list the same 10 again (45 read - 30 loaded - 10 would give the 3 back)
    rows = [appointment(f"a{n}", "2025-01-06", client=f"C{n}") for n in range(30)]
    rows += rows[:3] + [appointment(f"b{n}", "2025-01-06", status="maybe", client=f"Q{n}") for n in range(10)]
    warehouse.load(rows)
    internal = Marked(write_report(warehouse.path, tmp_path / "internal.html")).metrics
    assert internal["load.duplicates_merged"] == [("count", "3")] and internal["load.rows_quarantined"] == [
        ("count", "10")]
    text = write_report(warehouse.path, tmp_path / "shareable.html", "--shareable")
    assert Marked(text).metrics["load.rows_quarantined"] == [("count", "*")]
    reasons = section(text, "data_quality").split("Quarantined rows by reason")[1].split("</table>")[0]
    assert re.findall(r'<td class="count">([^<]*)</td>', reasons) == ["*"]


@pytest.mark.parametrize("clinic", ["all", "all clinics"])
def test_a_clinic_named_like_the_total_is_listed_and_the_total_is_right(warehouse: Warehouse, tmp_path: Path,
                                                                       clinic: str) -> None:
    # the report's total rows were the rows whose key read "all": a clinic of that id vanished from the safety
    # table and was taken for the total beside the real one
    rows = [appointment(f"{c}{n}", "2025-01-06", client=f"{c}C{n}", clinic=c, phq9=15, phq9_item9=1)
            for c, gaps in ((clinic, 10), ("K2", 15)) for n in range(gaps)]
    warehouse.load(rows)
    for options in ((), ("--shareable",)):
        text = write_report(warehouse.path, tmp_path / "report.html", *options)
        safety = section(text, "safety")
        listed = re.findall(r'<tr><td class="key">([^<]*)</td><td class="count">([^<]*)</td>', safety)
        assert listed == sorted([(html.escape(clinic), "10"), ("K2", "15")]), (options, listed)
        assert Marked(text).metrics["risk_followup_gaps"] == [("count", "25")]


def test_shareable_report_never_shows_a_total_and_all_but_one_of_its_parts(warehouse: Warehouse,
                                                                           tmp_path: Path) -> None:
    # 40 rows loaded and 3 quarantined (an unknown status): 45 read beside 40 loaded would give the 3 back
    rows = [appointment(f"a{n}", "2025-01-06", client=f"C{n}") for n in range(40)]
    rows += [appointment(f"b{n}", "2025-01-06", status="maybe", client=f"Q{n}") for n in range(3)]
    warehouse.load(rows)
    shown = Marked(write_report(warehouse.path, tmp_path / "shareable.html", "--shareable")).metrics
    assert [shown[f"load.{c}"] for c in ("rows_read", "rows_loaded", "rows_quarantined", "duplicates_merged")] == [
        [("count", "45")], [("count", "*")], [("count", "*")], [("count", "0")]]
    internal = Marked(write_report(warehouse.path, tmp_path / "internal.html")).metrics
    assert internal["load.rows_loaded"] == [("count", "40")]


def test_shareable_figure_beside_a_suppressed_count_gives_nothing_back() -> None:
    # 4 of 52 was printed "7.7% (* of 50)", and only 4 of 52 gives 7.7% with a denominator of 48 to 52
    assert Marked(board_report.rate_html(4, 52, True, "m")).metrics["m"] == [
        ("rate", "*"), ("count", "*"), ("count", "50")]
    assert Marked(board_report.rate_html(4, 52, False, "m")).metrics["m"] == [
        ("rate", "7.7%"), ("count", "4"), ("count", "52")]
    # from the rounded counts: 12 of 23 is shown as 40.0% (10 of 25), not 52.2%
    assert Marked(board_report.rate_html(12, 23, True, "m")).metrics["m"] == [
        ("rate", "40.0%"), ("count", "10"), ("count", "25")]


def test_episode_counts_are_disclosed_with_their_total() -> None:
    # 3 not started beside 40 open, 20 closed and 63 in all (shown as 65): the closed 20 are hidden too,
    # in the overview and wherever else the report quotes them
    counts = {"total": 63, "open": 40, "closed": 20, "not_started": 3}
    ctx = board_report.Context(reader=None, scope=Scope(), is_shareable=True, settings={}, counts=counts)
    assert ctx.episodes == {"total": "65", "open": "40", "closed": "*", "not_started": "*"}
    internal = board_report.Context(reader=None, scope=Scope(), is_shareable=False, settings={}, counts=counts)
    assert internal.episodes == {"total": "63", "open": "40", "closed": "20", "not_started": "3"}


def test_shareable_report_lists_quarantine_reasons_and_counts_only(warehouse: Warehouse, tmp_path: Path) -> None:
    rows = [appointment(f"a{n}", "2025-01-06", client=f"C{n}") for n in range(40)]
    # A status that is no identifier (the guard refuses those before anything is stored) but still
    # the file's own text: it must not reach a shareable report.
    rows += [appointment(f"b{n}", "2025-01-06", status="seen at home by arrangement", client=f"Q{n}")
             for n in range(9)]
    warehouse.load(rows)
    html = write_report(warehouse.path, tmp_path / "shareable.html", "--shareable")
    assert "seen at home" not in html
    quality = section(html, "data_quality")
    table = quality[quality.index("Quarantined rows by reason"):quality.index("Data issues by field")]
    assert re.findall(r"<th[^>]*>([^<]*)</th>", table) == ["reason", "rows"]
    assert re.search(r'<td class="count">10</td>', table) and "first_example" not in table and "log1.csv:" not in table


def test_chart_data_under_disclosure_draws_only_rates_from_shown_counts() -> None:
    frame = pl.DataFrame({"key": ["a", "b", "c"], "numerator": [3, 2, 12], "denominator": [7, 8, 23],
                          "rate": [3 / 7, 2 / 8, 12 / 23], "limit95": [0.9, 0.8, 0.7]})
    spec = Shareable(keys=("key",), counts=("numerator", "denominator"), rates={"rate": ("numerator", "denominator")})
    shared = chart_data(frame, True, spec, withheld=("limit95",))
    # a: 7 closed, b: 2 dropouts, both `*`, so neither rate is drawn; c: 12 of 23 is drawn as 10 of 25
    assert shared.select("key", "numerator", "denominator", "limit95").rows() == [("c", 10, 25, None)]
    assert shared["rate"].to_list() == [10 / 25]
    assert chart_data(frame, False, spec).equals(frame)


def test_chart_data_keeps_a_mean_beside_a_withheld_rate_when_asked() -> None:
    curve = pl.DataFrame({"session": [1, 2], "numerator": [3, 0], "denominator": [40, 6], "mean": [14.2, 9.5]})
    spec = Shareable(keys=(), counts=("numerator", "denominator"), rates={"rate": ("numerator", "denominator")})
    shared = chart_data(curve, True, spec, rated_only=False)
    assert shared.rows() == [(1, None, 40, 14.2, None)]  # session 2 rests on 6 episodes: no mean either


def test_svg_ids_are_namespaced_per_chart() -> None:
    svg = '<svg><clipPath id="clip1"><rect/></clipPath><g clip-path="url(#clip1)"><use href="#clip1"/></g></svg>'
    assert namespaced(svg, "funnel") == ('<svg><clipPath id="funnel-clip1"><rect/></clipPath>'
                                         '<g clip-path="url(#funnel-clip1)"><use href="#funnel-clip1"/></g></svg>')


def test_a_chart_of_more_than_5000_points_is_drawn() -> None:
    # National scale: a therapist caseload of 6,908 gives a 6,908-row limit curve, which Altair
    # refuses to inline by default (found on a 10 M-row warehouse).
    import altair as alt

    curve = pl.DataFrame({"day": range(6000), "survival": [1 - d / 6000 for d in range(6000)]})
    figure = board_report.svg_figure("curve", alt.Chart(curve).mark_line().encode(x="day:Q", y="survival:Q"), False)
    assert "<svg" in figure and "<path" in figure


def test_every_text_value_is_escaped(warehouse: Warehouse, tmp_path: Path) -> None:
    clinic, therapist = "<i>K&1</i>", "T<1>"
    warehouse.load([appointment(f"a{n}", "2025-01-06", client=f"C{n}", clinic=clinic, therapist=therapist)
                    for n in range(10)])
    text = write_report(warehouse.path, tmp_path / "report.html", "--clinic", clinic)
    assert "<i>" not in text and "T<1>" not in text
    assert "clinics &lt;i&gt;K&amp;1&lt;/i&gt;" in text  # the filter, in the header
    assert "T&lt;1&gt;" in section(text, "therapists")  # in the funnel plot's mark descriptions


def test_bad_output_paths_are_one_line_errors(sample_like_warehouse: Warehouse, tmp_path: Path) -> None:
    for out, message in ((tmp_path / "report.txt", "must end in .html or .pdf"),
                         (tmp_path / "missing" / "report.html", "there is no folder")):
        with pytest.raises(LoadError, match=message):
            cli("report", "--db", str(sample_like_warehouse.path), "--out", str(out))


# --- in a browser, and as PDF -----------------------------------------------------------------------


def test_every_chart_draws_in_chromium_and_nothing_is_fetched(sample_report: Path, chromium: Path) -> None:
    from playwright.sync_api import sync_playwright

    url = sample_report.as_uri()
    requested: list[str] = []
    problems: list[str] = []

    def route(request_route) -> None:
        if request_route.request.url == url:
            request_route.continue_()
        else:
            requested.append(request_route.request.url)
            request_route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", route)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(url)
            drawn = page.evaluate("""() => Array.from(document.querySelectorAll('figure.chart')).map(f => {
                const svg = f.querySelector('svg');
                const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                return {name: f.dataset.chart, width: box.width, height: box.height,
                        marks: svg ? svg.querySelectorAll(
                            'g.role-mark path, g.role-mark rect, g.role-mark line, g.role-mark circle').length : 0};
            })""")
        finally:
            browser.close()
    assert {chart["name"] for chart in drawn} == SAMPLE_CHARTS
    for chart in drawn:
        assert chart["width"] > 0 and chart["height"] > 0 and chart["marks"] > 0, chart
    assert requested == [] and problems == []


def test_pdf_report_is_printed_by_chromium(warehouse: Warehouse, tmp_path: Path, chromium: Path) -> None:
    out = tmp_path / "report.pdf"
    printed = cli("report", "--db", str(small_clinics(warehouse).path), "--out", str(out), "--shareable")
    assert "wrote the shareable board report" in printed
    assert out.read_bytes().startswith(b"%PDF")


def test_pdf_without_chromium_says_how_to_get_one(warehouse: Warehouse, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(board_report, "chromium_path", lambda: None)
    out = tmp_path / "report.pdf"
    with pytest.raises(LoadError, match=r"apt-get install chromium.*print it to PDF") as error:
        cli("report", "--db", str(small_clinics(warehouse).path), "--out", str(out))
    assert "\n" not in str(error.value) and not out.exists()


# --- the dashboard's download -----------------------------------------------------------------------


def test_dashboard_offers_the_report_for_the_filters_and_the_users_clinics(
        warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = small_clinics(warehouse).path
    monkeypatch.setenv(DB_ENV, str(db))
    monkeypatch.delenv(ACCESS_ENV, raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not [b for b in at.get("download_button") if "report" in b.label]  # built only when asked
    at.sidebar.button(key="prepare_board_report_internal").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert [b.label for b in at.get("download_button") if "report" in b.label] == ["Internal report (HTML)"]
    text = at.session_state["board_report_internal"][1]
    assert "Internal version: not for sharing" in text and re.search(r"\bK2\b", text)

    access = tmp_path / "access.toml"
    access.write_text('[users]\n"k1@clinic.example" = ["K1"]\n')
    monkeypatch.setenv(ACCESS_ENV, str(access))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.user = {"is_logged_in": True, "email_verified": True, "email": "k1@clinic.example"}
    at.run()
    at.sidebar.button(key="prepare_board_report_shareable").click()
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert [b.label for b in at.get("download_button") if "report" in b.label] == ["Shareable report (HTML)"]
    text = at.session_state["board_report_shareable"][1]
    assert "Shareable version." in text and "limited to the clinics this user may see: K1" in text
    assert not re.search(r"\bK2\b|\bT2\b", text)

    at.multiselect(key="filter_types").select("assessment")  # a new selection: prepare again
    at.run()
    assert not [b for b in at.get("download_button") if "report" in b.label]
