"""Disclosure control on shareable exports (docs/security.md#disclosure-control), and formula-safe CSV downloads."""

from __future__ import annotations

import functools
import io
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from disclosure_inversion import Layout, feasible_values, flag_of
from hypothesis import example, given, settings, strategies as st

from pipelines.disclosure import SMALL_COUNT_MAX, SUPPRESSED, Shareable, formula_safe, safe_csv, shareable

CLINIC_RATES = Shareable(keys=("clinic_id",), counts=("dropout", "closed"), rates={"rate": ("dropout", "closed")})


def table(**columns) -> pl.DataFrame:
    return pl.DataFrame(columns)


def test_counts_of_one_to_seven_show_as_a_star():
    out = shareable(table(clinic_id=list("abcdefg"), dropout=[1, 2, 3, 4, 5, 6, 7], closed=[100] * 7), CLINIC_RATES)
    assert out["dropout"].to_list() == ["*"] * 7


def test_zero_is_not_suppressed():
    out = shareable(table(clinic_id=["a"], dropout=[0], closed=[40]), CLINIC_RATES)
    assert out["dropout"].to_list() == ["0"]
    assert out["rate"].to_list() == ["0.0"]


def test_other_counts_round_to_the_nearest_five():
    out = shareable(table(clinic_id=list("abcdef"), dropout=[8, 10, 12, 13, 17, 1234], closed=[2000] * 6),
                    CLINIC_RATES)
    assert out["dropout"].to_list() == ["10", "10", "10", "15", "15", "1235"]


def test_rate_beside_suppressed_count_is_suppressed():
    # T0304 of the worked example: 1 dropout of 10 closed episodes used to show as 0.1 beside `*` and 10
    out = shareable(table(clinic_id=["T0304", "T0306"], dropout=[1, 7], closed=[10, 8]), CLINIC_RATES)
    assert out["dropout"].to_list() == ["*", "*"]
    assert out["rate"].to_list() == ["*", "*"]


def test_rate_over_suppressed_denominator_is_suppressed():
    out = shareable(table(clinic_id=["a", "b"], dropout=[0, 7], closed=[7, 7]), CLINIC_RATES)
    assert out["closed"].to_list() == ["*", "*"]
    assert out["rate"].to_list() == ["*", "*"]
    # a denominator of 20 hidden beside a hidden 3 (their total is shown): its rate goes with it
    spec = Shareable(keys=("k",), counts=("scored", "other", "attended", "all"), rates={"rate": ("scored", "attended")},
                     totals={"all": ("other", "attended")})
    out = shareable(table(k=["x"], scored=[12], other=[3], attended=[20], all=[23]), spec)
    assert out.row(0) == ("x", "10", "*", "*", "25", "*")


def test_rate_is_derived_from_the_rounded_counts():
    # 25 of 37 is 0.6757 exactly; shown beside 25 and 35 it is 25/35, which anyone could work out
    out = shareable(table(clinic_id=["a", "b", "c"], dropout=[25, 13, 0], closed=[37, 37, 9]), CLINIC_RATES)
    assert out.rows() == [("a", "25", "35", "0.7143"), ("b", "15", "35", "0.4286"), ("c", "0", "10", "0.0")]


def test_rate_without_its_counts_shown_is_derived_from_the_rounded_counts():
    rates_only = Shareable(keys=("clinic_id",), counts=(), rates={"rate": ("dropout", "closed")})
    out = shareable(table(clinic_id=["a", "b"], dropout=[12, 3], closed=[41, 50]), rates_only)
    assert out.columns == ["clinic_id", "rate"]
    assert out["rate"].to_list() == [str(round(10 / 40, 4)), "*"]


def test_rate_over_no_episodes_is_empty():
    out = shareable(table(clinic_id=["a"], dropout=[0], closed=[0]), CLINIC_RATES)
    assert out.row(0) == ("a", "0", "0", None)


ATTENDANCE = Shareable(keys=("clinic_id",), counts=("attended", "dna", "denominator"),
                       totals={"denominator": ("attended", "dna")})


def test_total_and_all_but_one_part_are_never_all_shown():
    # 3 no-shows beside 40 attended and 43 attended-or-missed: 43 - 40 would be 3 but for the rounding;
    # the rule does not lean on the rounding, the next smallest part is hidden too
    out = shareable(table(clinic_id=["K1"], attended=[40], dna=[3], denominator=[43]), ATTENDANCE)
    assert out.row(0) == ("K1", "*", "*", "45")


