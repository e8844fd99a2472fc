-- Leaderboards read each release's best score per comparability key,
-- highest first. This index returns them in that order, and carries every
-- column the ranking reads, so that the read is an index-only scan that
-- never touches the (wide) rows. (Every result has a settings key: the
-- server fills rows written before the column existed at start-up.)
CREATE INDEX resources_leaderboard_best ON resources (benchmark, settings_key, release, score DESC)
    INCLUDE (name, model, status, relation, event_date)
    WHERE kind = 'benchmark_result' AND settings_key IS NOT NULL;
