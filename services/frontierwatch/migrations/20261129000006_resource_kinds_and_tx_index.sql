-- The kinds of resource are declared once, in the contract crate's registry
-- (frontierwatch_proto::kinds). Until now each kind was also spelled out in
-- the name check of `resources`, rewritten by every migration that added a
-- kind. From here on the server writes the registry into `resource_kinds`
-- at start, before it serves, and a trigger checks every stored name
-- against its kind's pattern: the database still refuses a release stored
-- under an organization's name, and a new kind needs no migration of this
-- check.
CREATE TABLE resource_kinds (
    kind         text PRIMARY KEY,  -- `resources.kind`, e.g. benchmark_result
    name_pattern text NOT NULL      -- anchored POSIX regular expression
);

ALTER TABLE resources DROP CONSTRAINT resources_name_matches_kind;

CREATE FUNCTION resources_check_name() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    pattern text;
BEGIN
    SELECT name_pattern INTO pattern FROM resource_kinds WHERE kind = NEW.kind;
    IF pattern IS NULL OR NEW.name !~ pattern THEN
        RAISE EXCEPTION 'resource name % does not match kind %', NEW.name, NEW.kind
            USING ERRCODE = 'check_violation', CONSTRAINT = 'resources_name_matches_kind';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER resources_check_name BEFORE INSERT OR UPDATE OF name, kind ON resources
    FOR EACH ROW EXECUTE FUNCTION resources_check_name();

-- A reader's page ends at a transaction boundary: it completes the last
-- transaction of the page with the rest of its records. Without an index on
-- tx_id that lookup scanned every record after the page, which made a
-- far-behind resume quadratic.
CREATE INDEX changes_tx_id ON changes (tx_id);

-- How many times each board's leader changed: it keys the new-leader
-- alert, so that a lead that goes back and forth is announced every time
-- (keyed by the pair of releases, the second A-over-B was suppressed).
ALTER TABLE leaders ADD COLUMN changes bigint NOT NULL DEFAULT 0;

-- Keys every replica shares, made by the first server that needs one:
-- `page_token` authenticates list page tokens (HMAC-SHA256), so that a
-- token from one replica works on another and cannot be edited.
CREATE TABLE server_keys (
    name text PRIMARY KEY,
    key  bytea NOT NULL
);
