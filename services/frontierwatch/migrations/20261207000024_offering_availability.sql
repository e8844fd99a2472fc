-- Whether each offering's availability was below the operator's threshold
-- at its last evaluation (`stream::market_alerts`): a drop is announced
-- when it goes below, once, and again only after it has recovered.
CREATE TABLE offering_availability (
    offering text PRIMARY KEY,
    below    boolean NOT NULL,
    drops    bigint NOT NULL DEFAULT 0
);
