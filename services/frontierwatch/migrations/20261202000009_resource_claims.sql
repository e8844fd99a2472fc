-- What each source states about a resource, so that a second source merges
-- with the first instead of replacing it.
--
-- One row per (resource, claimant): the resource as that claimant (a
-- dataset's publisher, a source URI, or "settled" for a person's decision
-- through Update) describes it, encoded like `resources.data` without its
-- output-only fields. The stored resource is the merge of its claims
-- (domain/claims.rs), recomputed inside the transaction that changes one;
-- the merge depends on the set of rows only, never on their order, so the
-- order of imports does not change the result. A resource that only ever
-- had one writer has no rows here until a second source arrives: its own
-- content then becomes its first claim.
CREATE TABLE resource_claims (
    name      text NOT NULL REFERENCES resources (name) ON DELETE CASCADE,
    claimant  text NOT NULL,
    -- Lower wins: 0 a settlement, 1 the developer's own publication, 2 a
    -- third-party leaderboard, 3 the press, 4 a dataset, 5 unattributed.
    authority smallint NOT NULL,
    -- A settlement decides exactly these top-level fields; NULL for a
    -- source's claim, which states the fields it sets.
    fields    text[],
    data      bytea NOT NULL,
    PRIMARY KEY (name, claimant)
);
