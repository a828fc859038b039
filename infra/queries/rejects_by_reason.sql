-- Log lines alb502 could not parse, by reason, with how many objects they
-- came from and one example line. Rejected lines have no trusted time: they
-- are filed under their object's day, so the window counts whole days.
-- parameters: since_day, until_day
SELECT
    reason,
    count(*) AS lines,
    count(DISTINCT source_key) AS objects,
    min(raw_line) AS example
FROM alb_log_rejects
WHERE day BETWEEN ? AND ?
GROUP BY reason
ORDER BY lines DESC, reason
