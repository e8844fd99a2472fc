-- Leaderboards read each release's best score per comparability key,
-- highest first: this index returns them in that order without a sort.
-- (Every result has a settings key: the server fills rows written before
-- the column existed at start-up.)
CREATE INDEX resources_leaderboard_best ON resources (benchmark, settings_key, release, score DESC)
    WHERE kind = 'benchmark_result';
