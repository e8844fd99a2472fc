-- Revisions: the durable history of every resource (docs/history.md).
--
-- The change log is pruned after its retention window; revisions are
-- not. Every change record is also kept as the resource's next revision:
-- the resource as it stood after the change (its last state for a
-- delete), who made it, why (created, updated, merged from a source,
-- settled by a person, deleted), and when. Only `compact_revisions` (an
-- explicit operation, docs/history.md) removes revisions.
--
-- The change log's records are appended under its lock, held to commit
-- (migration 11): whatever that statement does, every writer waits for.
-- So a writer inserts its revisions in a statement of their own just
-- before (storage::append), under its transaction id; the append then
-- adds one row per transaction, `revision_commits`, with the sequence of
-- its first record and its commit time. A transaction's records get
-- consecutive sequences in the order the revisions number them (`ord`).
CREATE TABLE revisions (
    name          text NOT NULL,
    revision      bigint NOT NULL,           -- 1, 2, ... per name
    tx            xid8 NOT NULL,             -- the writing transaction (revision_commits)
    ord           integer NOT NULL,          -- its position among the transaction's records, from 1
    resource_type text NOT NULL,             -- full protobuf type name, as in changes
    reason        text NOT NULL CHECK (reason IN
                      ('baseline', 'created', 'updated', 'merged', 'settled', 'deleted')),
    actor         text,                      -- the token of the call; NULL for derived changes
    claimant      text,                      -- the source of an imported create or merge
    model         text,                      -- the change record's model line and benchmark,
    benchmark     text,                      -- which narrow what a question as known then reads
    resource      bytea NOT NULL,
    PRIMARY KEY (name, revision)
);
CREATE INDEX revisions_tx ON revisions (tx);

-- One row per writing transaction: when it committed (its first change
-- record's commit time, taken under the change log's lock, so in commit
-- order) and its first record's sequence (NULL for baselines).
CREATE TABLE revision_commits (
    tx          xid8 PRIMARY KEY,
    first_seq   bigint,
    commit_time timestamptz NOT NULL
);
CREATE INDEX revision_commits_time ON revision_commits (commit_time);

-- What the service reads: each revision with its sequence and time.
CREATE VIEW revision_log AS
SELECT r.name, r.revision, c.first_seq + r.ord - 1 AS seq, c.commit_time,
       r.resource_type, r.reason, r.actor, r.claimant, r.model, r.benchmark, r.resource
  FROM revisions r JOIN revision_commits c USING (tx);

-- Why a change was made, beside the change record (storage::append);
-- NULL from writers that predate revisions.
ALTER TABLE changes
    ADD COLUMN reason   text CHECK (reason IN ('created', 'updated', 'merged', 'settled', 'deleted')),
    ADD COLUMN claimant text;

-- A replica of the previous release appends records without a reason
-- and without revisions during a rolling upgrade: this trigger keeps
-- those as revisions (the WHEN spares every other record a call). Writes
-- of one name are serialized by its row lock, so two transactions never
-- number the same name at once.
CREATE FUNCTION changes_revise_older() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO revision_commits (tx, first_seq, commit_time)
    VALUES (NEW.tx_id, NEW.seq, NEW.commit_time)
    ON CONFLICT (tx) DO NOTHING;
    INSERT INTO revisions (name, revision, tx, ord, resource_type, reason, actor, claimant,
                           model, benchmark, resource)
    VALUES (NEW.resource_name,
            COALESCE((SELECT max(v.revision) FROM revisions v WHERE v.name = NEW.resource_name), 0) + 1,
            NEW.tx_id,
            NEW.seq - (SELECT first_seq FROM revision_commits WHERE tx = NEW.tx_id) + 1,
            NEW.resource_type, NEW.change_kind, NEW.actor, NULL, NEW.model, NEW.benchmark,
            NEW.resource);
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
INSERT INTO revision_commits (tx, first_seq, commit_time) VALUES (pg_current_xact_id(), NULL, now());
INSERT INTO revisions (name, revision, tx, ord, resource_type, reason, resource)
SELECT name, 1, pg_current_xact_id(), 1,
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
    INSERT INTO revision_commits (tx, first_seq, commit_time)
    VALUES (pg_current_xact_id(), NULL, before);
    WITH last AS (
        SELECT DISTINCT ON (name) name, revision, reason
          FROM revision_log WHERE commit_time < before
         ORDER BY name, revision DESC),
    gone AS (
        DELETE FROM revisions v USING last l
         WHERE v.name = l.name
           AND (v.revision < l.revision OR (v.revision = l.revision AND l.reason = 'deleted'))
        RETURNING 1),
    kept AS (
        UPDATE revisions v SET reason = 'baseline', tx = pg_current_xact_id(), ord = 1
          FROM last l
         WHERE v.name = l.name AND v.revision = l.revision AND l.reason <> 'deleted')
    SELECT count(*) INTO removed FROM gone;
    DELETE FROM revision_commits c
     WHERE NOT EXISTS (SELECT 1 FROM revisions r WHERE r.tx = c.tx);
    UPDATE revision_log_state SET history_begins = GREATEST(history_begins, before);
    RETURN removed;
END
$$;