def test_complementary_suppression_hides_the_smallest_other_non_zero_part():
    parts = Shareable(keys=("k",), counts=("a", "b", "c", "all"), totals={"all": ("a", "b", "c")})
    out = shareable(table(k=["x", "y"], a=[2, 2], b=[30, 30], c=[12, 0], all=[44, 32]), parts)
    assert out.rows() == [("x", "*", "30", "*", "45"), ("y", "*", "*", "0", "30")]


def test_total_row_and_all_but_one_row_are_never_all_shown():
    outcomes = Shareable(keys=("measure", "clinic", "total"), counts=("numerator", "denominator"),
                         rates={"rate": ("numerator", "denominator")}, total_row=("clinic", "total"))
    out = shareable(table(measure=["PHQ-9"] * 4 + ["GAD-7"] * 2, clinic=[None, "K1", "K2", "K3", None, "K1"],
                          total=[True, False, False, False, True, False],
                          numerator=[53, 1, 40, 12, 9, 9], denominator=[90, 9, 60, 21, 30, 30]), outcomes)
    assert out.rows() == [
        ("PHQ-9", None, True, "55", "90", "0.6111"), ("PHQ-9", "K1", False, "*", "10", "*"),
        ("PHQ-9", "K2", False, "40", "60", "0.6667"), ("PHQ-9", "K3", False, "*", "20", "*"),
        # one clinic only: its row is the total, no count of it is suppressed
        ("GAD-7", None, True, "10", "30", "0.3333"), ("GAD-7", "K1", False, "10", "30", "0.3333")]


@pytest.mark.parametrize("clinic", ["all", "all clinics"])
def test_a_clinic_named_like_the_total_is_one_of_the_parts(clinic):
    # the Outcomes CSV's total row was the row whose clinic read "all clinics": a clinic of that name was taken
    # for a second total, and nothing in the CSV told the two apart
    from dashboard import frames
    from dashboard.shareable_tables import OUTCOMES

    report = table(measure=["phq9"] * 3, clinic_id=[None, clinic, "K2"], is_all_clinics=[True, False, False],
                   **{c: n for c, n in zip(("reliable_improvement", "paired", "recovery", "paired_in_clinical_range",
                                            "reliable_recovery", "reliable_deterioration"),
                                           ([43, 3, 40], [60, 10, 50], [0, 0, 0], [60, 10, 50], [0, 0, 0], [0, 0, 0]),
                                           strict=True)})
    out = shareable(frames.outcome_rates(report).filter(pl.col("outcome") == "reliable improvement"), OUTCOMES)
    assert out.filter(pl.col("clinic") == clinic).height == 1  # the clinic's row, and not the total's too
    assert out.select("clinic", "is_all_clinics", "numerator", "denominator").rows() == [
        (None, True, "45", "60"), (clinic, False, "*", "10"), ("K2", False, "*", "50")]


def test_rows_with_nothing_to_suppress_are_left_as_rounded():
    out = shareable(table(clinic_id=["K1"], attended=[40], dna=[0], denominator=[40]), ATTENDANCE)
    assert out.row(0) == ("K1", "40", "0", "40")


def test_a_count_and_its_copy_are_hidden_together():
    # 3 attended and 20 no-shows of 23: the 3 is `*`, so the 20 is hidden beside the total, and so is the
    # numerator column that repeats it
    from dashboard.shareable_tables import ATTENDANCE_BY_CLINIC

    out = shareable(table(clinic_id=["K1"], flag=["none"], adjusted_flag=["none"], appointments=[30], attended=[3],
                          dna=[20], cancelled_client=[4], cancelled_clinic=[3], numerator=[20], denominator=[23]),
                    ATTENDANCE_BY_CLINIC)
    row = out.row(0, named=True)
    shown = (row["attended"], row["dna"], row["numerator"], row["denominator"], row["rate"])
    assert shown == ("*", "*", "*", "25", "*")


def test_columns_not_declared_are_dropped_from_a_shareable_table():
    out = shareable(table(clinic_id=["a"], dropout=[9], closed=[30], rate=[0.3], limit95=[0.41]), CLINIC_RATES)
    assert out.columns == ["clinic_id", "dropout", "closed", "rate"]


