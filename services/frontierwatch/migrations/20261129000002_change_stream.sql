-- The change stream (Watch) over the change log.
--
-- Watchers filter on organization, model line and benchmark. Those are
-- recorded with each change when it is written, so that a replica filters
-- events in memory without decoding resources or querying per event.
ALTER TABLE changes
    ADD COLUMN organizations text[] NOT NULL DEFAULT '{}',
    ADD COLUMN model text,
    ADD COLUMN benchmark text;

-- Retention: records older than the window are pruned. `pruned_through` is
-- the highest sequence ever pruned; a watcher resuming at or below it may
-- have missed records and must re-snapshot. (Sequences have holes from
-- rolled-back transactions, so the oldest retained sequence alone cannot
-- tell a pruned record from a hole.)
CREATE TABLE change_log_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO change_log_state DEFAULT VALUES;

-- A wake-up for every replica's change-log follower. NOTIFY is only a hint:
-- notifications are lost while a listener is disconnected, so followers also
-- catch up from the table on reconnect and poll as a fallback. One
-- notification per statement; PostgreSQL folds identical ones within a
-- transaction.
CREATE FUNCTION changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('frontierwatch_changes', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER changes_notify AFTER INSERT ON changes
    FOR EACH STATEMENT EXECUTE FUNCTION changes_notify();
