-- measures: one row per outcome measure, with its thresholds (docs/metrics/outcomes.md).
--   is_higher_better    true for ORS; every other measure is lower-is-better
--   caseness_threshold  the clinical-range boundary: a score >= it (lower-is-better) or < it
--                       (higher-is-better) is in the clinical range
--   reliable_change     the smallest change, in points, that counts as reliable
SELECT *
FROM (VALUES
    ('phq9', false, 10.0, 6.0),
    ('gad7', false, 8.0, 4.0),
    ('core10', false, 11.0, 6.0),
    ('ors', true, 25.0, 5.0)
) AS m (measure, is_higher_better, caseness_threshold, reliable_change)
