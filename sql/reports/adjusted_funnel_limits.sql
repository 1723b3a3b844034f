-- adjusted_funnel_limits: the guide curves of the adjusted funnel plot, ratio O/E against expected E
-- (docs/metrics/therapist-funnel.md#the-adjusted-funnel-plot), at 200 values of E evenly spaced from
-- $largest_expected / 200 to $largest_expected (the largest E among the therapists drawn):
--   p0        the benchmark, over the episodes selected by every filter except the therapist filter
--   tau2      $tau_squared, the between-therapist variance therapist_funnel gave for the same filters (NULL: 0)
--   lower998, lower95, upper95, upper998   1 ± z·√((1 − p0)/E + tau2), z = 3.09 and 1.96
-- The curves are a guide: each therapist's adjusted flag comes from their own adjusted_z, whose
-- chance spread is their exact V/E², not (1 − p0)/E. Below 0 a lower limit flags nobody.
WITH benchmark AS (
    SELECT
        count(*) FILTER (WHERE s.is_single_session_dropout) / count(*) FILTER (WHERE s.is_closed) AS p0
    FROM single_session AS s
    WHERE in_scope(s.clinic_id, s.therapist_id, s.first_session_type, s.first_attended_date,
                   $clinics, NULL, $from_date, $to_date, $session_types)
),

grid AS (
    SELECT
        $largest_expected::DOUBLE * k / 200 AS expected,
        coalesce($tau_squared::DOUBLE, 0.0) AS tau2
    FROM range(1, 201) AS r(k)
    WHERE $largest_expected::DOUBLE > 0
)

SELECT
    g.expected,
    b.p0,
    g.tau2,
    1 - 3.09 * sqrt((1 - b.p0) / g.expected + g.tau2) AS lower998,
    1 - 1.96 * sqrt((1 - b.p0) / g.expected + g.tau2) AS lower95,
    1 + 1.96 * sqrt((1 - b.p0) / g.expected + g.tau2) AS upper95,
    1 + 3.09 * sqrt((1 - b.p0) / g.expected + g.tau2) AS upper998
FROM grid AS g
CROSS JOIN benchmark AS b
WHERE b.p0 IS NOT NULL
ORDER BY g.expected
