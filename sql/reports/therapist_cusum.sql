-- therapist_cusum: the risk-adjusted CUSUM of single-session dropout per therapist
-- (docs/metrics/therapist-cusum.md), one row per closed episode in first-session order, or with
-- $latest_only one row per therapist: their latest episode, which carries the summary columns.
--   expected      the episode's chance of single-session dropout: its case-mix stratum's rate in
--                 the benchmark population (every filter except the therapist filter, as the funnel)
--   weight        log(R) when the episode was a single-session dropout, else 0, minus
--                 log(1 − p + R·p): R the odds ratio the chart watches for (cusum_odds_ratio)
--   cusum         S = max(0, S before + weight), from 0; written here as the walk of the weights
--                 less its lowest point so far (never above 0), which is the same number
--   crossed       this episode took the CUSUM from below the threshold h (cusum_threshold) to h or above
--   episodes, signals, first_signal_date, last_signal_date, peak, latest_cusum, status
--                 per therapist: status 'signalling' when the latest CUSUM is at h or above,
--                 'signalled before' when it crossed h and has since fallen below, else 'no signal'
-- The CUSUM is not reset after a signal: while the excess goes on it stays high, and once the
-- therapist's clients do as expected again it drifts back down, so a chart shows whether a signal is
-- new, old or over.
WITH settings_in_use AS (
    SELECT
        coalesce($odds_ratio, st.cusum_odds_ratio) AS odds_ratio,
        coalesce($threshold, st.cusum_threshold) AS threshold
    FROM settings AS st
),

benchmark_episodes AS (
    SELECT
        s.therapist_id,
        s.client_id,
        s.episode_id,
        s.first_attended_date,
        s.is_single_session_dropout,
        s.case_mix_type,
        s.baseline_band,
        s.client_history
    FROM single_session AS s
    WHERE s.is_closed
        AND in_scope(s.clinic_id, s.therapist_id, s.first_session_type, s.first_attended_date,
                     $clinics, NULL, $from_date, $to_date, $session_types)
),

strata AS (
    SELECT
        case_mix_type,
        baseline_band,
        client_history,
        count(*) FILTER (WHERE is_single_session_dropout) / count(*) AS p_s
    FROM benchmark_episodes
    GROUP BY ALL
),

weighted AS (
    SELECT
        e.therapist_id,
        e.client_id,
        e.episode_id,
        e.first_attended_date,
        e.is_single_session_dropout,
        st.p_s AS expected,
        CASE WHEN e.is_single_session_dropout THEN ln(u.odds_ratio) ELSE 0 END
            - ln(1 - st.p_s + u.odds_ratio * st.p_s) AS weight,
        u.threshold
    FROM benchmark_episodes AS e
    JOIN strata AS st USING (case_mix_type, baseline_band, client_history)
    CROSS JOIN settings_in_use AS u
    WHERE $therapists IS NULL OR list_contains($therapists, e.therapist_id)
),

walked AS (
    SELECT
        *,
        row_number() OVER in_order AS episode_number,
        sum(weight) OVER in_order AS walk
    FROM weighted
    WINDOW in_order AS (PARTITION BY therapist_id ORDER BY first_attended_date, client_id, episode_id
                        ROWS UNBOUNDED PRECEDING)
),

-- Lindley's identity: max(0, S + w) from S = 0 is the walk less min(0, its lowest value so far)
cusum AS (
    SELECT
        *,
        walk - least(0, min(walk) OVER in_order) AS cusum
    FROM walked
    WINDOW in_order AS (PARTITION BY therapist_id ORDER BY episode_number ROWS UNBOUNDED PRECEDING)
),

-- crossed: at h or above now and below it one episode before. Above 0 the step was not floored,
-- so the score before was this one less the weight (no second window pass over the rows for it)
crossings AS (
    SELECT
        *,
        cusum >= threshold AND cusum - weight < threshold AS crossed
    FROM cusum
),

-- per therapist, grouped rather than windowed: a window over a million rows cost 0.7 s of CPU at
-- ten million appointments, the grouping and the join back a twentieth of it
summary AS (
    SELECT
        therapist_id,
        count(*) AS episodes,
        count(*) FILTER (WHERE crossed) AS signals,
        min(first_attended_date) FILTER (WHERE crossed) AS first_signal_date,
        max(first_attended_date) FILTER (WHERE crossed) AS last_signal_date,
        max(cusum) AS peak,
        arg_max(cusum, episode_number) AS latest_cusum
    FROM crossings
    GROUP BY therapist_id
),

summarised AS (
    SELECT *
    FROM crossings
    JOIN summary USING (therapist_id)
    WHERE NOT coalesce($latest_only, false) OR episode_number = episodes
)

SELECT
    therapist_id,
    client_id,
    episode_id,
    episode_number,
    first_attended_date,
    is_single_session_dropout,
    expected,
    weight,
    cusum,
    crossed,
    threshold,
    episodes,
    signals,
    first_signal_date,
    last_signal_date,
    peak,
    latest_cusum,
    CASE
        WHEN latest_cusum >= threshold THEN 'signalling'
        WHEN signals > 0 THEN 'signalled before'
        ELSE 'no signal'
    END AS status
FROM summarised
ORDER BY therapist_id, episode_number
