-- not_on_track: one row per open episode in scope whose latest score on the plateau measure is a
-- change from its first score strictly worse than the 90th percentile line of its intake band at
-- that session (docs/metrics/not-on-track.md), furthest below the line first.
--   session_number, latest_score, latest_change  the latest score, its session, its change (improvement)
--   expected_90th, expected_median, closed_episodes  the band's expectation at that session
-- The expectation comes from the closed episodes of the clinics in scope ($clinics; every clinic when
-- none is chosen): a user who sees some clinics only gets lines drawn from theirs.
SELECT
    t.client_id,
    t.episode_id,
    t.therapist_id,
    t.clinic_id,
    t.measure,
    t.intake_band_label AS intake_band,
    t.session_number,
    t.score AS latest_score,
    t.improvement AS latest_change,
    x.expected_90th,
    x.expected_median,
    x.closed_episodes
FROM trajectories AS t
INNER JOIN expected_change($clinics) AS x USING (intake_band, session_number)
WHERE t.status = 'open' AND t.is_latest_score AND t.improvement < x.expected_90th
    AND in_scope(t.clinic_id, t.therapist_id, t.first_session_type, t.first_attended_date,
                 $clinics, $therapists, $from_date, $to_date, $session_types)
ORDER BY t.improvement - x.expected_90th, t.client_id, t.episode_id
