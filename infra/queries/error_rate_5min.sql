-- 502 rate per load balancer per 5 minutes over the last 24 hours: requests,
-- 502s split into load-balancer-generated (elb) and target-sent (target), and
-- the rate in percent. Compare with CloudWatch's HTTPCode_ELB_502_Count.
SELECT
    elb,
    from_unixtime(floor(to_unixtime(request_ts) / 300) * 300) AS period_start,
    count(*) AS requests,
    count_if(elb_status_code = 502) AS errors_502,
    count_if(error_source = 'elb') AS elb_502,
    count_if(error_source = 'target') AS target_502,
    round(100e0 * count_if(elb_status_code = 502) / count(*), 2) AS rate_percent
FROM alb_logs
WHERE day >= date_format(current_date - INTERVAL '1' DAY, '%Y-%m-%d')
  AND request_ts >= current_timestamp - INTERVAL '24' HOUR
GROUP BY 1, 2
ORDER BY period_start DESC, elb
