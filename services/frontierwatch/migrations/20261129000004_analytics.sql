-- Analytics: leaderboards, comparisons, cadence commitments, alerts.

-- Commitments become a kind of resource.
ALTER TABLE resources DROP CONSTRAINT resources_name_matches_kind;
ALTER TABLE resources ADD CONSTRAINT resources_name_matches_kind CHECK (
    (kind = 'organization'     AND name ~ '^organizations/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'model'            AND name ~ '^models/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'release'          AND name ~ '^models/[a-z][a-z0-9-]{0,62}/releases/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'benchmark'        AND name ~ '^benchmarks/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'benchmark_result' AND name ~ '^benchmarkResults/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'disclosure'       AND name ~ '^disclosures/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'indicator'        AND name ~ '^indicators/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'commitment'       AND name ~ '^commitments/[a-z][a-z0-9-]{0,62}$')
);

-- Results carry what leaderboards rank on: the score, the comparability
-- key (a canonical rendering of the evaluation settings) and the
-- evaluator's relation. Rows written before this migration are filled in
-- at start-up by the server, which can decode them.
ALTER TABLE resources
    ADD COLUMN score double precision,
    ADD COLUMN settings_key text,
    ADD COLUMN relation text;

-- A leaderboard reads one benchmark's results, best first per key.
CREATE INDEX resources_leaderboard ON resources (benchmark, settings_key, release, score)
    WHERE kind = 'benchmark_result';
CREATE INDEX resources_release_results ON resources (release, benchmark)
    WHERE kind = 'benchmark_result';

-- Alerts already raised, so that each is raised exactly once whatever the
-- number of evaluators (the unique key decides; an advisory lock keeps the
-- work to one replica at a time).
CREATE TABLE alerts (
    alert_key   text PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    create_time timestamptz NOT NULL DEFAULT now()
);

-- The leader last seen per benchmark and comparability key.
CREATE TABLE leaders (
    benchmark    text NOT NULL,
    settings_key text NOT NULL,
    release      text NOT NULL,
    PRIMARY KEY (benchmark, settings_key)
);
