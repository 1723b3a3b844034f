-- overview_headline: one row per period, 'current' ($from_date…$to_date) and 'previous'
-- ($previous_from…$previous_to), with the counts behind the Overview's headline tiles, each as
-- its own report defines it: single-session dropout (single_session), PHQ-9 reliable improvement
-- and recovery among closed paired episodes (outcomes), open plateaued episodes (plateau_summary)
-- and risk follow-up gaps with no later return (risk_followup_gaps). One query for both periods:
-- the Overview redraws on every filter change.
WITH periods AS (
    SELECT 'current' AS period, CAST($from_date AS DATE) AS from_date, CAST($to_date AS DATE) AS to_date
    UNION ALL
    SELECT 'previous', CAST($previous_from AS DATE), CAST($previous_to AS DATE)
),

single AS (
    SELECT
        p.period,
        count(*) FILTER (WHERE s.is_closed) AS closed,
        count(*) FILTER (WHERE s.is_single_session_dropout) AS dropout
    FROM periods AS p
    INNER JOIN single_session AS s
        ON in_scope(s.clinic_id, s.therapist_id, s.first_session_type, s.first_attended_date,
                    $clinics, $therapists, p.from_date, p.to_date, $session_types)
    GROUP BY p.period
),

phq9 AS (
    SELECT
        p.period,
        count(*) FILTER (WHERE o.is_closed AND o.is_paired) AS paired,
        count(*) FILTER (WHERE o.is_closed AND o.is_reliable_improvement) AS reliable_improvement,
        count(*) FILTER (WHERE o.is_closed AND o.is_paired AND o.is_case_at_start) AS paired_in_clinical_range,
        count(*) FILTER (WHERE o.is_closed AND o.is_recovery) AS recovery
    FROM periods AS p
    INNER JOIN outcomes AS o
        ON o.measure = 'phq9'
        AND in_scope(o.clinic_id, o.therapist_id, o.first_session_type, o.first_attended_date,
                     $clinics, $therapists, p.from_date, p.to_date, $session_types)
    GROUP BY p.period
),

plateaued AS (
    SELECT p.period, count(*) AS plateaued_open
    FROM periods AS p
    INNER JOIN plateaus AS pl
        ON pl.is_plateaued AND pl.status = 'open'
        AND in_scope(pl.clinic_id, pl.therapist_id, pl.first_session_type, pl.first_attended_date,
                     $clinics, $therapists, p.from_date, p.to_date, $session_types)
    GROUP BY p.period
),

gaps AS (
    SELECT p.period, count(*) AS unresolved_gaps
    FROM periods AS p
    INNER JOIN risk_followup_gaps AS r
        ON r.is_gap AND NOT r.returned_later
        AND in_scope(r.clinic_id, r.therapist_id, r.first_session_type, r.first_attended_date,
                     $clinics, $therapists, p.from_date, p.to_date, $session_types)
    GROUP BY p.period
)

SELECT
    p.period,
    coalesce(s.closed, 0) AS closed,
    coalesce(s.dropout, 0) AS dropout,
    h.period IS NOT NULL AS has_phq9,
    coalesce(h.paired, 0) AS paired,
    coalesce(h.reliable_improvement, 0) AS reliable_improvement,
    coalesce(h.paired_in_clinical_range, 0) AS paired_in_clinical_range,
    coalesce(h.recovery, 0) AS recovery,
    coalesce(pl.plateaued_open, 0) AS plateaued_open,
    coalesce(g.unresolved_gaps, 0) AS unresolved_gaps
FROM periods AS p
LEFT JOIN single AS s USING (period)
LEFT JOIN phq9 AS h USING (period)
LEFT JOIN plateaued AS pl USING (period)
LEFT JOIN gaps AS g USING (period)
ORDER BY p.period = 'previous', p.period
