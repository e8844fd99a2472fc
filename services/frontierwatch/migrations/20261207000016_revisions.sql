-- Revisions: the durable history of every resource (docs/history.md).
--
-- The change log is pruned after its retention window; revisions are
-- not. Every change record is also kept here as the resource's next
-- revision, in the statement that appends it: the resource as it stood
-- after the change (its last state for a delete), who made it, why
-- (created, updated, merged from a source, settled by a person, deleted),
-- and when (the record's commit time and sequence). Only
-- `compact_revisions` (an explicit operation, docs/history.md) removes
-- revisions.
CREATE TABLE revisions (
    name          text NOT NULL,
    revision      bigint NOT NULL,           -- 1, 2, ... per name
    seq           bigint,                    -- the change record's sequence; NULL for a baseline
    commit_time   timestamptz NOT NULL,
    resource_type text NOT NULL,             -- full protobuf type name, as in changes
    reason        text NOT NULL CHECK (reason IN
                      ('baseline', 'created', 'updated', 'merged', 'settled', 'deleted')),
    actor         text,                      -- the token of the call; NULL for derived changes
    claimant      text,                      -- the source of an imported create or merge
    resource      bytea NOT NULL,
    PRIMARY KEY (name, revision)
);
-- The audit reads by time: revisions are appended in commit order, so a
-- block-range index finds a time range for next to nothing per write
-- (a b-tree more per revision measured 10% on creates: docs/history.md).
-- An actor's writes are found within the time range asked for.
CREATE INDEX revisions_time ON revisions USING brin (commit_time);

-- Why a change was made, beside the change record (storage::append);
-- NULL from writers that predate revisions.
ALTER TABLE changes
    ADD COLUMN reason   text CHECK (reason IN ('created', 'updated', 'merged', 'settled', 'deleted')),
    ADD COLUMN claimant text;

-- The service appends each record's revision in the statement that
-- appends the record (storage::append). A replica of the previous release
-- appends records without a reason during a rolling upgrade: this trigger
-- keeps those as revisions (the WHEN spares every other record a call).
-- Writes of one name are serialized by its row lock, so two statements
-- never number the same name at once.
CREATE FUNCTION changes_revise_older() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO revisions (name, revision, seq, commit_time, resource_type, reason,
                           actor, claimant, resource)
    VALUES (NEW.resource_name,
            COALESCE((SELECT max(v.revision) FROM revisions v WHERE v.name = NEW.resource_name), 0) + 1,
            NEW.seq, NEW.commit_time, NEW.resource_type, NEW.change_kind,
            NEW.actor, NULL, NEW.resource);
    RETURN NULL;
END
$$;
CREATE TRIGGER changes_revise_older AFTER INSERT ON changes
    FOR EACH ROW WHEN (NEW.reason IS NULL)
    EXECUTE FUNCTION changes_revise_older();

-- Where the history begins: known_as_of before it has no answer. Moved
-- forward by compact_revisions.
CREATE TABLE revision_log_state (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    history_begins timestamptz NOT NULL
);
INSERT INTO revision_log_state (history_begins) VALUES (now());

-- Every resource stored before revisions existed gets a baseline: its
-- state as of now, the only thing known of its past.
INSERT INTO revisions (name, revision, seq, commit_time, resource_type, reason, resource)
SELECT name, 1, NULL, now(),
       -- benchmark_result → frontierwatch.v1.BenchmarkResult (proto/src/kinds.rs)
       'frontierwatch.v1.' || replace(initcap(replace(kind, '_', ' ')), ' ', ''),
       'baseline', data
  FROM resources;

-- The one operation that removes revisions: everything known before
-- `before` is folded into one revision per resource (its state then,
-- reason 'baseline'; a resource deleted by then loses its history), and
-- the history begins at `before`. Returns how many revisions went.
CREATE FUNCTION compact_revisions(before timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    removed bigint;
BEGIN
    IF before > now() THEN
        RAISE EXCEPTION 'compact_revisions: % is in the future', before;
    END IF;
    -- Writers wait: a revision appended meanwhile would race the fold.
    LOCK TABLE revisions IN SHARE ROW EXCLUSIVE MODE;
    WITH last AS (
        SELECT DISTINCT ON (name) name, revision, reason
          FROM revisions WHERE commit_time < before
         ORDER BY name, revision DESC),
    gone AS (
        DELETE FROM revisions v USING last l
         WHERE v.name = l.name
           AND (v.revision < l.revision OR (v.revision = l.revision AND l.reason = 'deleted'))
        RETURNING 1),
    kept AS (
        UPDATE revisions v SET reason = 'baseline', commit_time = before
          FROM last l
         WHERE v.name = l.name AND v.revision = l.revision AND l.reason <> 'deleted')
    SELECT count(*) INTO removed FROM gone;
    UPDATE revision_log_state SET history_begins = GREATEST(history_begins, before);
    RETURN removed;
END
$$;
