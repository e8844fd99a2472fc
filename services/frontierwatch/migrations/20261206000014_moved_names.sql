-- The names resources were moved from (MoveRelease).
--
-- A release moved into another model line takes a new name; clients and
-- links that still hold the old one keep reaching it: a Get of a name that
-- no resource holds answers with the resource `target` names. A move of
-- the target carries its old names along, and a resource created later
-- under an old name takes precedence (Get finds it first). The entry goes
-- with its target when that is deleted.
CREATE TABLE moved_names (
    name      text PRIMARY KEY,
    target    text NOT NULL REFERENCES resources (name) ON DELETE CASCADE,
    move_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX moved_names_target ON moved_names (target);
