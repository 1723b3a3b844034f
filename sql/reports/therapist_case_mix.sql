-- therapist_case_mix: one therapist's case mix against the service's, one row per case-mix stratum
-- of the benchmark population (docs/metrics/therapist-funnel.md#explaining-a-flag-case-mix):
--   case_mix_type, baseline_band, client_history   the stratum (docs/metrics/therapist-funnel.md#case-mix)
--   stratum            the same in words: "assessment · severe · returning"
--   closed, dropouts   the closed episodes and single-session dropouts of $therapist in the stratum (0 when none)
--   share              closed / all closed episodes of $therapist
--   service_closed, service_dropouts   the stratum's closed episodes and dropouts in the benchmark population
--   service_share      service_closed / all closed episodes of the benchmark population
--   p_s                service_dropouts / service_closed: the stratum's dropout rate
--   expected           closed × p_s; summed over the strata it is therapist_funnel's expected for $therapist
-- The benchmark population is the one therapist_funnel uses: the closed episodes selected by every
-- filter except the therapist filter. Sorted by the service's share, largest first, then the stratum.
-- One scan: the service's counts per stratum, and $therapist's among them.
WITH strata AS (
    SELECT
        s.case_mix_type,
        s.baseline_band,
        s.client_history,
        count(*) FILTER (WHERE s.therapist_id = $therapist) AS closed,
        count(*) FILTER (WHERE s.therapist_id = $therapist AND s.is_single_session_dropout) AS dropouts,
        count(*) AS service_closed,
        count(*) FILTER (WHERE s.is_single_session_dropout) AS service_dropouts
    FROM single_session AS s
    WHERE s.is_closed
        AND in_scope(s.clinic_id, s.therapist_id, s.first_session_type, s.first_attended_date,
                     $clinics, NULL, $from_date, $to_date, $session_types)
    GROUP BY ALL
)

SELECT
    case_mix_type,
    baseline_band,
    client_history,
    concat_ws(' · ', case_mix_type, baseline_band, client_history) AS stratum,
    closed,
    dropouts,
    -- null when $therapist has no closed episode here
    closed / nullif(sum(closed) OVER (), 0) AS share,
    service_closed,
    service_dropouts,
    service_closed / sum(service_closed) OVER () AS service_share,
    -- the same division as therapist_funnel's p_s, so that the expected counts add up to its E
    service_dropouts::BIGINT / service_closed::BIGINT AS p_s,
    closed * (service_dropouts::BIGINT / service_closed::BIGINT) AS expected
FROM strata
ORDER BY service_share DESC, case_mix_type, baseline_band, client_history
