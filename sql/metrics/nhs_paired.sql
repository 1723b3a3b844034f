-- nhs_paired: one row per closed episode, with the national paired measures that pair depression
-- (PHQ-9) with anxiety (GAD-7) (docs/metrics/nhs-paired.md).
--   treatment_sessions        attended sessions whose type is not `assessment` (no type counts as treatment)
--   is_finished_treatment     two or more treatment sessions (every row is a closed episode)
--   is_paired                 both measures are paired as docs/metrics/outcomes.md pairs them
--   is_case_at_start          paired, and the first score of either measure is in its clinical range
--   is_recovery               paired, a case at the start, and the last scores of both out of range
--   is_reliable_improvement   paired, a reliable improvement on one measure or both, a reliable
--                             deterioration on neither (is_reliable_deterioration: the other way round)
--   is_reliable_recovery      recovery and reliable improvement
-- The thresholds and reliable changes are the measures' own (the catalogue's), read from outcomes.
-- A flag holds for finished and unfinished episodes alike: the report counts finished ones.
--   clinic_id, therapist_id, first_session_type, first_attended_date  the episode's attribution
WITH national_pair (measure) AS (
    VALUES ('phq9'), ('gad7')
),

treatment AS (
    SELECT
        client_id,
        episode_id,
        count(*) FILTER (WHERE session_type IS DISTINCT FROM 'assessment') AS treatment_sessions
    FROM sessions
    GROUP BY client_id, episode_id
),

paired AS (
    SELECT
        o.client_id,
        o.episode_id,
        bool_or(o.is_case_at_start) AS is_case_at_start,
        bool_and(NOT o.is_case_at_end) AS is_out_of_range_at_end,
        bool_or(o.is_reliable_improvement) AS is_improved_on_one,
        bool_or(o.is_reliable_deterioration) AS is_deteriorated_on_one
    FROM outcomes AS o
    INNER JOIN national_pair AS n USING (measure)
    WHERE o.is_closed AND o.is_paired
    GROUP BY o.client_id, o.episode_id
    HAVING count(*) = (SELECT count(*) FROM national_pair)
),

flagged AS (
    SELECT
        e.client_id,
        e.episode_id,
        t.treatment_sessions,
        t.treatment_sessions >= 2 AS is_finished_treatment,
        p.client_id IS NOT NULL AS is_paired,
        coalesce(p.is_case_at_start, false) AS is_case_at_start,
        coalesce(p.is_case_at_start AND p.is_out_of_range_at_end, false) AS is_recovery,
        coalesce(p.is_improved_on_one AND NOT p.is_deteriorated_on_one, false) AS is_reliable_improvement,
        coalesce(p.is_deteriorated_on_one AND NOT p.is_improved_on_one, false) AS is_reliable_deterioration,
        e.clinic_id,
        e.therapist_id,
        e.first_session_type,
        e.first_attended_date
    FROM episodes AS e
    INNER JOIN treatment AS t USING (client_id, episode_id)
    LEFT JOIN paired AS p USING (client_id, episode_id)
    WHERE e.status = 'closed'
)

SELECT
    client_id,
    episode_id,
    treatment_sessions,
    is_finished_treatment,
    is_paired,
    is_case_at_start,
    is_recovery,
    is_reliable_improvement,
    is_reliable_deterioration,
    is_recovery AND is_reliable_improvement AS is_reliable_recovery,
    clinic_id,
    therapist_id,
    first_session_type,
    first_attended_date
FROM flagged
