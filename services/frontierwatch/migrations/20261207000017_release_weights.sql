-- A release's weights, for the access filters of leaderboards and record
-- progressions (`domain::index`, `weights`): 'open' when its access
-- includes open weights, 'closed' when its access is stated without them,
-- 'unstated' when it is not stated. NULL on a release row means "not
-- indexed yet": rows stored before this column, and rows an older
-- replica writes during a rolling upgrade (its statements do not know the
-- column; the trigger below clears it so that a stale value cannot stay).
-- Each replica indexes such rows when it starts
-- (`storage::analytics::backfill_release_weights`); until then they count
-- for neither access filter, like a release whose access is not stated.

ALTER TABLE resources ADD COLUMN weights text;

-- Migration 15's function, with the line that clears `weights` on a
-- release row written by an older replica.
CREATE OR REPLACE FUNCTION resources_typed_columns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.parent_organization := CASE WHEN NEW.kind = 'organization' THEN NEW.organizations[1] END;
    NEW.organization_kind   := CASE WHEN NEW.kind = 'organization' THEN NEW.kind_detail END;
    NEW.developers          := CASE WHEN NEW.kind = 'model' THEN NEW.organizations ELSE '{}' END;
    NEW.stage               := CASE WHEN NEW.kind = 'release' THEN NEW.status END;
    NEW.release_date        := CASE WHEN NEW.kind = 'release' THEN NEW.event_date END;
    NEW.benchmark_category  := CASE WHEN NEW.kind = 'benchmark' THEN NEW.category END;
    NEW.evaluator           := CASE WHEN NEW.kind = 'benchmark_result' THEN NEW.organizations[1] END;
    NEW.verification        := CASE WHEN NEW.kind = 'benchmark_result' THEN NEW.status END;
    NEW.publish_date        := CASE WHEN NEW.kind IN ('benchmark_result', 'disclosure') THEN NEW.event_date END;
    NEW.subject             := CASE WHEN NEW.kind = 'disclosure' THEN NEW.kind_detail END;
    NEW.disclosure_category := CASE WHEN NEW.kind = 'disclosure' THEN NEW.category END;
    NEW.disclosure_status   := CASE WHEN NEW.kind = 'disclosure' THEN NEW.status END;
    NEW.indicator_index     := CASE WHEN NEW.kind = 'indicator' THEN NEW.kind_detail END;
    NEW.indicator_domain    := CASE WHEN NEW.kind = 'indicator' THEN NEW.category END;
    NEW.indicator_subdomain := CASE WHEN NEW.kind = 'indicator' THEN NEW.status END;
    NEW.publisher           := CASE WHEN NEW.kind = 'transparency_index' THEN NEW.kind_detail END;
    NEW.edition_date        := CASE WHEN NEW.kind = 'transparency_index' THEN NEW.event_date END;
    NEW.committed_by        := CASE WHEN NEW.kind = 'commitment' THEN NEW.organizations[1] END;
    NEW.weights             := NULL;
    NEW.typed_etag          := NEW.etag;
    RETURN NEW;
END
$$;

-- The access filters: releases by their weights. Only releases have
-- weights, so the filters name no kind: `kind = 'release' AND weights =
-- 'open'` would be estimated as if the two were independent (a
-- hundredth of the releases it keeps at a million results, which turns
-- the plan over).
CREATE INDEX resources_release_weights ON resources (weights, name) WHERE weights IS NOT NULL;
-- The releases left to index.
CREATE INDEX resources_weights_unindexed ON resources (name) WHERE kind = 'release' AND weights IS NULL;
