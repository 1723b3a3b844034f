-- therapist_funnel: one row per therapist with a closed episode in scope (docs/metrics/therapist-funnel.md).
--   numerator / denominator / rate  single-session dropout among the therapist's closed episodes
--   p0        the benchmark: all dropout / all closed over the episodes selected by every filter
--             except the therapist filter (which only picks the therapists listed)
--   limit95, limit998   binomial_limit(p0, denominator, z) = p0 + z·sqrt(p0·(1−p0)/denominator), z = 1.96 and 3.09
--   flag      insufficient (denominator < min caseload), alarm (rate > limit998),
--             alert (rate > limit95) or none
-- The case-mix adjusted flag (docs/metrics/therapist-funnel.md#case-mix-adjusted-flag):
--   expected  E = Σ p_s over the therapist's closed episodes, p_s the dropout rate of the episode's
--             case-mix stratum in the benchmark population; V = Σ p_s·(1 − p_s)
--   ratio     numerator / E (null when E = 0);  z  (numerator − E) / √V (null when V = 0)
--   eligible, phi, tau2   the overdispersion estimate, the same on every row: over the benchmark
--             population's therapists with at least min caseload closed episodes and V > 0
--             (eligible = I of them); I < 10: phi null and tau2 0; else z Winsorised at
--             k = ⌊0.1·I⌋ from each end, phi = mean of the Winsorised z², and with w = E²/V
--             tau2 = (I·phi − (I − 1)) / (Σw − Σw²/Σw) when I·phi > I − 1, else 0
--             $allow_overdispersion false: tau2 is 0 whatever phi (the dashboard's toggle, case mix only);
--             NULL or true: the estimate above
--   adjusted_z     (ratio − 1) / √(V/E² + tau2) (null when V = 0)
--   adjusted_flag  insufficient (denominator < min caseload), alarm (adjusted_z > 3.09),
--                  alert (adjusted_z > 1.96) or none (also when adjusted_z is null)
WITH settings_in_use AS (
    SELECT coalesce($min_caseload, st.min_caseload) AS min_caseload
    FROM settings AS st
),

-- the benchmark population's closed episodes counted per therapist and stratum: every later
-- step reads these few thousand rows, not the episodes
therapist_strata AS (
    SELECT
        s.therapist_id,
        s.case_mix_type,
        s.baseline_band,
        s.client_history,
        count(*) FILTER (WHERE s.is_single_session_dropout) AS dropouts,
        count(*) AS closed
    FROM single_session AS s
    WHERE s.is_closed
        AND in_scope(s.clinic_id, s.therapist_id, s.first_session_type, s.first_attended_date,
                     $clinics, NULL, $from_date, $to_date, $session_types)
    GROUP BY ALL
),

benchmark AS (
    SELECT
        sum(dropouts)::BIGINT AS numerator,
        sum(closed)::BIGINT AS denominator
    FROM therapist_strata
),

strata AS (
    SELECT
        case_mix_type,
        baseline_band,
        client_history,
        sum(dropouts)::BIGINT / sum(closed)::BIGINT AS p_s
    FROM therapist_strata
    GROUP BY ALL
),

-- observed, expected and variance for every therapist of the benchmark population: the listed
-- ones read their own row, and the overdispersion estimate reads them all
indirect AS (
    SELECT
        t.therapist_id,
        sum(t.dropouts)::BIGINT AS observed,
        sum(t.closed)::BIGINT AS closed,
        -- floating-point sums in a fixed order: the same report, bit for bit, on every run
        sum(t.closed * st.p_s ORDER BY t.case_mix_type, t.baseline_band, t.client_history) AS expected,
        sum(t.closed * st.p_s * (1 - st.p_s) ORDER BY t.case_mix_type, t.baseline_band, t.client_history)
            AS variance
    FROM therapist_strata AS t
    JOIN strata AS st USING (case_mix_type, baseline_band, client_history)
    GROUP BY t.therapist_id
),

-- the overdispersion estimate (sql/macros/overdispersion.sql) over the therapists with at least
-- min caseload closed episodes and V > 0, each list in therapist order
dispersion AS (
    SELECT
        count(*) AS eligible,
        winsorised_phi(list((i.observed - i.expected) / sqrt(i.variance) ORDER BY i.therapist_id)) AS phi,
        list(i.expected * i.expected / i.variance ORDER BY i.therapist_id) AS weights
    FROM indirect AS i
    CROSS JOIN settings_in_use AS u
    WHERE i.closed >= u.min_caseload AND i.variance > 0
),

adjustment AS (
    SELECT
        eligible,
        phi,
        -- the dashboard's switch can take the allowance out ($allow_overdispersion false): then tau2 is 0
        CASE WHEN coalesce($allow_overdispersion::BOOLEAN, true) THEN random_effects_tau2(phi, weights) ELSE 0.0 END
            AS tau2
    FROM dispersion
),

-- the therapists listed: the therapist filter picks them from the benchmark population, whose
-- counts they keep (one scan of single_session, not two)
therapists AS (
    SELECT
        therapist_id,
        observed AS numerator,
        closed AS denominator
    FROM indirect
    WHERE $therapists IS NULL OR list_contains($therapists, therapist_id)
),

limits AS (
    SELECT
        t.therapist_id,
        t.numerator,
        t.denominator,
        t.numerator / t.denominator AS rate,
        b.numerator / b.denominator AS p0,
        u.min_caseload,
        i.expected,
        i.variance,
        CASE WHEN i.expected > 0 THEN t.numerator / i.expected END AS ratio,
        CASE WHEN i.variance > 0 THEN (t.numerator - i.expected) / sqrt(i.variance) END AS z,
        CASE
            WHEN i.variance > 0
                THEN (t.numerator / i.expected - 1) / sqrt(i.variance / (i.expected * i.expected) + a.tau2)
        END AS adjusted_z,
        a.eligible,
        a.phi,
        a.tau2
    FROM therapists AS t
    JOIN indirect AS i USING (therapist_id)
    CROSS JOIN benchmark AS b
    CROSS JOIN settings_in_use AS u
    CROSS JOIN adjustment AS a
)

SELECT
    therapist_id,
    numerator,
    denominator,
    rate,
    p0,
    binomial_limit(p0, denominator, 1.96) AS limit95,
    binomial_limit(p0, denominator, 3.09) AS limit998,
    CASE
        WHEN denominator < min_caseload THEN 'insufficient'
        WHEN rate > binomial_limit(p0, denominator, 3.09) THEN 'alarm'
        WHEN rate > binomial_limit(p0, denominator, 1.96) THEN 'alert'
        ELSE 'none'
    END AS flag,
    expected,
    ratio,
    z,
    adjusted_z,
    CASE
        WHEN denominator < min_caseload THEN 'insufficient'
        WHEN adjusted_z > 3.09 THEN 'alarm'
        WHEN adjusted_z > 1.96 THEN 'alert'
        ELSE 'none'
    END AS adjusted_flag,
    eligible,
    phi,
    tau2
FROM limits
ORDER BY therapist_id
