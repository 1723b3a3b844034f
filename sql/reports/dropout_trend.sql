-- dropout_trend: one row per period (and, with $by_clinic, per clinic and period) of single-session
-- dropout over the whole history of the clinic, therapist and session type filters, with its control band
-- (docs/metrics/single-session.md#the-control-band). The date filter is not applied: the trend keeps
-- every period, and the page shades the filtered dates.
--   $period      'month' or 'quarter' (of the first attended date, as the cohort month is)
--   $by_clinic   true: a row per clinic of session 1 and period; NULL or false: one row per period
--   period       '2026-03' or '2026 Q1';  period_start, period_end  its first and last day
--   dropout, closed, open   single-session dropouts, closed episodes (the denominator), open episodes
--   rate         dropout / closed, null when nothing is closed
--   p0           the long-run rate: all dropout / all closed over every period of the selection
--   lower998, lower95, upper95, upper998   binomial_limit(p0, closed, ∓z), z = 3.09 and 1.96, clipped
--                to [0, 1]; null when nothing is closed
--   signal       above / below: the rate is strictly outside the 99.8% band; within; null with no rate
--   is_too_few   fewer closed episodes than the minimum caseload setting: too few to read a rate from
WITH selected AS (
    SELECT
        s.is_closed,
        s.is_single_session_dropout,
        CASE WHEN $by_clinic::BOOLEAN THEN s.clinic_id END AS clinic_id,
        date_trunc(CASE WHEN $period = 'quarter' THEN 'quarter' ELSE 'month' END, s.first_attended_date)::DATE
            AS period_start
    FROM single_session AS s
    WHERE in_scope(s.clinic_id, s.therapist_id, s.first_session_type, s.first_attended_date,
                   $clinics, $therapists, NULL, NULL, $session_types)
),

long_run AS (
    SELECT count(*) FILTER (WHERE is_single_session_dropout) / nullif(count(*) FILTER (WHERE is_closed), 0) AS p0
    FROM selected
),

periods AS (
    SELECT
        clinic_id,
        period_start,
        count(*) FILTER (WHERE is_single_session_dropout) AS dropout,
        count(*) FILTER (WHERE is_closed) AS closed,
        count(*) FILTER (WHERE NOT is_closed) AS open
    FROM selected
    GROUP BY ALL
),

banded AS (
    SELECT
        p.*,
        CASE WHEN p.closed > 0 THEN p.dropout / p.closed END AS rate,
        l.p0,
        greatest(0, binomial_limit(l.p0, p.closed, -3.09)) AS lower998,
        greatest(0, binomial_limit(l.p0, p.closed, -1.96)) AS lower95,
        least(1, binomial_limit(l.p0, p.closed, 1.96)) AS upper95,
        least(1, binomial_limit(l.p0, p.closed, 3.09)) AS upper998
    FROM periods AS p
    CROSS JOIN long_run AS l
)

SELECT
    CASE
        WHEN $period = 'quarter' THEN strftime(b.period_start, '%Y') || ' Q' || quarter(b.period_start)
        ELSE strftime(b.period_start, '%Y-%m')
    END AS period,
    b.period_start,
    (b.period_start + CASE WHEN $period = 'quarter' THEN INTERVAL 3 MONTH ELSE INTERVAL 1 MONTH END
        - INTERVAL 1 DAY)::DATE AS period_end,
    b.clinic_id,
    b.dropout,
    b.closed,
    b.open,
    b.rate,
    b.p0,
    b.lower998,
    b.lower95,
    b.upper95,
    b.upper998,
    CASE
        WHEN b.rate > b.upper998 THEN 'above'
        WHEN b.rate < b.lower998 THEN 'below'
        WHEN b.rate IS NOT NULL THEN 'within'
    END AS signal,
    b.closed < st.min_caseload AS is_too_few
FROM banded AS b
CROSS JOIN settings AS st
ORDER BY b.clinic_id NULLS FIRST, b.period_start
