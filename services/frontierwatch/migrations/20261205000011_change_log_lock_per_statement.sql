-- The change log's lock, once per statement instead of once per record.
--
-- The first migration numbered each record in a BEFORE INSERT trigger FOR
-- EACH ROW: take the advisory lock, draw the next number, stamp the time.
-- A PL/pgSQL call per record costs about 2.7 µs (measured: 20,000 records
-- in 134 ms with it, 81 ms without), paid inside the serialized window that
-- every writing transaction takes its turn in, from its change insert to
-- its commit. Here a BEFORE INSERT trigger FOR EACH STATEMENT takes the
-- same lock, and each record draws its number and time from the columns'
-- defaults. PostgreSQL fires statement triggers before it forms the first
-- row of the statement, so every number is still drawn under the lock,
-- which is held until commit: numbers are handed out and committed in the
-- same order, as before.
CREATE FUNCTION changes_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1180106753);
    RETURN NULL;
END;
$$;

CREATE TRIGGER changes_lock BEFORE INSERT ON changes
    FOR EACH STATEMENT EXECUTE FUNCTION changes_lock();

ALTER TABLE changes
    ALTER COLUMN seq SET DEFAULT nextval('changes_seq'),
    ALTER COLUMN commit_time SET DEFAULT clock_timestamp();

DROP TRIGGER changes_assign_seq ON changes;
DROP FUNCTION changes_assign_seq();
