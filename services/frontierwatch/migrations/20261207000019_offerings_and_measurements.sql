-- Offerings and measurements (`domain::market`): the columns their lists
-- and reports filter on. Only the new kinds set them, and a replica of the
-- previous release cannot write those kinds (their names are not in its
-- registry), so the typed-columns trigger of migration 15 needs no line for
-- them. The indexes follow, each built concurrently in its own migration so
-- that writes go on while they build.
ALTER TABLE resources
    ADD COLUMN provider text,
    ADD COLUMN offering text,
    ADD COLUMN metric text,
    ADD COLUMN window_end timestamptz;