def test_a_spec_naming_a_column_the_table_lacks_is_refused():
    with pytest.raises(ValueError, match="no column"):
        shareable(table(clinic_id=["a"], dropout=[9]), CLINIC_RATES)


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=50))
def test_no_shared_count_reveals_a_value_between_one_and_seven(counts):
    out = shareable(table(clinic_id=[str(i) for i in range(len(counts))], dropout=counts,
                          closed=[c + 1 for c in counts]), CLINIC_RATES)
    for original, shown in zip(counts, out["dropout"].to_list(), strict=True):
        if 1 <= original <= 7:
            assert shown == "*"
        elif shown != "*":  # a larger count may be hidden too, beside a hidden one (never a small one shown)
            assert int(shown) % 5 == 0 and abs(int(shown) - original) <= 2


# --- the property: no way back to a suppressed count -------------------------------------------------

MOST = 30  # the largest count the random tables hold, known to the attacker


@functools.cache
def rate_shown(numerator: int, denominator: int) -> str | None:
    """The rate the code publishes for these exact counts in a table of their own."""
    spec = Shareable(keys=(), counts=("n", "d"), rates={"rate": ("n", "d")})
    return shareable(pl.DataFrame({"n": [numerator], "d": [denominator]}), spec)["rate"][0]


@st.composite
def small_tables(draw) -> tuple[pl.DataFrame, Shareable, Layout]:
    """Several rows of 1–3 counts of 0–30, maybe a total column, maybe a total row, and a rate of
    the first count over the total (or over the last count)."""
    with_total_row = draw(st.booleans())
    width = draw(st.integers(1, 2 if with_total_row else 3))
    with_total = draw(st.booleans()) or width == 1
    rows = draw(st.integers(2, 3))
    parts = tuple(f"p{j}" for j in range(width))
    values = {p: draw(st.lists(st.integers(0, MOST), min_size=rows, max_size=rows)) for p in parts}
    keys = [f"r{i}" for i in range(rows)]
    if with_total_row:
        keys.insert(0, "all")
        values = {p: [sum(v), *v] for p, v in values.items()}
    frame = pl.DataFrame({"row": keys, "is_total": [with_total_row and i == 0 for i in range(len(keys))], **values})
    if with_total:
        frame = frame.with_columns(pl.sum_horizontal(*parts).alias("total"))
    denominator = "total" if with_total else parts[-1]
    layout = Layout(parts=parts, total="total" if with_total else None, rates={"rate": (parts[0], denominator)},
                    total_row=0 if with_total_row else None)
    spec = Shareable(keys=("row", "is_total"), counts=layout.columns, rates=layout.rates,
                     totals={"total": parts} if with_total else {},
                     total_row=("row", "is_total") if with_total_row else None)
    return frame, spec, layout


@settings(max_examples=100, deadline=None)
@given(small_tables())
def test_no_suppressed_count_can_be_recovered_from_a_shareable_table(case):
    frame, spec, layout = case
    published = shareable(frame, spec).to_dicts()
    exact = frame.to_dicts()
    feasible = feasible_values(published, layout, rate_shown, MOST)
    for (i, column), values in feasible.items():
        assert exact[i][column] in values, "the attacker's model must allow the true table"
        if published[i][column] == SUPPRESSED:
            assert len(values) >= 2, f"row {i} {column} = {exact[i][column]} recovered from {published}"
        if 1 <= exact[i][column] <= SMALL_COUNT_MAX:  # even knowing the count is small, it is not determined
            assert len(values & set(range(1, SMALL_COUNT_MAX + 1))) >= 2, (i, column, published)


# --- flags: labels worked out from the exact counts ---------------------------------------------------


def funnel(numerators: list[int], denominators: list[int], benchmark: float,
           adjusted_flags: list[str] | None = None) -> pl.DataFrame:
    """The Therapists page's flags table; the adjusted flag, which reads a case mix these rows do not
    have, is the raw one unless given."""
    flags = [flag_of(n, d, benchmark) for n, d in zip(numerators, denominators, strict=True)]
    return table(therapist_id=[f"T{i + 1}" for i in range(len(numerators))], flag=flags,
                 adjusted_flag=adjusted_flags or flags, numerator=numerators, denominator=denominators,
                 rate=[n / d for n, d in zip(numerators, denominators, strict=True)],
                 expected=[d * benchmark for d in denominators],
                 ratio=[n / (d * benchmark) for n, d in zip(numerators, denominators, strict=True)])


