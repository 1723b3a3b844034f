-- episode_appointments: one row per appointment of one episode in scope ($client_id,
-- $episode_id), in appointment order, with the scores recorded at it (scores: each measure's label
-- and score, in the catalogue's order, as text: "PHQ-9 12, GAD-7 9"). Only appointments at
-- $visible_clinics (the clinics the reader may see; NULL: every clinic): an episode attributed to
-- your clinic may go on at another, and that clinic's appointments are not yours to see.
SELECT
    a.appointment_id,
    a.appointment_at,
    a.status,
    a.session_type,
    s.session_number,
    a.therapist_id,
    a.clinic_id,
    a.phq9_item9,
    (
        SELECT string_agg(m.label || ' ' || CASE WHEN m.is_integer THEN CAST(CAST(u.s.score AS BIGINT) AS VARCHAR)
                                                ELSE CAST(u.s.score AS VARCHAR) END, ', ' ORDER BY m.position)
        FROM (SELECT unnest(a.scores) AS s) AS u
        INNER JOIN measures AS m ON m.measure = u.s.measure
    ) AS scores,
    a.discharge_date,
    a.discharge_reason,
    a.source_file,
    a.source_line
FROM stg_appointments AS a
INNER JOIN scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types) AS e
    USING (client_id, episode_id)
LEFT JOIN sessions AS s USING (appointment_id)
WHERE a.client_id = $client_id AND a.episode_id = $episode_id
    AND ($visible_clinics IS NULL OR list_contains($visible_clinics, a.clinic_id))
ORDER BY a.appointment_at, a.appointment_id
