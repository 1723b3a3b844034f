-- low_alliance: one row per open episode in scope whose latest SRS (the client's rating of the
-- alliance, at any attended session) is below the SRS cut-off (measures.caseness_threshold), lowest
-- rating first (docs/metrics/alliance.md#low-alliance-at-the-latest-rating).
--   srs_session_number, srs_date  the session that SRS was given at, and its date
--   srs_cutoff                    the cut-off it fell below
-- A low rating that a later SRS recovered from is not listed: only the latest rating counts.
-- (The open episodes in scope first, and the sessions of those alone: 0.10 s against 0.26 s for every
-- episode's latest rating at ten million appointments.)
WITH open_episodes AS (
    SELECT *
    FROM scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types)
    WHERE status = 'open'
),

latest_srs AS (
    SELECT
        s.client_id,
        s.episode_id,
        arg_max(s.srs, s.session_number) AS srs,
        max(s.session_number) AS srs_session_number,
        arg_max(s.appointment_date, s.session_number) AS srs_date
    FROM sessions AS s
    SEMI JOIN open_episodes USING (client_id, episode_id)
    WHERE s.srs IS NOT NULL
    GROUP BY s.client_id, s.episode_id
)

SELECT
    e.client_id,
    e.episode_id,
    e.therapist_id,
    e.clinic_id,
    l.srs,
    l.srs_session_number,
    l.srs_date,
    m.caseness_threshold AS srs_cutoff,
    e.attended_sessions,
    e.last_attended_date
FROM open_episodes AS e
INNER JOIN latest_srs AS l USING (client_id, episode_id)
INNER JOIN measures AS m ON m.measure = 'srs'
WHERE l.srs < m.caseness_threshold
ORDER BY l.srs, l.srs_date DESC, e.client_id, e.episode_id
