-- outcomes: one row per measure (clinic null) and per measure and clinic, with the counts
-- behind each outcome rate (docs/metrics/outcomes.md). Rates count closed paired episodes; recovery counts
-- those whose first score was in the clinical range. Early change counts every episode in
-- scope with two scores.
SELECT
    o.measure,
    o.clinic_id,
    grouping(o.clinic_id) = 1 AS is_all_clinics,
    count(*) AS episodes_scored,
    count(*) FILTER (WHERE o.is_closed AND o.is_paired) AS paired,
    count(*) FILTER (WHERE o.is_closed AND o.is_reliable_improvement) AS reliable_improvement,
    count(*) FILTER (WHERE o.is_closed AND o.is_reliable_deterioration) AS reliable_deterioration,
    count(*) FILTER (WHERE o.is_closed AND o.is_paired AND o.is_case_at_start) AS paired_in_clinical_range,
    count(*) FILTER (WHERE o.is_closed AND o.is_recovery) AS recovery,
    count(*) FILTER (WHERE o.is_closed AND o.is_reliable_recovery) AS reliable_recovery,
    count(*) FILTER (WHERE o.is_paired) AS early_change_episodes,
    -- averaged as exact decimals: a floating-point sum depends on the order DuckDB's threads add
    -- the values in, and the report must not change from one run to the next
    CAST(avg(CAST(o.early_change AS DECIMAL(18, 6))) FILTER (WHERE o.is_paired) AS DOUBLE) AS mean_early_change,
    count(*) FILTER (WHERE o.is_early_reliable_improvement) AS early_reliable_improvement
FROM outcomes AS o
WHERE in_scope(o.clinic_id, o.therapist_id, o.first_session_type, o.first_attended_date,
               $clinics, $therapists, $from_date, $to_date, $session_types)
GROUP BY GROUPING SETS ((o.measure), (o.measure, o.clinic_id))
ORDER BY o.measure, is_all_clinics DESC, o.clinic_id
