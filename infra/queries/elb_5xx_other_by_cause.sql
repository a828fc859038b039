-- The load balancer's own 5xx other than 502 (CloudWatch's
-- HTTPCode_ELB_5XX_Count minus the 502s; alb502's ELB5xxOther) by status,
-- cause and error_reason: WAF and identity-provider failures (500, 561),
-- connect timeouts (504), no healthy targets (503).
-- parameters: since_day, until_day, since, until
SELECT
    elb_status_code,
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
  AND elb_status_code <> 502
GROUP BY elb_status_code, cause, error_reason
ORDER BY errors DESC, elb_status_code, cause, error_reason
