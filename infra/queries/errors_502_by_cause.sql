-- 502s of the last 24 hours by who produced them (error_source), cause and
-- error_reason, most frequent first. cause is the interpretation (causes.md);
-- error_reason is the load balancer's own code or the signature alb502 read.
SELECT
    error_source,
    cause,
    error_reason,
    count(*) AS errors,
    count(DISTINCT elb) AS load_balancers,
    min(request_ts) AS first_seen,
    max(request_ts) AS last_seen
FROM alb_logs
WHERE day >= date_format(current_date - INTERVAL '1' DAY, '%Y-%m-%d')
  AND request_ts >= current_timestamp - INTERVAL '24' HOUR
  AND elb_status_code = 502
GROUP BY error_source, cause, error_reason
ORDER BY errors DESC, cause, error_reason
