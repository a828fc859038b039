-- The twenty slowest targets of the last 24 hours by p99 of
-- target_processing_time (seconds), with p50 and p95. Entries that never got
-- a response (-1) are left out: they are failures, not latencies.
SELECT
    elb,
    target_ip,
    target_port,
    count(*) AS responses,
    approx_percentile(target_processing_time, 0.5) AS p50_seconds,
    approx_percentile(target_processing_time, 0.95) AS p95_seconds,
    approx_percentile(target_processing_time, 0.99) AS p99_seconds,
    max(target_processing_time) AS max_seconds
FROM alb_logs
WHERE day >= date_format(current_date - INTERVAL '1' DAY, '%Y-%m-%d')
  AND request_ts >= current_timestamp - INTERVAL '24' HOUR
  AND target_ip <> ''
  AND target_processing_time >= 0
GROUP BY elb, target_ip, target_port
ORDER BY p99_seconds DESC, elb, target_ip, target_port
LIMIT 20
