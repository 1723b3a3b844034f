-- flag_history: one row per flag that the build $build_id raised (docs/operations.md#nightly-alerts):
--   kind 'adjusted_flag'  a therapist at alert or alarm on the case-mix adjusted flag (flag, numerator,
--                         denominator, expected, adjusted_z as the therapist funnel gave them)
--   kind 'cusum_signal'   a therapist whose CUSUM is signalling (signals, first_signal_date,
--                         last_signal_date, latest_cusum, threshold as the therapist CUSUM gave them)
--   kind 'risk_gap'       an unresolved risk follow-up gap (client_id, episode_id, therapist_id,
--                         clinic_id, risk_date, item9, days_since_risk)
-- Each over the whole service with the build's own settings.
SELECT
    kind,
    therapist_id,
    clinic_id,
    client_id,
    episode_id,
    flag,
    numerator,
    denominator,
    expected,
    adjusted_z,
    signals,
    first_signal_date,
    last_signal_date,
    latest_cusum,
    threshold,
    risk_date,
    item9,
    days_since_risk
FROM flag_history
WHERE build_id = $build_id
ORDER BY kind, therapist_id, client_id, episode_id, risk_date
