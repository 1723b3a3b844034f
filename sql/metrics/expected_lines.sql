-- expected_lines: the service's expected change by intake band and session number, from every
-- clinic's closed episodes (docs/metrics/not-on-track.md#the-expected-trajectory): the
-- expected_change macro's rows for the whole service, kept so that the not-on-track reports of an
-- unfiltered view read them (a few milliseconds) instead of working them out (0.3 s at ten million
-- appointments). A view narrowed to some clinics works its own lines out.
SELECT * FROM expected_change(NULL, NULL)
