-- Targets that close idle keep-alive connections before the load balancer
-- does (cause target_closed_keepalive: sporadic failures on a target that
-- answered just before and just after), with the evidence: the longest
-- failure run and the typical seconds to the target's previous and next
-- response. Fix: make the target's keep-alive timeout longer than the load
-- balancer's idle timeout (60 s by default).
-- parameters: since_day, until_day, since, until
SELECT
    elb,
    target_ip,
    target_port,
    count(*) AS keepalive_errors,
    max(target_failure_run) AS longest_run,
    round(approx_percentile(target_gap_before_s, 0.5), 1) AS median_gap_before_s,
    round(approx_percentile(target_gap_after_s, 0.5), 1) AS median_gap_after_s,
    date_trunc('second', min(request_ts)) AS first_seen,
    date_trunc('second', max(request_ts)) AS last_seen
FROM alb_errors
WHERE day BETWEEN ? AND ?
  AND request_ts >= from_iso8601_timestamp(?)
  AND request_ts < from_iso8601_timestamp(?)
  AND cause = 'target_closed_keepalive'
GROUP BY elb, target_ip, target_port
ORDER BY keepalive_errors DESC, elb, target_ip, target_port
