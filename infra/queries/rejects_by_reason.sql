-- Log lines alb502 could not parse over the last two days (partition days),
-- by reason, with how many objects they came from and one example line.
-- Rejected lines have no trusted time: they are filed under their object's day.
SELECT
    reason,
    count(*) AS lines,
    count(DISTINCT source_key) AS objects,
    min(raw_line) AS example
FROM alb_log_rejects
WHERE day >= date_format(current_date - INTERVAL '1' DAY, '%Y-%m-%d')
GROUP BY reason
ORDER BY lines DESC, reason
