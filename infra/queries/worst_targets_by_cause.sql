-- The ten targets (ip:port) with the most errors of each cause. Add
-- "AND cause = 'target_unreachable'" (or another cause) to the WHERE clause
-- to look at one cause only.
-- parameters: since_day, until_day, since, until
WITH per_target AS (
    SELECT
        cause,
        elb,
        target_ip,
        target_port,
        count(*) AS errors,
        date_trunc('second', max(request_ts)) AS last_seen
    FROM alb_errors
    WHERE day BETWEEN ? AND ?
      AND request_ts >= from_iso8601_timestamp(?)
      AND request_ts < from_iso8601_timestamp(?)
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
