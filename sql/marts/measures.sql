-- measures: one row per measure, with its thresholds (docs/metrics/outcomes.md); srs, the alliance
-- rating, is not an outcome measure: its row gives the cut-off of docs/metrics/alliance.md.
--   is_higher_better    true for ORS and SRS; every other measure is lower-is-better
--   caseness_threshold  the clinical-range boundary: a score >= it (lower-is-better) or < it
--                       (higher-is-better) is in the clinical range
--   reliable_change     the smallest change, in points, that counts as reliable
SELECT *
FROM (VALUES
    ('phq9', false, 10.0, 6.0),
    ('gad7', false, 8.0, 4.0),
    ('core10', false, 11.0, 6.0),
    ('ors', true, 25.0, 5.0),
    ('srs', true, 36.0, NULL)
) AS m (measure, is_higher_better, caseness_threshold, reliable_change)
