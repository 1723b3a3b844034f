"""How many rows of the shareable outputs give a suppressed count back (docs/security.md#disclosure-control).

    python bench/disclosure.py                       # the rule as it is now
    python bench/disclosure.py --rule-from 0e09cec   # the rule (and board report) of an earlier commit

Generates the sample data (`clinic-outcomes demo`: 2,000 clients, seed 42) in a temporary folder,
builds the dashboard's four shareable tables unfiltered and the shareable board report, and tries
every way back to each `*` count (tests/disclosure_inversion.py): a row is recoverable when one of
its `*` counts has a single possible value given everything the table publishes. The board report's
rates are read as it prints them (a percentage to one decimal) beside their counts. It prints the
counts of recoverable rows; it asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import polars as pl  # noqa: E402
from disclosure_inversion import Layout, flag_of, possible_counts, recovered_cells  # noqa: E402

from dashboard import frames, shareable_tables  # noqa: E402
from pipelines.disclosure import SMALL_COUNT_MAX, SUPPRESSED, Shareable  # noqa: E402
from pipelines.generate import EXTRACT_DATE, generate_appointments, write_appointments  # noqa: E402
from pipelines.queries import MetricsReader, Scope  # noqa: E402
from pipelines.warehouse import ingest  # noqa: E402

Publish = Callable[[pl.DataFrame, Shareable], pl.DataFrame]


def rule_from(commit: str) -> types.ModuleType:
    """pipelines/disclosure.py as it was at `commit`, as a module of its own."""
    source = subprocess.run(["git", "show", f"{commit}:pipelines/disclosure.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(f"disclosure_{commit}")
    sys.modules[module.__name__] = module  # its dataclasses look their module up
    exec(compile(source, f"{commit}:pipelines/disclosure.py", "exec"), module.__dict__)  # noqa: S102 - our own code
    return module


def old_publisher(rule: types.ModuleType) -> Publish:
    """A table published by a rule whose specs named each rate's denominator only and which read the
    exact rate from the table (the rule before rates were derived from the rounded counts)."""
    def publish(frame: pl.DataFrame, spec: Shareable) -> pl.DataFrame:
        denominators = {r: d for r, (_, d) in spec.rates.items()}
        counts = tuple(dict.fromkeys((*spec.counts, *denominators.values())))
        exact = frame.with_columns(pl.when(pl.col(d) > 0).then(pl.col(n) / pl.col(d)).alias(r)
                                   for r, (n, d) in spec.rates.items())
        keys = (*spec.keys, *spec.derived_labels)  # a flag was a label like any other, shown as it was
        return rule.shareable(exact, rule.Shareable(keys=keys, counts=counts, rates=denominators))
    return publish


def old_board_report(rule: types.ModuleType) -> types.ModuleType:
    """dashboard/board_report.py of the same commit, importing that commit's rule."""
    commit = rule.__name__.removeprefix("disclosure_")
    source = subprocess.run(["git", "show", f"{commit}:dashboard/board_report.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    current = sys.modules["pipelines.disclosure"]
    sys.modules["pipelines.disclosure"] = rule
    try:
        module = types.ModuleType(f"board_report_{commit}")
        sys.modules[module.__name__] = module
        exec(compile(source, f"{commit}:dashboard/board_report.py", "exec"), module.__dict__)  # noqa: S102
    finally:
        sys.modules["pipelines.disclosure"] = current
    return module


def tables(reader: MetricsReader) -> dict[str, tuple[pl.DataFrame, Shareable]]:
    """The dashboard's shareable tables, unfiltered, as its pages build them."""
    scope = Scope()
    single = reader.run("single_session", scope)
    months = frames.single_session_breakdown(single, "month", "month").select(
        "month", "numerator", "denominator", "rate", "open")
    therapists = reader.run("therapist_funnel", scope, min_caseload=int(reader.settings()["min_caseload"]))
    outcomes = frames.outcome_rates(reader.run("outcomes", scope)).sort("measure", "outcome", "is_all_clinics",
                                                                         "clinic")
    clinics = reader.run("attendance_by_clinic", scope)
    waits = frames.waits_by_clinic(reader.run("waits_by_clinic", scope))
    bands = frames.with_rate(reader.run("dropout_by_next_booking", scope), "numerator", "denominator")
    return {
        "therapist flags": (therapists, shareable_tables.THERAPIST_FLAGS),
        "single session by month": (months, shareable_tables.SINGLE_SESSION_BY_MONTH),
        "outcomes": (outcomes, shareable_tables.OUTCOMES),
        "attendance by clinic": (clinics, shareable_tables.ATTENDANCE_BY_CLINIC),
        "waits by clinic": (waits, shareable_tables.WAITS_BY_CLINIC),
        "dropout by next booking": (bands, shareable_tables.DROPOUT_BY_NEXT_BOOKING),
    }


def rate_shown_by(publish: Publish) -> Callable[[int, int], str | None]:
    """The rate `publish` gives for a numerator and denominator standing alone."""
    spec = Shareable(keys=(), counts=("n", "d"), rates={"rate": ("n", "d")})
    cache: dict[tuple[int, int], str | None] = {}

    def rate_shown(numerator: int, denominator: int) -> str | None:
        if (numerator, denominator) not in cache:
            frame = pl.DataFrame({"n": [numerator], "d": [denominator]}, schema={"n": pl.Int64, "d": pl.Int64})
            cache[(numerator, denominator)] = publish(frame, spec)["rate"][0]
        return cache[(numerator, denominator)]
    return rate_shown


def recoverable_rows(published: pl.DataFrame, spec: Shareable, publish: Publish) -> int:
    """Rows of a shareable table with a `*` count that its own row gives away: each (numerator,
    denominator) pair with its rate, row by row (the way back the issue found)."""
    rate_shown = rate_shown_by(publish)
    found = 0
    for row in published.iter_rows(named=True):
        for rate, (numerator, denominator) in spec.rates.items():
            if SUPPRESSED not in (row[numerator], row[denominator]) or row[rate] in (SUPPRESSED, None):
                continue
            layout = Layout(parts=(numerator, denominator), total=None, rates={rate: (numerator, denominator)})
            if recovered_cells([row], layout, rate_shown, most=SMALL_COUNT_MAX):  # `*` read as 1–7
                found += 1
                break
    return found


def recoverable_by_flag(frame: pl.DataFrame, published: pl.DataFrame, publish: Publish, min_caseload: int) -> int:
    """Therapist rows with a `*` count that the row's flag gives back, against the benchmark (taken
    as known: the report prints it), reading `*` as 1–7."""
    benchmark = float(frame["p0"][0])
    layout = Layout(parts=("numerator", "denominator"), total=None, rates=shareable_tables.DROPOUT,
                    labels={"flag": lambda v: flag_of(v["numerator"], v["denominator"], benchmark, min_caseload)})
    rate_shown = rate_shown_by(publish)
    return sum(bool(recovered_cells([row], layout, rate_shown, SMALL_COUNT_MAX))
               for row in published.select("flag", "numerator", "denominator", "rate").to_dicts()
               if SUPPRESSED in (row["numerator"], row["denominator"]) and row["flag"] != SUPPRESSED)


def recoverable_groups(frame: pl.DataFrame, published: pl.DataFrame, spec: Shareable, publish: Publish) -> int:
    """Rows of a table with a total row (outcomes: 'all clinics') whose `*` count the total row and the
    other rows of its group give back exactly, reading `*` as 1–7."""
    marker = spec.total_row[1]
    others = [k for k in spec.keys if k not in spec.total_row]
    [(rate, (numerator, denominator))] = spec.rates.items()
    layout = Layout(parts=(numerator, denominator), total=None, rates=spec.rates, total_row=0)
    exact = frame.with_row_index("row")
    shown = published.with_row_index("row")
    found = 0
    for _, group in shown.group_by(others, maintain_order=True):
        group = group.sort(pl.col(marker).not_())  # the total row first
        if not group[marker][0] or group.height < 2:
            continue
        truth = exact.filter(pl.col("row").is_in(group["row"].implode())).sort(pl.col(marker).not_())
        rows = group.select(numerator, denominator, rate).to_dicts()
        hits = {i for i, column, value in recovered_cells(rows, layout, rate_shown_by(publish), SMALL_COUNT_MAX)
                if truth[column][i] == value}
        found += len(hits)
    return found


FIGURE = re.compile(r'<span class="rate">([^<]*)</span> \(<span class="count">([^<]*)</span> of '
                    r'<span class="count">([^<]*)</span>\)')
TABLE_ROW = re.compile(r'<td class="rate">([^<]*)</td><td class="count">([^<]*)</td><td class="count">([^<]*)</td>')


def recoverable_figures(report: str) -> tuple[int, int, list[str]]:
    """Figures of the report, `rate (numerator of denominator)` or a table row's rate and counts,
    with a `*` count; how many give it back from the rate printed to one decimal; examples."""
    found, examples, candidates = 0, [], 0
    for rate, numerator, denominator in [*FIGURE.findall(report), *TABLE_ROW.findall(report)]:
        if SUPPRESSED not in (numerator, denominator) or rate in (SUPPRESSED, "–"):
            continue
        candidates += 1
        pairs = {(n, d) for n in possible_counts(numerator, SMALL_COUNT_MAX)
                 for d in possible_counts(denominator, SMALL_COUNT_MAX)
                 if d and f"{n / d:.1%}" == rate}
        if len({n for n, _ in pairs}) == 1:
            found += 1
            examples.append(f"{rate} ({numerator} of {denominator}) is {pairs.pop()[0]}")
    return found, candidates, examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule-from", metavar="COMMIT", help="measure the rule of this commit instead")
    args = parser.parse_args()
    from dashboard import board_report
    from pipelines.disclosure import shareable

    publish: Publish = shareable
    if args.rule_from:
        rule = rule_from(args.rule_from)
        publish, board_report = old_publisher(rule), old_board_report(rule)
    with tempfile.TemporaryDirectory() as folder:
        sample = write_appointments(generate_appointments(2000, 42), Path(folder), "csv")
        db = Path(folder) / "sample.duckdb"
        ingest([sample], db, extract_date=EXTRACT_DATE)
        reader = MetricsReader.open(db)
        try:
            print(f"rule: {args.rule_from or 'this working tree'}")
            for name, (frame, spec) in tables(reader).items():
                published = publish(frame, spec)
                print(f"{name}: {recoverable_rows(published, spec, publish)} of {published.height} rows give a "
                      "suppressed count back")
                if spec is shareable_tables.THERAPIST_FLAGS:
                    min_caseload = int(reader.settings()["min_caseload"])
                    print(f"{name}, with each flag against the benchmark: "
                          f"{recoverable_by_flag(frame, published, publish, min_caseload)} of {published.height} "
                          "rows give a suppressed count back")
                if spec.total_row:
                    print(f"{name}, with the total row ({spec.total_row[1]}) beside the others: "
                          f"{recoverable_groups(frame, published, spec, publish)} rows give a suppressed count back")
            report = board_report.board_report_html(reader, Scope(), shareable=True)
        finally:
            reader.close()
    found, candidates, examples = recoverable_figures(report)
    print(f"shareable board report: {found} of {candidates} rates shown beside a * count give it back"
          + (f", e.g. {examples[0]}" if examples else ""))


if __name__ == "__main__":
    main()
