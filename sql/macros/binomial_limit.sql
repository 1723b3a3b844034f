-- binomial_limit(p0, n, z): a control limit for a rate over n episodes around the benchmark rate p0,
-- by the normal approximation to the binomial: p0 + z·√(p0·(1 − p0)/n). z = 1.96 and 3.09 give the
-- 95% and 99.8% upper limits, −1.96 and −3.09 the lower ones (docs/metrics/therapist-funnel.md#definitions,
-- docs/metrics/single-session.md#the-control-band). Null when n is 0 or null. Not clipped: a caller that
-- draws a band clips it to [0, 1]; a funnel stops its curves at 100%.
CREATE OR REPLACE MACRO binomial_limit(p0, n, z) AS
    p0 + z * sqrt(p0 * (1 - p0) / nullif(n, 0));