def test_flag_beside_a_suppressed_count_is_suppressed():
    # the reviewer's case: T1's 7 dropouts of 13 against 180 of 1000 were published as `alarm,*,15`, and
    # every table of exact counts that gives that flag has 7 dropouts
    from dashboard.shareable_tables import THERAPIST_FLAGS

    exact = funnel([7, 180], [13, 1000], benchmark=187 / 1013)
    assert exact["flag"].to_list() == ["alarm", "none"]
    assert shareable(exact, THERAPIST_FLAGS).write_csv().splitlines() == [
        "therapist_id,flag,adjusted_flag,numerator,denominator,rate", "T1,*,*,*,15,*", "T2,none,none,180,1000,0.18"]


def test_adjusted_flag_beside_a_suppressed_count_is_suppressed():
    # the adjusted flag also reads the exact dropouts: `alert` beside `*` would narrow them as the raw flag does
    from dashboard.shareable_tables import THERAPIST_FLAGS

    exact = funnel([7, 180], [13, 1000], benchmark=187 / 1013, adjusted_flags=["alert", "none"])
    shared = shareable(exact, THERAPIST_FLAGS)
    assert shared.select("therapist_id", "adjusted_flag", "numerator").rows() == [("T1", "*", "*"),
                                                                                 ("T2", "none", "180")]


def test_shareable_therapist_flags_leave_out_expected_and_ratio():
    # ratio × expected is the exact dropout count, whatever the rounding of the counts beside them
    from dashboard.shareable_tables import THERAPIST_FLAGS

    exact = funnel([7, 180], [13, 1000], benchmark=187 / 1013)
    assert exact["ratio"][0] * exact["expected"][0] == pytest.approx(7)
    assert not {"expected", "ratio", "z", "adjusted_z"} & set(shareable(exact, THERAPIST_FLAGS).columns)


def test_clinic_flag_beside_a_suppressed_no_show_count_is_suppressed():
    from dashboard.shareable_tables import ATTENDANCE_BY_CLINIC

    out = shareable(table(clinic_id=["K1", "K2"], flag=["alarm", "none"], adjusted_flag=["alert", "none"],
                          appointments=[30, 40], attended=[24, 40],
                          dna=[6, 0], cancelled_client=[0, 0], cancelled_clinic=[0, 0], numerator=[6, 0],
                          denominator=[30, 40]), ATTENDANCE_BY_CLINIC)
    assert out.select("clinic_id", "flag", "dna", "rate").rows() == [("K1", "*", "*", "*"), ("K2", "none", "0", "0.0")]


def test_clinic_adjusted_flag_beside_a_suppressed_no_show_count_is_suppressed():
    # the flag with the overdispersion allowance is worked out from the same exact counts: shown
    # beside a `*` it would narrow them as the raw flag would
    from dashboard.shareable_tables import ATTENDANCE_BY_CLINIC

    out = shareable(table(clinic_id=["K1", "K2"], flag=["alarm", "none"], adjusted_flag=["alert", "none"],
                          appointments=[30, 40], attended=[24, 40], dna=[6, 0], cancelled_client=[0, 0],
                          cancelled_clinic=[0, 0], numerator=[6, 0], denominator=[30, 40]), ATTENDANCE_BY_CLINIC)
    assert out.select("clinic_id", "flag", "adjusted_flag", "dna").rows() == [("K1", "*", "*", "*"),
                                                                            ("K2", "none", "none", "0")]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, MOST), st.integers(1, MOST)), min_size=1, max_size=3),
       st.sampled_from([0.05, 0.18, 0.3, 0.5]))
