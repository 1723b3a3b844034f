-- not_on_track: one row per open episode in scope whose latest score on the plateau measure is a
-- change from its first score strictly worse than the 90th percentile line of its intake band at
-- that session (docs/metrics/not-on-track.md), furthest below the line first.
--   session_number, latest_score, latest_change  the latest score, its session, its change (improvement)
--   expected_90th, expected_median, closed_episodes  the band's expectation at that session
-- The expectation comes from the closed episodes of the clinics in scope ($clinics; every clinic when
-- none is chosen): a user who sees some clinics only gets lines drawn from theirs. (The whole service's
-- lines are kept in expected_lines; DuckDB skips the branch the parameter rules out.)
-- (Each open episode's latest score is found in one pass over the open rows, by arg_max: joining
-- back to the table for it read all of it again, 0.47 s against 0.17 s at ten million appointments.)
WITH lines AS (
    SELECT * FROM expected_lines WHERE $clinics IS NULL
    UNION ALL
    SELECT * FROM expected_change($clinics, NULL) WHERE $clinics IS NOT NULL
),

latest AS (
    SELECT
        client_id,
        episode_id,
        any_value(measure) AS measure,
        any_value(intake_band) AS intake_band,
        any_value(intake_band_label) AS intake_band_label,
        arg_max(session_number, score_number) AS session_number,
        arg_max(score, score_number) AS score,
        arg_max(improvement, score_number) AS improvement,
        any_value(therapist_id) AS therapist_id,
        any_value(clinic_id) AS clinic_id,
        any_value(first_session_type) AS first_session_type,
        any_value(first_attended_date) AS first_attended_date
    FROM trajectories
    WHERE status = 'open'
    GROUP BY client_id, episode_id
)

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
FROM latest AS t
INNER JOIN lines AS x USING (intake_band, session_number)
WHERE t.improvement < x.expected_90th
    AND in_scope(t.clinic_id, t.therapist_id, t.first_session_type, t.first_attended_date,
                 $clinics, $therapists, $from_date, $to_date, $session_types)
ORDER BY t.improvement - x.expected_90th, t.client_id, t.episode_id
