-- The ten targets (ip:port) with the most 502s of each cause over the last
-- 24 hours. Add "AND cause = 'target_unreachable'" (or another cause) to the
-- WHERE clause to look at one cause only.
WITH per_target AS (
    SELECT
        cause,
        elb,
        target_ip,
        target_port,
        count(*) AS errors,
        max(request_ts) AS last_seen
    FROM alb_logs
    WHERE day >= date_format(current_date - INTERVAL '1' DAY, '%Y-%m-%d')
      AND request_ts >= current_timestamp - INTERVAL '24' HOUR
      AND cause IS NOT NULL
      AND target_ip <> ''
    GROUP BY cause, elb, target_ip, target_port
)
SELECT cause, target_rank, elb, target_ip, target_port, errors, last_seen
FROM (
    SELECT
        per_target.*,
        row_number() OVER (
            PARTITION BY cause ORDER BY errors DESC, target_ip, target_port
        ) AS target_rank
    FROM per_target
) AS ranked
WHERE target_rank <= 10
ORDER BY cause, target_rank
