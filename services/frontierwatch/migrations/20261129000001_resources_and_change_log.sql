-- Frontier Watch schema, version 1.
--
-- Every resource lives in one table, `resources`, keyed by its AIP resource
-- name. The resource itself is stored as its encoded protobuf message
-- (`data`); the columns beside it exist only to index, filter and constrain.
-- One table keeps the standard methods, the change log and the reference
-- checks in one code path for every kind.

CREATE TABLE resources (
    name          text PRIMARY KEY,
    kind          text NOT NULL,
    -- Filter columns; each kind fills the ones that apply to it.
    model         text,                        -- the model line (releases, results, disclosures)
    release       text,                        -- results: the release evaluated
    benchmark     text,                        -- results: the benchmark
    organizations text[] NOT NULL DEFAULT '{}', -- models: developers; orgs: parent; disclosures: subject org
    category      text,                        -- benchmarks, disclosures
    status        text,                        -- releases: stage; results: verification; disclosures: status
    kind_detail   text,                        -- organizations: kind; disclosures: subject
    country       text,
    event_date    date,                        -- releases: release date; results and disclosures: publish date
    data          bytea NOT NULL,
    etag          text NOT NULL,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    -- The name must belong to the kind: a release can never be stored under
    -- an organization's name.
    CONSTRAINT resources_name_matches_kind CHECK (
        (kind = 'organization'     AND name ~ '^organizations/[a-z][a-z0-9-]{0,62}$') OR
        (kind = 'model'            AND name ~ '^models/[a-z][a-z0-9-]{0,62}$') OR
        (kind = 'release'          AND name ~ '^models/[a-z][a-z0-9-]{0,62}/releases/[a-z][a-z0-9-]{0,62}$') OR
        (kind = 'benchmark'        AND name ~ '^benchmarks/[a-z][a-z0-9-]{0,62}$') OR
        (kind = 'benchmark_result' AND name ~ '^benchmarkResults/[a-z][a-z0-9-]{0,62}$') OR
        (kind = 'disclosure'       AND name ~ '^disclosures/[a-z][a-z0-9-]{0,62}$')
    )
);

CREATE INDEX resources_kind_name ON resources (kind, name);
CREATE INDEX resources_model ON resources (model, kind) WHERE model IS NOT NULL;
CREATE INDEX resources_release ON resources (release) WHERE release IS NOT NULL;
CREATE INDEX resources_benchmark ON resources (benchmark, kind) WHERE benchmark IS NOT NULL;
CREATE INDEX resources_organizations ON resources USING gin (organizations);

-- Every reference from one resource to another (a release to its model, a
-- result to its release, benchmark and evaluator, ...). The foreign keys are
-- what makes a dangling reference impossible: a reference to a missing
-- resource cannot be inserted, and a referenced resource cannot be deleted
-- (RESTRICT), whatever the application code does.
CREATE TABLE resource_refs (
    from_name text NOT NULL REFERENCES resources (name) ON DELETE CASCADE,
    to_name   text NOT NULL,
    field     text NOT NULL,
    PRIMARY KEY (from_name, to_name, field),
    CONSTRAINT resource_refs_to_name_fkey FOREIGN KEY (to_name) REFERENCES resources (name) ON DELETE RESTRICT
);
CREATE INDEX resource_refs_to_name ON resource_refs (to_name);

-- AIP-155 request ids: the response of the first call, returned to retries.
CREATE TABLE request_ids (
    request_id    uuid PRIMARY KEY,
    method        text NOT NULL,
    resource_name text NOT NULL,
    response      bytea NOT NULL,
    create_time   timestamptz NOT NULL DEFAULT now()
);

-- The change log: one record per committed write, appended in the writing
-- transaction, so no write can commit without its record.
--
-- Sequence values become visible out of commit order under concurrent
-- writers, so a reader following `seq > cursor` over a plain identity column
-- would skip records. Here the sequence number is drawn inside a BEFORE
-- INSERT trigger after taking a transaction-scoped advisory lock: the lock is
-- held until commit, so numbers are handed out and committed in the same
-- order, and a reader that has seen N has seen every record below N. The
-- insert is the last statement of each writing transaction to keep the lock
-- window short. `tx_id` groups the records of one transaction.
CREATE SEQUENCE changes_seq AS bigint;

CREATE TABLE changes (
    seq           bigint PRIMARY KEY,
    tx_id         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    resource_name text NOT NULL,
    resource_type text NOT NULL,   -- full protobuf type name, e.g. frontierwatch.v1.Release
    change_kind   text NOT NULL CHECK (change_kind IN ('created', 'updated', 'deleted')),
    resource      bytea NOT NULL,  -- the resource after the change; the last state for a delete
    commit_time   timestamptz NOT NULL
);
CREATE INDEX changes_commit_time ON changes (commit_time);

-- 0x4657_0001 = "FW" + 1: the advisory lock key that orders the change log.
CREATE FUNCTION changes_assign_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1180106753);
    NEW.seq := nextval('changes_seq');
    NEW.commit_time := clock_timestamp();
    RETURN NEW;
END;
$$;

CREATE TRIGGER changes_assign_seq BEFORE INSERT ON changes
    FOR EACH ROW EXECUTE FUNCTION changes_assign_seq();
