-- plateau_summary: one row: the episodes in scope assessed for plateaus (docs/metrics/plateaus.md), how many
-- plateaued (and how many of those are still open), and the sessions delivered after a plateau.
SELECT
    count(*) AS assessed,
    count(*) FILTER (WHERE p.is_plateaued) AS plateaued,
    count(*) FILTER (WHERE p.is_plateaued AND p.status = 'open') AS plateaued_open,
    coalesce(sum(p.sessions_after_plateau) FILTER (WHERE p.is_plateaued), 0) AS sessions_after_plateau
FROM plateaus AS p
WHERE in_scope(p.clinic_id, p.therapist_id, p.first_session_type, p.first_attended_date,
               $clinics, $therapists, $from_date, $to_date, $session_types)
