-- 502s from Lambda targets over the last 24 hours, per target group, cause
-- and the load balancer's error_reason (LambdaUnhandled, LambdaThrottling,
-- LambdaResponseTooLarge, ...).
SELECT
    elb,
    target_group_arn,
    cause,
    error_reason,
    count(*) AS errors,
    min(request_ts) AS first_seen,
    max(request_ts) AS last_seen
FROM alb_logs
WHERE day >= date_format(current_date - INTERVAL '1' DAY, '%Y-%m-%d')
  AND request_ts >= current_timestamp - INTERVAL '24' HOUR
  AND starts_with(cause, 'lambda_')
GROUP BY elb, target_group_arn, cause, error_reason
ORDER BY errors DESC, elb, target_group_arn, error_reason
