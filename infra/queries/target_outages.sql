-- Targets that stopped answering, by what the timeline shows: restarting
-- (answered again after the run), deregistered (left the rotation),
-- unreachable (never answered in the object) and connect timeouts (504,
-- often a security group dropping packets), with the longest failure run
-- and when the failures started and ended. Several targets restarting
-- together is a deploy; one is a crash loop or a health check too lax.
-- parameters: since_day, until_day, since, until
SELECT
    elb,
    target_ip,
    target_port,
    count_if(cause = 'target_restarting') AS restarting,
    count_if(cause = 'target_deregistered') AS deregistered,
    count_if(cause = 'target_unreachable') AS unreachable,
    count_if(cause = 'target_connect_timeout') AS connect_timeout,
    max(target_failure_run) AS longest_run,
    date_trunc('second', min(request_ts)) AS first_failure,
    date_trunc('second', max(request_ts)) AS last_failure
FROM alb_errors
WHERE day BETWEEN ? AND ?
  AND request_ts >= from_iso8601_timestamp(?)
  AND request_ts < from_iso8601_timestamp(?)
  AND cause IN (
      'target_restarting', 'target_deregistered', 'target_unreachable', 'target_connect_timeout'
  )
  AND target_ip <> ''
GROUP BY elb, target_ip, target_port
ORDER BY count(*) DESC, elb, target_ip, target_port
