-- Targets that look like they close idle keep-alive connections before the
-- load balancer does (cause target_closed_keepalive, alb502's heuristic),
-- last 24 hours, with how many requests they served and their
-- target_unreachable 502s for contrast. Fix: make the target's keep-alive
-- timeout longer than the load balancer's idle timeout (60 s by default).
SELECT
    elb,
    target_ip,
    target_port,
    count_if(cause = 'target_closed_keepalive') AS keepalive_502s,
    count_if(cause = 'target_unreachable') AS unreachable_502s,
    count(*) AS requests,
    round(100e0 * count_if(cause = 'target_closed_keepalive') / count(*), 2) AS keepalive_percent,
    max(CASE WHEN cause = 'target_closed_keepalive' THEN request_ts END) AS last_keepalive_502
FROM alb_logs
WHERE day >= date_format(current_date - INTERVAL '1' DAY, '%Y-%m-%d')
  AND request_ts >= current_timestamp - INTERVAL '24' HOUR
  AND target_ip <> ''
GROUP BY elb, target_ip, target_port
HAVING count_if(cause = 'target_closed_keepalive') > 0
ORDER BY keepalive_502s DESC, elb, target_ip, target_port