@example([(7, 13)], 0.18)  # the reviewer's T1 against T2's 180 of 1000
def test_no_suppressed_count_can_be_recovered_from_a_shared_flag(rows, benchmark):
    from dashboard.shareable_tables import DROPOUT, THERAPIST_FLAGS

    rows = [(min(n, d), d) for n, d in rows]
    frame = funnel([n for n, _ in rows], [d for _, d in rows], benchmark)
    published = shareable(frame, THERAPIST_FLAGS).to_dicts()
    layout = Layout(parts=("numerator", "denominator"), total=None, rates=DROPOUT,
                    labels={"flag": lambda v: flag_of(v["numerator"], v["denominator"], benchmark)})
    feasible = feasible_values(published, layout, rate_shown, MOST)
    for (i, column), values in feasible.items():
        exact = frame[column][i]
        assert exact in values, "the attacker's model must allow the true table"
        if published[i][column] == SUPPRESSED:
            assert len(values) >= 2, f"T{i + 1} {column} = {exact} recovered from {published}"
        if 1 <= exact <= SMALL_COUNT_MAX:
            assert len(values & set(range(1, SMALL_COUNT_MAX + 1))) >= 2, (i, column, published)


def test_csv_cells_that_start_a_formula_are_neutralised():
    ids = ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", "C01"]
    data = safe_csv(pl.DataFrame({"client_id": ids, "sessions": list(range(len(ids)))}))
    back = pl.read_csv(io.BytesIO(data), infer_schema=False)
    assert back["client_id"].to_list() == ["'" + v for v in ids[:-1]] + ["C01"]


def test_numbers_in_csv_downloads_are_left_as_numbers():
    data = safe_csv(pl.DataFrame({"client_id": ["C1"], "early_change": [-3.5]}))
    assert data.decode().splitlines()[1] == "C1,-3.5"


def test_formula_safe_keeps_every_row_and_column():
    frame = pl.DataFrame({"a": ["=1", None, "x"], "b": [1, 2, 3]})
    assert formula_safe(frame).shape == frame.shape


# --- the dashboard's download buttons ------------------------------------------------------------


@pytest.fixture
def offered(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """What layout.downloads hands to each download button, by label."""
    from streamlit.delta_generator import DeltaGenerator

    captured: dict[str, bytes] = {}

    def download_button(self, label, data, **kwargs):
        captured[label] = data

    monkeypatch.setattr(DeltaGenerator, "download_button", download_button)
    return captured


HOSTILE = pl.DataFrame({"client_id": ["=cmd|' /C calc'!A0", "@SUM(1)", "C3"], "month": ["2026-01"] * 3,
                        "numerator": [3, 9, 40], "denominator": [5, 20, 41], "rate": [0.6, 0.45, 40 / 41]})


def test_dashboard_downloads_are_formula_safe_internal_and_shareable(offered):
    from dashboard.layout import downloads

    downloads(HOSTILE, "hostile", Shareable(keys=("client_id", "month"), counts=("numerator", "denominator"),
                                            rates={"rate": ("numerator", "denominator")}))
    assert set(offered) == {"Internal CSV", "Internal Parquet", "Shareable CSV"}
    internal = pl.read_csv(io.BytesIO(offered["Internal CSV"]), infer_schema=False)
    assert internal["client_id"].to_list() == ["'=cmd|' /C calc'!A0", "'@SUM(1)", "C3"]
    assert internal["numerator"].to_list() == ["3", "9", "40"]
    shared = pl.read_csv(io.BytesIO(offered["Shareable CSV"]), infer_schema=False)
    assert shared["client_id"].to_list() == ["'=cmd|' /C calc'!A0", "'@SUM(1)", "C3"]
    assert shared["numerator"].to_list() == ["*", "10", "40"]
    assert shared["rate"].to_list() == ["*", "0.5", "1.0"]  # from the rounded counts: 10 of 20, 40 of 40
    assert pl.read_parquet(io.BytesIO(offered["Internal Parquet"])).equals(HOSTILE)


def test_row_level_tables_offer_no_shareable_download(offered):
    from dashboard.layout import downloads

    downloads(HOSTILE, "rows")
    assert set(offered) == {"Internal CSV", "Internal Parquet"}


def test_no_shareable_table_of_the_sample_data_gives_a_count_back():
    """bench/disclosure.py on the sample data: every way back it tries recovers nothing."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "bench" / "disclosure.py")], capture_output=True, text=True,
                          cwd=root, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if "give" in line]
    assert len(lines) == 9 and all(re.search(r": 0 (of \d+ )?(rows|rates)", line) for line in lines), done.stdout
