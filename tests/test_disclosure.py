"""Disclosure control on shareable exports (docs/security.md#disclosure-control), and formula-safe CSV downloads."""

from __future__ import annotations

import io

import polars as pl
import pytest
from hypothesis import given, strategies as st

from pipelines.disclosure import Shareable, formula_safe, safe_csv, shareable

CLINIC_RATES = Shareable(keys=("clinic_id",), counts=("dropout", "closed"), rates={"rate": "closed"})


def table(**columns) -> pl.DataFrame:
    return pl.DataFrame(columns)


def test_counts_of_one_to_seven_show_as_a_star():
    out = shareable(table(clinic_id=list("abcdefg"), dropout=[1, 2, 3, 4, 5, 6, 7],
                          closed=[100] * 7, rate=[0.5] * 7), CLINIC_RATES)
    assert out["dropout"].to_list() == ["*"] * 7


def test_zero_is_not_suppressed():
    out = shareable(table(clinic_id=["a"], dropout=[0], closed=[40], rate=[0.0]), CLINIC_RATES)
    assert out["dropout"].to_list() == ["0"]


def test_other_counts_round_to_the_nearest_five():
    out = shareable(table(clinic_id=list("abcdef"), dropout=[8, 10, 12, 13, 17, 1234],
                          closed=[2000] * 6, rate=[0.1] * 6), CLINIC_RATES)
    assert out["dropout"].to_list() == ["10", "10", "10", "15", "15", "1235"]


def test_rates_on_fewer_than_eight_episodes_are_withheld():
    out = shareable(table(clinic_id=["a", "b"], dropout=[1, 1], closed=[7, 8], rate=[1 / 7, 1 / 8]), CLINIC_RATES)
    assert out["rate"].to_list() == ["*", "0.125"]
    assert out["closed"].to_list() == ["*", "10"]


def test_columns_not_declared_are_dropped_from_a_shareable_table():
    out = shareable(table(clinic_id=["a"], dropout=[9], closed=[30], rate=[0.3], limit95=[0.41]), CLINIC_RATES)
    assert out.columns == ["clinic_id", "dropout", "closed", "rate"]


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=50))
def test_no_shared_count_reveals_a_value_between_one_and_seven(counts):
    out = shareable(table(clinic_id=[str(i) for i in range(len(counts))], dropout=counts,
                          closed=[c + 1 for c in counts], rate=[0.5] * len(counts)), CLINIC_RATES)
    for original, shown in zip(counts, out["dropout"].to_list(), strict=True):
        if 1 <= original <= 7:
            assert shown == "*"
        else:
            assert int(shown) % 5 == 0 and abs(int(shown) - original) <= 2


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
                                            rates={"rate": "denominator"}))
    assert set(offered) == {"Internal CSV", "Internal Parquet", "Shareable CSV"}
    internal = pl.read_csv(io.BytesIO(offered["Internal CSV"]), infer_schema=False)
    assert internal["client_id"].to_list() == ["'=cmd|' /C calc'!A0", "'@SUM(1)", "C3"]
    assert internal["numerator"].to_list() == ["3", "9", "40"]
    shared = pl.read_csv(io.BytesIO(offered["Shareable CSV"]), infer_schema=False)
    assert shared["client_id"].to_list() == ["'=cmd|' /C calc'!A0", "'@SUM(1)", "C3"]
    assert shared["numerator"].to_list() == ["*", "10", "40"]
    assert shared["rate"].to_list() == ["*", "0.45", "0.9756"]
    assert pl.read_parquet(io.BytesIO(offered["Internal Parquet"])).equals(HOSTILE)


def test_row_level_tables_offer_no_shareable_download(offered):
    from dashboard.layout import downloads

    downloads(HOSTILE, "rows")
    assert set(offered) == {"Internal CSV", "Internal Parquet"}
