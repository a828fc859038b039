-- 502s by who produced them (error_source), cause and error_reason, most
-- frequent first. cause is the interpretation (causes.md); error_reason is
-- the load balancer's own code or the signature alb502 read.
-- parameters: since_day, until_day, since, until
SELECT
    error_source,
    cause,
    error_reason,
    count(*) AS errors,
    count(DISTINCT elb) AS load_balancers,
    date_trunc('second', min(request_ts)) AS first_seen,
    date_trunc('second', max(request_ts)) AS last_seen
FROM alb_errors
WHERE day BETWEEN ? AND ?
  AND request_ts >= from_iso8601_timestamp(?)
  AND request_ts < from_iso8601_timestamp(?)
  AND elb_status_code = 502
GROUP BY error_source, cause, error_reason
ORDER BY errors DESC, cause, error_reason
