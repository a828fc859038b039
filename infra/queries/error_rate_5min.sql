-- 502 rate per load balancer per 5 minutes: requests, 502s split into
-- load-balancer-generated (elb) and target-sent (target), the rate in
-- percent, and the load balancer's other 5xx (CloudWatch's ELB5xxOther).
-- Compare with CloudWatch's HTTPCode_ELB_502_Count. Reads all traffic
-- (alb_logs): the cause queries read alb_errors and cost far less.
-- parameters: since_day, until_day, since, until
SELECT
    elb,
    from_unixtime(floor(to_unixtime(request_ts) / 300) * 300) AS period_start,
    count(*) AS requests,
    count_if(elb_status_code = 502) AS errors_502,
    count_if(elb_status_code = 502 AND error_source = 'elb') AS elb_502,
    count_if(elb_status_code = 502 AND error_source = 'target') AS target_502,
    round(100e0 * count_if(elb_status_code = 502) / count(*), 2) AS rate_percent,
    count_if(cause IS NOT NULL AND elb_status_code <> 502) AS elb_5xx_other
FROM alb_logs
WHERE day BETWEEN ? AND ?
  AND request_ts >= from_iso8601_timestamp(?)
  AND request_ts < from_iso8601_timestamp(?)
GROUP BY 1, 2
ORDER BY period_start DESC, elb
