-- overdispersion: Spiegelhalter's additive random-effects allowance for a funnel plot's units
-- (docs/metrics/therapist-funnel.md#overdispersion, docs/metrics/attendance.md#overdispersion).
-- Each takes one list per unit, over the units eligible for the estimate (at least min caseload,
-- a variance above 0), every list in the same fixed order (by the unit's id): floating-point sums
-- then give the same value, bit for bit, on every run.
--
-- winsorised_phi(zs): the dispersion φ, null when fewer than 10 units are eligible. With I units
-- and k = ⌊0.1·I⌋, a z below the (k+1)-th smallest is raised to that value and a z above the
-- (k+1)-th largest lowered to that one (Winsorisation); φ is the mean of the Winsorised z².
-- The two bounds are columns of a subquery: written inside the lambda, they were sorted again for
-- every element (26 ms for 300 units, 4 ms so).
CREATE OR REPLACE MACRO winsorised_phi(zs) AS (
    SELECT CASE WHEN len(zs) >= 10 THEN
        list_avg(list_transform(zs, lambda z: least(greatest(z, low), high) * least(greatest(z, low), high)))
    END
    FROM (
        SELECT
            list_sort(zs)[floor(0.1 * len(zs))::INTEGER + 1] AS low,
            list_sort(zs)[len(zs) - floor(0.1 * len(zs))::INTEGER] AS high
    )
);

-- random_effects_tau2(phi, ws): the between-unit variance τ² from φ and the units' weights
-- w = 1/s² (s² a unit's variance on the plotted scale): with I = len(ws),
-- τ² = (I·φ − (I − 1)) / (Σw − Σw²/Σw) when I·φ > I − 1, else 0 (and 0 when φ is null).
CREATE OR REPLACE MACRO random_effects_tau2(phi, ws) AS
    CASE
        WHEN phi IS NOT NULL AND len(ws) * phi > len(ws) - 1
            THEN (len(ws) * phi - (len(ws) - 1))
                / (list_sum(ws) - list_sum(list_transform(ws, lambda w: w * w)) / list_sum(ws))
        ELSE 0.0
    END;
