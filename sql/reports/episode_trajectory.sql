-- episode_trajectory: one episode in scope ($client_id, $episode_id) against its intake band's
-- expected change (docs/metrics/not-on-track.md#the-chart): one row per session number that the
-- episode has a score at on the plateau measure or its band has an expectation at, in order.
--   change            the episode's change from its first score there (null: no score there)
--   expected_median, expected_75th, expected_90th  the band's lines there (null: too few closed episodes)
WITH episode AS (
    SELECT t.*
    FROM trajectories AS t
    WHERE t.client_id = $client_id AND t.episode_id = $episode_id
        AND in_scope(t.clinic_id, t.therapist_id, t.first_session_type, t.first_attended_date,
                     $clinics, $therapists, $from_date, $to_date, $session_types)
),

-- its band's lines: the whole service's kept in expected_lines, or worked out for the clinics in scope
-- (an episode not found has no band: -1, which no row has)
band AS (
    SELECT x.* FROM expected_lines AS x
    WHERE $clinics IS NULL AND x.intake_band = coalesce((SELECT any_value(intake_band) FROM episode), -1)
    UNION ALL
    SELECT x.* FROM expected_change($clinics, coalesce((SELECT any_value(intake_band) FROM episode), -1)) AS x
    WHERE $clinics IS NOT NULL
)

SELECT
    coalesce(e.session_number, b.session_number) AS session_number,
    e.improvement AS change,
    b.expected_median,
    b.expected_75th,
    b.expected_90th
FROM episode AS e
FULL OUTER JOIN band AS b USING (session_number)
ORDER BY session_number
