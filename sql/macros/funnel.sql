-- funnel: the funnel plot's control limits and flags (SPEC §4.2), defined once for every funnel
-- (therapists' single-session dropout, clinics' no-shows).
--   limit95(p0, n), limit998(p0, n)   p0 + z·sqrt(p0·(1−p0)/n), z = 1.96 and 3.09: the upper
--                                      limits at a denominator n around a benchmark rate p0
--   funnel_flag(rate, p0, n, min_caseload)
--                                      insufficient (n < min_caseload), alarm (rate > limit998),
--                                      alert (rate > limit95) or none
CREATE OR REPLACE MACRO limit95(p0, n) AS p0 + 1.96 * sqrt(p0 * (1 - p0) / n);
CREATE OR REPLACE MACRO limit998(p0, n) AS p0 + 3.09 * sqrt(p0 * (1 - p0) / n);
CREATE OR REPLACE MACRO funnel_flag(rate, p0, n, min_caseload) AS
    CASE
        WHEN n < min_caseload THEN 'insufficient'
        WHEN rate > limit998(p0, n) THEN 'alarm'
        WHEN rate > limit95(p0, n) THEN 'alert'
        ELSE 'none'
    END;
