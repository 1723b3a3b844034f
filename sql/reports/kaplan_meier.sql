-- kaplan_meier: the product-limit estimate of the share of episodes still in care
-- (docs/metrics/time-to-discharge.md), one row per stratum and curve point: day 0 and every day
-- with a discharge. Stratum is 'all', or each clinic when $by_clinic is true, or each end group
-- (planned, dropout, other) when $by_end_reason is true: then each curve is over the closed episodes
-- of its group only, every one an event, and open episodes are in no curve (their ending is not
-- known yet; docs/metrics/time-to-discharge.md#split-by-end-reason).
--   at_risk    episodes with duration >= day (those censored on the day are still at risk)
--   survival   right-continuous: the value at a day already counts that day's discharges
WITH durations AS (
    SELECT
        CASE WHEN $by_clinic THEN t.clinic_id WHEN $by_end_reason THEN t.end_group ELSE 'all' END AS stratum,
        t.duration_days AS day,
        t.is_event
    FROM time_to_discharge AS t
    WHERE (t.is_event OR NOT coalesce($by_end_reason, false))
      AND in_scope(t.clinic_id, t.therapist_id, t.first_session_type, t.first_attended_date,
                   $clinics, $therapists, $from_date, $to_date, $session_types)
),

per_day AS (
    SELECT stratum, day, count(*) FILTER (WHERE is_event) AS events, count(*) AS leaving
    FROM durations
    GROUP BY stratum, day
),

at_risk AS (
    SELECT *, sum(leaving) OVER (PARTITION BY stratum ORDER BY day DESC) AS at_risk
    FROM per_day
),

estimate AS (
    SELECT
        stratum,
        day,
        events,
        at_risk,
        product(1 - events / at_risk) OVER (PARTITION BY stratum ORDER BY day) AS survival
    FROM at_risk
),

day_zero AS (
    SELECT stratum, 0 AS day, coalesce(max(events) FILTER (WHERE day = 0), 0) AS events,
           max(at_risk) AS at_risk,
           coalesce(max(survival) FILTER (WHERE day = 0), 1.0) AS survival
    FROM estimate
    GROUP BY stratum
)

SELECT stratum, day, events, at_risk, survival FROM day_zero
UNION ALL
SELECT stratum, day, events, at_risk, survival FROM estimate WHERE events > 0 AND day > 0
ORDER BY stratum, day
