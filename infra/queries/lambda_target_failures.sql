-- Errors from Lambda targets per target group, cause and the load
-- balancer's error_reason (LambdaUnhandled, LambdaThrottling,
-- LambdaResponseTooLarge, ...).
-- parameters: since_day, until_day, since, until
SELECT
    elb,
    target_group_arn,
    cause,
    error_reason,
    count(*) AS errors,
    date_trunc('second', min(request_ts)) AS first_seen,
    date_trunc('second', max(request_ts)) AS last_seen
FROM alb_errors
WHERE day BETWEEN ? AND ?
  AND request_ts >= from_iso8601_timestamp(?)
  AND request_ts < from_iso8601_timestamp(?)
  AND starts_with(cause, 'lambda_')
GROUP BY elb, target_group_arn, cause, error_reason
ORDER BY errors DESC, elb, target_group_arn, error_reason
