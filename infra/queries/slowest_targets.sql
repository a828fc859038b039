-- The twenty slowest targets by p99 of target_processing_time (seconds),
-- with p50 and p95. Entries that never got a response (-1) are left out:
-- they are failures, not latencies. Reads all traffic (alb_logs).
-- parameters: since_day, until_day, since, until
SELECT
    elb,
    target_ip,
    target_port,
    count(*) AS responses,
    round(approx_percentile(target_processing_time, 0.5), 3) AS p50_seconds,
    round(approx_percentile(target_processing_time, 0.95), 3) AS p95_seconds,
    round(approx_percentile(target_processing_time, 0.99), 3) AS p99_seconds,
    max(target_processing_time) AS max_seconds
FROM alb_logs
WHERE day BETWEEN ? AND ?
  AND request_ts >= from_iso8601_timestamp(?)
  AND request_ts < from_iso8601_timestamp(?)
  AND target_ip <> ''
  AND target_processing_time >= 0
GROUP BY elb, target_ip, target_port
ORDER BY p99_seconds DESC, elb, target_ip, target_port
LIMIT 20
