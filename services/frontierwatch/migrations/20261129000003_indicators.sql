-- Transparency indicators (e.g. the Foundation Model Transparency Index)
-- become a kind of resource: the name check admits `indicators/{id}`.
ALTER TABLE resources DROP CONSTRAINT resources_name_matches_kind;
ALTER TABLE resources ADD CONSTRAINT resources_name_matches_kind CHECK (
    (kind = 'organization'     AND name ~ '^organizations/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'model'            AND name ~ '^models/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'release'          AND name ~ '^models/[a-z][a-z0-9-]{0,62}/releases/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'benchmark'        AND name ~ '^benchmarks/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'benchmark_result' AND name ~ '^benchmarkResults/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'disclosure'       AND name ~ '^disclosures/[a-z][a-z0-9-]{0,62}$') OR
    (kind = 'indicator'        AND name ~ '^indicators/[a-z][a-z0-9-]{0,62}$')
);
