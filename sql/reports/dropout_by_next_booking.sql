-- dropout_by_next_booking: single-session dropout among the closed episodes in scope, by the band of
-- the next booking after session 1 (docs/metrics/waits.md#dropout-by-next-booking): always the five
-- bands, in this order, a band with no episode giving 0 of 0.
--   numerator  single-session dropouts; denominator  closed episodes
WITH bands AS (
    SELECT *
    FROM (VALUES (1, '0-14'), (2, '15-28'), (3, '29-90'), (4, 'over 90'), (5, 'none booked')) AS b (position, band)
),

closed AS (
    SELECT
        w.next_booking_band AS band,
        count(*) FILTER (WHERE w.is_single_session_dropout) AS numerator,
        count(*) AS denominator
    FROM waits AS w
    WHERE w.is_closed
        AND in_scope(w.clinic_id, w.therapist_id, w.first_session_type, w.first_attended_date,
                     $clinics, $therapists, $from_date, $to_date, $session_types)
    GROUP BY w.next_booking_band
)

SELECT b.band, coalesce(c.numerator, 0) AS numerator, coalesce(c.denominator, 0) AS denominator
FROM bands AS b
LEFT JOIN closed AS c ON b.band = c.band
ORDER BY b.position
