-- The twenty targets with the longest failure runs (target_failure_run:
-- consecutive failed entries with no response in between), with the cause
-- and the evidence of the longest run: seconds back to the target's
-- previous response and forward to its next (empty: none in the object).
-- Answers "why did alb502 call this a restart, not keep-alive?" per target.
-- parameters: since_day, until_day, since, until
SELECT
    elb,
    target_ip,
    target_port,
    cause,
    max(target_failure_run) AS longest_run,
    round(max_by(target_gap_before_s, target_failure_run), 1) AS gap_before_s,
    round(max_by(target_gap_after_s, target_failure_run), 1) AS gap_after_s,
    count(*) AS errors,
    date_trunc('second', min(request_ts)) AS first_failure,
    date_trunc('second', max(request_ts)) AS last_failure
FROM alb_errors
WHERE day BETWEEN ? AND ?
  AND request_ts >= from_iso8601_timestamp(?)
  AND request_ts < from_iso8601_timestamp(?)
  AND target_failure_run IS NOT NULL
GROUP BY elb, target_ip, target_port, cause
ORDER BY longest_run DESC, errors DESC, elb, target_ip, target_port, cause
LIMIT 20
