-- episode_counts: one row: episodes in scope by status.
SELECT
    count(*) AS total,
    count(*) FILTER (WHERE status = 'not_started') AS not_started,
    count(*) FILTER (WHERE status = 'open') AS open,
    count(*) FILTER (WHERE status = 'closed') AS closed
FROM scoped_episodes($clinics, $therapists, $from_date, $to_date, $session_types)
