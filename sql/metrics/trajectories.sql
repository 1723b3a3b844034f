-- trajectories: one row per started episode and attended session with a score on the plateau
-- measure: the episode's change since its first score, and its intake band
-- (docs/metrics/not-on-track.md). The not-on-track reports draw the expected change of the closed
-- episodes (the expected_change macro) and the latest change of the open ones from it; the
-- dose-response curve (docs/metrics/plateaus.md#the-doseresponse-curve) reads its sessions 1 to 40.
--   is_reliable_improvement  that score is a reliable improvement on the episode's first (Which score
-- is an episode's latest is left to the reports, for the open episodes alone: marking it here, on
-- every row, took a sort of the whole table, 3 s of 10 at ten million appointments.)
--   improvement        change from the first score, positive = better (as in session_scores)
--   intake_band        0–3, from the first score on the measure: 0 outside the clinical range;
--                      1, 2, 3 inside it, less than one, one to two, two or more reliable changes
--                      past the clinical cut-off (distance rounded to 6 decimals, as improvement)
--   intake_band_label  the band's score range on the measure, in words ("10 to under 16")
--   status, clinic_id, therapist_id, first_session_type, first_attended_date  the episode's status
--                      and attribution, so that reports filter with in_scope() without joining episodes
WITH scores AS (
    SELECT ss.*, m.is_higher_better, m.caseness_threshold, m.reliable_change
    FROM session_scores AS ss
    INNER JOIN settings AS s ON ss.measure = s.plateau_measure
    INNER JOIN measures AS m ON m.measure = ss.measure
),

intake AS (
    SELECT
        client_id,
        episode_id,
        CASE WHEN NOT is_in_clinical_range THEN 0
            ELSE 1 + least(2, floor(round(
                (CASE WHEN is_higher_better THEN caseness_threshold - score ELSE score - caseness_threshold END)
                / reliable_change, 6)))::INTEGER
        END AS intake_band
    FROM scores
    WHERE score_number = 1
),

-- the score range of each band of the measure, from its cut-off c and reliable change r
band_labels AS (
    SELECT
        b.intake_band::INTEGER AS intake_band,
        CASE WHEN m.is_higher_better THEN
            CASE b.intake_band
                WHEN 0 THEN printf('%g and over', m.c)
                WHEN 1 THEN printf('over %g to under %g', m.c - m.r, m.c)
                WHEN 2 THEN printf('over %g to %g', m.c - 2 * m.r, m.c - m.r)
                ELSE printf('%g and under', m.c - 2 * m.r) END
        ELSE
            CASE b.intake_band
                WHEN 0 THEN printf('under %g', m.c)
                WHEN 1 THEN printf('%g to under %g', m.c, m.c + m.r)
                WHEN 2 THEN printf('%g to under %g', m.c + m.r, m.c + 2 * m.r)
                ELSE printf('%g and over', m.c + 2 * m.r) END
        END AS intake_band_label
    FROM (
        SELECT measures.is_higher_better, measures.caseness_threshold AS c, measures.reliable_change AS r
        FROM measures INNER JOIN settings ON measures.measure = settings.plateau_measure
    ) AS m
    CROSS JOIN range(4) AS b (intake_band)
)

SELECT
    sc.client_id,
    sc.episode_id,
    sc.measure,
    sc.session_number,
    sc.score_number,
    sc.score,
    sc.improvement,
    sc.is_reliable_improvement,
    i.intake_band,
    b.intake_band_label,
    e.status,
    e.clinic_id,
    e.therapist_id,
    e.first_session_type,
    e.first_attended_date
FROM scores AS sc
INNER JOIN intake AS i USING (client_id, episode_id)
INNER JOIN band_labels AS b USING (intake_band)
INNER JOIN episodes AS e USING (client_id, episode_id)
