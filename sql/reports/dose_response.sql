-- dose_response: one row per session number 1…40 with a plateau-measure score in scope
-- (docs/metrics/plateaus.md): how many episodes have a score there, the mean score, and how many of those
-- scores are a reliable improvement on the episode's first. (The trajectories table holds every scored
-- session of the plateau measure: one table for the curve and for not on track, built in one pass.)
SELECT
    d.session_number,
    count(*) AS episodes,
    CAST(avg(CAST(d.score AS DECIMAL(18, 6))) AS DOUBLE) AS mean_score,  -- exact, so the same every run
    count(*) FILTER (WHERE d.is_reliable_improvement) AS reliable_improvement
FROM trajectories AS d
WHERE d.session_number <= 40
    AND in_scope(d.clinic_id, d.therapist_id, d.first_session_type, d.first_attended_date,
               $clinics, $therapists, $from_date, $to_date, $session_types)
GROUP BY d.session_number
ORDER BY d.session_number
