"""The synthetic generator: input columns, episode rules, realistic rates, planted patterns.

Episode facts are computed here straight from the frame (docs/metrics/episodes.md: attribution to session 1,
closed by discharge date or by 90 days of inactivity), independently of the warehouse SQL.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from pipelines.generate import (
    EXTRACT_DATE,
    PLANTED,
    generate_appointments,
    planted_client_ids,
    write_appointments,
)

SAMPLE_CLIENTS = 2000
SCORES = ("phq9", "phq9_item9", "gad7", "core10", "ors", "srs")
ATTENDED = pl.col("status") == "attended"
DAY = pl.col("appointment_date").dt.date()


@pytest.fixture(scope="module")
def sample() -> pl.DataFrame:
    return generate_appointments(SAMPLE_CLIENTS, seed=42)


@pytest.fixture(scope="module")
def episodes(sample) -> pl.DataFrame:
    return episode_summary(sample)


def episode_summary(df: pl.DataFrame, extract_date: date = EXTRACT_DATE) -> pl.DataFrame:
    """One row per episode, derived as docs/metrics/episodes.md says."""
    inactive_before = extract_date - timedelta(days=90)
    latest_discharge = pl.col("discharge_date").max()
    summary = (
        df.sort("appointment_date", "appointment_id")
        .group_by("client_id", "episode_id")
        .agg(
            therapist_id=pl.col("therapist_id").filter(ATTENDED).first(),
            clinic_id=pl.col("clinic_id").filter(ATTENDED).first(),
            attended_sessions=ATTENDED.sum(),
            first_attended_date=DAY.filter(ATTENDED).min(),
            last_attended_date=DAY.filter(ATTENDED).max(),
            discharge_date=latest_discharge,
            discharge_reason=pl.col("discharge_reason")
            .filter(pl.col("discharge_date") == latest_discharge).last(),
            booked_ahead=(pl.col("status") == "scheduled").any(),
        )
    )
    discharged = pl.col("discharge_date").is_not_null() & (pl.col("discharge_date") <= extract_date)
    inactive = (pl.col("last_attended_date") <= inactive_before) & ~pl.col("booked_ahead")
    return summary.with_columns(
        status=pl.when(pl.col("attended_sessions") == 0).then(pl.lit("not_started"))
        .when(discharged | inactive).then(pl.lit("closed"))
        .otherwise(pl.lit("open")),
        end_reason=pl.when(discharged).then(pl.col("discharge_reason").fill_null("unknown"))
        .when(inactive).then(pl.lit("inactive")),
        end_date=pl.when(discharged).then(pl.col("discharge_date"))
        .when(inactive).then(pl.col("last_attended_date")),
    ).with_columns(
        duration_days=(pl.coalesce("end_date", pl.lit(extract_date))
                       - pl.col("first_attended_date")).dt.total_days(),
    )


def single_session_dropout(episodes: pl.DataFrame) -> pl.DataFrame:
    """Per therapist (of session 1): closed episodes, single-session dropouts and their rate."""
    return (
        episodes.filter(pl.col("status") == "closed")
        .group_by("therapist_id")
        .agg(
            closed=pl.len(),
            single=(pl.col("attended_sessions") == 1).sum(),
            single_dropout=((pl.col("attended_sessions") == 1)
                            & pl.col("end_reason").is_in(["dropout", "inactive", "unknown"])).sum(),
        )
        .with_columns(single_share=pl.col("single") / pl.col("closed"),
                      dropout_rate=pl.col("single_dropout") / pl.col("closed"))
    )


def scored_sessions(df: pl.DataFrame, measure: str = "phq9") -> pl.DataFrame:
    return (df.filter(ATTENDED & pl.col(measure).is_not_null())
            .sort("client_id", "episode_id", "appointment_date"))


def planted_episodes(episodes: pl.DataFrame, pattern: str) -> pl.DataFrame:
    ids = planted_client_ids(pattern, SAMPLE_CLIENTS)
    episode_id = PLANTED[pattern]["episode_id"]
    return episodes.filter(pl.col("client_id").is_in(ids) & (pl.col("episode_id") == episode_id))


# --- determinism and the contract ---------------------------------------------------------------


def test_generator_is_deterministic_for_a_seed():
    assert generate_appointments(300, seed=7).equals(generate_appointments(300, seed=7))


def test_different_seeds_give_different_data():
    assert not generate_appointments(300, seed=7).equals(generate_appointments(300, seed=8))


def test_columns_are_the_contract_columns_in_order(sample):
    assert sample.schema == pl.Schema({
        "appointment_id": pl.String, "client_id": pl.String, "episode_id": pl.String,
        "therapist_id": pl.String, "clinic_id": pl.String, "appointment_date": pl.Datetime("us"),
        "status": pl.String, "session_type": pl.String, "phq9": pl.Int16, "phq9_item9": pl.Int16,
        "gad7": pl.Int16, "core10": pl.Int16, "ors": pl.Float64, "srs": pl.Float64,
        "referral_date": pl.Date, "discharge_date": pl.Date, "discharge_reason": pl.String,
    })


def test_appointment_ids_unique(sample):
    assert sample["appointment_id"].n_unique() == sample.height
    assert sample["appointment_id"].str.contains(r"^A\d{8}$").all()


def test_appointment_ids_follow_date_order(sample):
    assert sample["appointment_id"].is_sorted() and sample["appointment_date"].is_sorted()


def test_every_client_has_a_first_episode(sample):
    first = sample.filter(pl.col("episode_id") == "1")["client_id"]
    assert first.n_unique() == SAMPLE_CLIENTS
    assert set(sample["episode_id"].unique()) == {"1", "2"}


def test_coded_columns_use_canonical_values(sample):
    assert set(sample["status"]) == {"attended", "dna", "cancelled_client", "cancelled_clinic", "scheduled"}
    assert set(sample["session_type"]) == {"assessment", "treatment", "review", "other", None}
    assert set(sample["discharge_reason"]) <= {"planned", "dropout", "referred_on", "other", "unknown", None}


def test_each_episode_has_one_therapist_clinic_and_referral_date(sample):
    per_episode = sample.group_by("client_id", "episode_id").agg(
        pl.col("therapist_id").n_unique(), pl.col("clinic_id").n_unique(),
        pl.col("referral_date").drop_nulls().n_unique(),
    )
    assert (per_episode.select(pl.exclude("client_id", "episode_id")) == 1).to_numpy().all()


def test_therapists_belong_to_one_clinic(sample):
    assert sample.group_by("therapist_id").agg(pl.col("clinic_id").n_unique())["clinic_id"].max() == 1


# --- rules the loader relies on -----------------------------------------------------------------


def test_scores_only_on_attended_rows(sample):
    not_attended = sample.filter(~ATTENDED)
    assert not_attended.select(pl.col(SCORES).null_count()).row(0) == (not_attended.height,) * len(SCORES)


def test_scores_are_within_their_ranges(sample):
    limits = {"phq9": 27, "phq9_item9": 3, "gad7": 21, "core10": 40, "ors": 40, "srs": 40}
    for measure, top in limits.items():
        values = sample[measure].drop_nulls()
        assert values.min() >= 0 and values.max() <= top, measure
    for measure in ("ors", "srs"):
        values = sample[measure].drop_nulls()
        assert ((values * 10).round() - values * 10).abs().max() < 1e-9, f"{measure} has one decimal"


def test_item9_comes_with_phq9(sample):
    assert (sample["phq9"].is_null() == sample["phq9_item9"].is_null()).all()
    assert (sample["phq9_item9"] <= sample["phq9"]).drop_nulls().all()


def test_scheduled_only_after_extract_date(sample):
    after = DAY > EXTRACT_DATE
    assert sample.filter(after)["status"].unique().to_list() == ["scheduled"]
    assert (sample.filter(pl.col("status") == "scheduled").select(DAY)["appointment_date"]
            <= EXTRACT_DATE + timedelta(days=42)).all()


def test_data_spans_five_years_to_the_extract_date(sample):
    assert sample["referral_date"].min() >= date(2021, 7, 1)
    assert sample.filter(pl.col("status") != "scheduled")["appointment_date"].max().date() <= EXTRACT_DATE
    assert sample["appointment_date"].min().date() < date(2021, 8, 1)


def test_another_extract_date_moves_the_five_year_window():
    extract_date = date(2024, 3, 31)
    df = generate_appointments(300, seed=5, extract_date=extract_date)
    booked = pl.col("status") == "scheduled"
    assert df["referral_date"].min() >= extract_date - timedelta(days=5 * 365)
    assert df.filter(~booked)["appointment_date"].max().date() <= extract_date
    assert df.filter(booked)["appointment_date"].min().date() > extract_date


def test_appointments_fall_in_clinic_hours_on_weekdays(sample):
    times = sample["appointment_date"]
    minutes = times.dt.hour().cast(pl.Int32) * 60 + times.dt.minute()
    assert minutes.min() >= 8 * 60 and minutes.max() <= 19 * 60
    assert (times.dt.second() == 0).all()
    assert (times.dt.weekday() <= 5).all()


def test_discharge_date_lies_between_first_attended_and_extract_date(sample, episodes):
    discharged = episodes.filter(pl.col("discharge_date").is_not_null())
    assert (discharged["discharge_date"] >= discharged["first_attended_date"]).all()
    assert (discharged["discharge_date"] <= EXTRACT_DATE).all()


def test_no_appointment_after_its_episode_discharge(sample):
    discharged = pl.col("discharge_date").max().over("client_id", "episode_id")
    assert sample.filter(DAY > discharged).height == 0


def test_discharge_reason_comes_with_discharge_date(sample):
    assert (sample["discharge_reason"].is_null() == sample["discharge_date"].is_null()).all()


def test_some_episodes_record_referral_and_discharge_only_on_their_first_and_last_row(sample):
    episode = ["client_id", "episode_id"]
    per_episode = (sample.sort("appointment_date")
                   .filter((pl.len().over(episode) >= 2)
                           & pl.col("discharge_date").max().over(episode).is_not_null())
                   .group_by(episode)
                   .agg(discharge_rows=pl.col("discharge_date").is_not_null().sum(),
                        referral_rows=pl.col("referral_date").is_not_null().sum(),
                        discharge_on_last=pl.col("discharge_date").last().is_not_null(),
                        referral_on_first=pl.col("referral_date").first().is_not_null(),
                        rows=pl.len()))
    on_every_row = (pl.col("discharge_rows") == pl.col("rows")) & (pl.col("referral_rows") == pl.col("rows"))
    on_end_rows = ((pl.col("discharge_rows") == 1) & pl.col("discharge_on_last")
                   & (pl.col("referral_rows") == 1) & pl.col("referral_on_first"))
    assert per_episode.filter(~on_every_row & ~on_end_rows).height == 0
    assert 0.1 < per_episode.select(on_end_rows.mean()).item() < 0.3


def test_re_referral_starts_over_200_days_after_previous_episode(sample, episodes):
    second = sample.filter(pl.col("episode_id") == "2").group_by("client_id").agg(
        second_start=pl.col("referral_date").min(), second_first=DAY.min())
    first = (episodes.filter(pl.col("episode_id") == "1")
             .select("client_id", "last_attended_date", "discharge_date"))
    pairs = second.join(first, on="client_id")
    assert pairs.height == second.height
    assert ((pairs["second_first"] - pairs["last_attended_date"]).dt.total_days() > 200).all()
    discharged = pairs.filter(pl.col("discharge_date").is_not_null())
    assert (discharged["second_start"] > discharged["discharge_date"]).all()
    assert 0.06 < second.height / SAMPLE_CLIENTS < 0.14


def test_episodes_can_be_derived_without_episode_id(sample):
    """Without episode_id: only the first row of each episode 2 opens a new episode."""
    episode = ["client_id", "episode_id"]
    rows = sample.sort("client_id", "appointment_date", "appointment_id").with_columns(
        attended_day=pl.when(ATTENDED).then(DAY),
        is_first_row=pl.int_range(pl.len()).over(episode) == 0,
    )

    def opens_new_episode(discharged: str, last_attended: str, first_day: str) -> pl.Expr:
        # (a) a discharge recorded before this date, or (b) more than 180 days since the latest
        # attended appointment (or, with none attended yet, since the episode's first appointment).
        since = (DAY - pl.coalesce(last_attended, first_day)).dt.total_days()
        return (pl.col(discharged) < DAY) | (since > 180)

    # Later rows, against the state of their own episode so far.
    later_rows = rows.with_columns(
        discharged=pl.col("discharge_date").cum_max().shift(1).over(episode),
        last_attended=pl.col("attended_day").forward_fill().shift(1).over(episode),
        first_day=DAY.first().over(episode),
    ).filter(~pl.col("is_first_row"))
    assert later_rows.filter(opens_new_episode("discharged", "last_attended", "first_day")).height == 0

    # The first row of episode 2, against the whole of episode 1.
    first_episode = (rows.filter(pl.col("episode_id") == "1").group_by("client_id")
                     .agg(discharged=pl.col("discharge_date").max(),
                          last_attended=pl.col("attended_day").max(), first_day=DAY.min()))
    second_starts = (rows.filter(pl.col("is_first_row") & (pl.col("episode_id") == "2"))
                     .join(first_episode, on="client_id"))
    assert second_starts.height == sample.filter(pl.col("episode_id") == "2")["client_id"].n_unique() > 0
    opened = second_starts.filter(opens_new_episode("discharged", "last_attended", "first_day"))
    assert opened.height == second_starts.height


# --- realistic distributions --------------------------------------------------------------------


def test_clinics_and_therapists_scale_with_clients(sample):
    assert 4 <= sample["clinic_id"].n_unique() <= 6
    per_clinic = sample.group_by("clinic_id").agg(pl.col("therapist_id").n_unique())["therapist_id"]
    assert per_clinic.min() >= 8 and per_clinic.max() <= 12


def test_missed_appointment_rates_are_realistic(sample):
    shares = sample.filter(pl.col("status") != "scheduled")["status"].value_counts(normalize=True)
    share = dict(zip(shares["status"], shares["proportion"]))
    assert 0.08 < share["dna"] < 0.13
    assert 0.035 < share["cancelled_client"] < 0.075
    assert 0.035 < share["cancelled_clinic"] < 0.075


def test_first_session_is_mostly_assessment(sample):
    first = (sample.filter(ATTENDED).sort("appointment_date")
             .group_by("client_id", "episode_id").agg(pl.col("session_type").first()))
    share = first["session_type"].value_counts(normalize=True)
    share = dict(zip(share["session_type"], share["proportion"]))
    assert 0.65 < share["assessment"] < 0.8
    assert 0.18 < share["treatment"] < 0.33
    later = sample.filter(ATTENDED & (pl.col("session_type") == "assessment")).height
    assert later <= first.height


def test_single_session_share_is_realistic(episodes):
    closed = episodes.filter(pl.col("status") == "closed")
    assert 0.2 <= (closed["attended_sessions"] == 1).mean() <= 0.4


def test_mean_sessions_realistic(episodes):
    closed = episodes.filter(pl.col("status") == "closed")
    assert 5.5 <= closed["attended_sessions"].mean() <= 8.5
    assert closed["attended_sessions"].median() <= closed["attended_sessions"].mean()  # a long tail


def test_unplanned_endings_average_about_a_third_and_vary_by_therapist(episodes):
    per_therapist = (episodes.filter(pl.col("status") == "closed")
                     .group_by("therapist_id")
                     .agg(unplanned=pl.col("end_reason").is_in(["dropout", "inactive"]).mean(),
                          closed=pl.len())
                     .filter(pl.col("closed") >= 20))
    assert 0.25 <= per_therapist["unplanned"].mean() <= 0.42
    assert per_therapist["unplanned"].quantile(0.9) - per_therapist["unplanned"].quantile(0.1) >= 0.15


def test_about_half_of_clinical_cases_recover(sample, episodes):
    scores = scored_sessions(sample).group_by("client_id", "episode_id").agg(
        first=pl.col("phq9").first(), last=pl.col("phq9").last(), scored=pl.len())
    closed = episodes.filter(pl.col("status") == "closed")
    paired = scores.join(closed, on=["client_id", "episode_id"]).filter(pl.col("scored") >= 2)
    caseness = paired.filter(pl.col("first") >= 10)
    assert 0.4 <= (caseness["last"] < 10).mean() <= 0.6
    assert 0.02 <= (paired["last"] - paired["first"] >= 6).mean() <= 0.09


def test_phq9_starts_mostly_in_the_clinical_range(sample):
    first = scored_sessions(sample).group_by("client_id", "episode_id").agg(pl.col("phq9").first())["phq9"]
    assert 13 <= first.mean() <= 17
    assert 0.7 <= (first >= 10).mean() <= 0.9


def test_measure_coverage_is_realistic(sample):
    attended = sample.filter(ATTENDED)
    assert 0.85 <= attended["phq9"].is_not_null().mean() <= 0.95
    assert 0.78 <= attended["gad7"].is_not_null().mean() <= 0.9
    per_episode = attended.group_by("client_id", "episode_id").agg(
        ors=pl.col("ors").is_not_null().any(), core10=pl.col("core10").is_not_null().any())
    assert 0.24 <= per_episode["ors"].mean() <= 0.36
    assert 0.02 <= per_episode["core10"].mean() <= 0.08


def test_self_harm_item_is_flagged_mostly_at_high_severity(sample):
    scored = sample.filter(pl.col("phq9").is_not_null())
    severe = scored.filter(pl.col("phq9") >= 15)
    assert 0.06 <= (severe["phq9_item9"] >= 1).mean() <= 0.16
    assert (scored.filter(pl.col("phq9") < 10)["phq9_item9"] >= 1).mean() < 0.02


def test_sessions_are_about_a_week_apart(sample):
    gaps = (sample.filter(ATTENDED).sort("client_id", "episode_id", "appointment_date")
            .select(gap=DAY.diff().dt.total_days().over("client_id", "episode_id"))["gap"].drop_nulls())
    assert 0.5 <= (gaps == 7).mean() and gaps.median() == 7


def test_some_episodes_never_start_and_some_are_open(episodes):
    share = episodes["status"].value_counts(normalize=True)
    share = dict(zip(share["status"], share["proportion"]))
    assert 0.03 <= share["not_started"] <= 0.08
    assert 0.02 <= share["open"] <= 0.1


# --- planted patterns ---------------------------------------------------------------------------


def test_planted_high_attrition_therapists_are_in_different_clinics(sample):
    flagged = PLANTED["high_attrition_therapists"]
    assert sample.filter(pl.col("therapist_id").is_in(flagged))["clinic_id"].n_unique() == len(flagged) == 2


def test_planted_high_attrition_therapists_have_high_single_session_share(episodes):
    flagged = PLANTED["high_attrition_therapists"]
    planted = single_session_dropout(episodes).filter(pl.col("therapist_id").is_in(flagged))
    assert planted.height == 2
    assert (planted["closed"] >= 30).all()
    assert planted["single_share"].is_between(0.6, 0.8).all()
    # Their single-session endings are losses (dropout or inactive), not planned single sessions.
    assert (planted["single_dropout"] >= 0.9 * planted["single"]).all()


def test_planted_high_attrition_therapists_alarm_in_the_funnel_plot(episodes):
    """Beyond the 99.8% limit, and further out than any other therapist."""
    rates = single_session_dropout(episodes)
    p0 = rates["single_dropout"].sum() / rates["closed"].sum()
    standard_error = (p0 * (1 - p0) / pl.col("closed")).sqrt()
    funnel = (rates.with_columns(z=(pl.col("dropout_rate") - p0) / standard_error)
              .sort("z", descending=True))
    assert set(funnel["therapist_id"].head(2)) == set(PLANTED["high_attrition_therapists"])
    assert (funnel["z"].head(2) > 3.09).all()


def test_planted_plateau_episodes_stay_flat_in_the_clinical_range(sample, episodes):
    planted = planted_episodes(episodes, "plateau_clients")
    window = 8
    flat = (scored_sessions(sample)
            .join(planted.select("client_id", "episode_id"), on=["client_id", "episode_id"])
            .with_columns(low=pl.col("phq9").rolling_min(window).over("client_id", "episode_id"),
                          high=pl.col("phq9").rolling_max(window).over("client_id", "episode_id"))
            .group_by("client_id", "episode_id")
            .agg(plateau=((pl.col("low") >= 10) & (pl.col("high") - pl.col("low") < 6)).any()))
    assert planted.height >= 30
    assert flat.height == planted.height and flat["plateau"].all()
    assert 0.02 <= planted.height / episodes.height <= 0.04
    assert (planted["status"] == "open").sum() >= 5


def test_planted_risk_gap_episodes_have_no_follow_up_within_14_days(sample, episodes):
    planted = planted_episodes(episodes, "risk_gap_clients")
    gaps = risk_followup_gaps(sample)
    assert planted.height >= 20
    assert planted.join(gaps, on=["client_id", "episode_id"]).height == planted.height


def risk_followup_gaps(df: pl.DataFrame) -> pl.DataFrame:
    """Episodes whose latest item-9 flag had no attended session in the next 14 days
    (docs/metrics/risk-followup.md)."""
    episode = ["client_id", "episode_id"]
    risk = (df.filter(ATTENDED & (pl.col("phq9_item9") >= 1))
            .group_by(episode).agg(risk_day=DAY.max()))
    followed_up = (df.filter(ATTENDED).join(risk, on=episode)
                   .filter((DAY > pl.col("risk_day")) & (DAY <= pl.col("risk_day") + timedelta(days=14)))
                   .select(episode).unique())
    return (risk.filter(pl.col("risk_day") + timedelta(days=14) <= EXTRACT_DATE)
            .join(followed_up, on=episode, how="anti"))


def test_planted_long_engagements_are_long(episodes):
    planted = planted_episodes(episodes, "long_engagement_clients")
    long = planted.filter((pl.col("attended_sessions") >= 20) | (pl.col("duration_days") >= 365))
    assert long.height == planted.height >= 15
    assert (planted["status"] == "open").sum() >= 3


def test_planted_client_ids_follow_the_rule():
    for pattern in ("plateau_clients", "risk_gap_clients", "long_engagement_clients"):
        residues = PLANTED[pattern]["client_number_mod_100"]
        ids = planted_client_ids(pattern, 300)
        assert ids and all(int(client[1:]) % 100 in residues for client in ids)
        assert len(ids) == len(residues) * 3


# --- writing ------------------------------------------------------------------------------------


def test_write_appointments_csv_uses_iso_dates_and_empty_nulls(tmp_path):
    df = generate_appointments(300, seed=3)
    path = write_appointments(df, tmp_path)
    assert path == tmp_path / "appointments.csv"
    header, *lines = path.read_text().splitlines()
    assert header.split(",") == df.columns
    assert len(lines) == df.height
    first = dict(zip(df.columns, lines[0].split(",")))
    assert len(first["appointment_date"]) == 19 and first["appointment_date"][10] == "T"
    assert len(first["referral_date"]) in (0, 10)
    assert any(",," in line for line in lines)
    back = pl.read_csv(path, schema_overrides={"episode_id": pl.String}, try_parse_dates=True)
    assert back["ors"].drop_nulls().equals(df["ors"].drop_nulls())
    assert back["appointment_date"].equals(df["appointment_date"])


def test_write_appointments_parquet_round_trips(tmp_path):
    df = generate_appointments(300, seed=3)
    path = write_appointments(df, tmp_path, fmt="parquet")
    assert path == tmp_path / "appointments.parquet"
    assert pl.read_parquet(path).equals(df)


def test_write_appointments_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError):
        write_appointments(generate_appointments(300, seed=3), tmp_path, fmt="xlsx")

