-- Index columns that say what they hold (expand; a later release
-- contracts). Until now `organizations`, `category`, `status`,
-- `kind_detail` and `event_date` each held a different field by kind (a
-- release's stage and a result's verification were both `status`). Each
-- field now has a column of its own, named for it (`domain::index`), and
-- only those are read and indexed for lists, filters and analytics.
--
-- Replicas of the previous release still run during a rolling upgrade
-- (deploy/README.md, "Migrations"): they read and write only the old
-- columns. So this release writes both, the old ones from the same fields
-- (`Index::legacy`); and the trigger below fills the typed columns of a
-- row written by an older replica, which is a row whose `typed_etag` is
-- not its `etag` (this release sets both to the same value on every
-- write, so the trigger's WHEN skips its writes without running). A later
-- release, once no replica of the previous one can run, stops writing the
-- old columns and drops them with the trigger.

ALTER TABLE resources
    ADD COLUMN typed_etag          text,
    ADD COLUMN parent_organization text,
    ADD COLUMN organization_kind   text,
    ADD COLUMN developers          text[] NOT NULL DEFAULT '{}',
    ADD COLUMN stage               text,
    ADD COLUMN release_date        date,
    ADD COLUMN benchmark_category  text,
    ADD COLUMN evaluator           text,
    ADD COLUMN verification        text,
    ADD COLUMN publish_date        date,
    ADD COLUMN subject             text,
    ADD COLUMN disclosure_category text,
    ADD COLUMN disclosure_status   text,
    ADD COLUMN indicator_index     text,
    ADD COLUMN indicator_domain    text,
    ADD COLUMN indicator_subdomain text,
    ADD COLUMN publisher           text,
    ADD COLUMN edition_date        date,
    ADD COLUMN committed_by        text;

-- The previous release's mapping of its columns by kind, once.
CREATE FUNCTION resources_typed_columns() RETURNS trigger LANGUAGE plpgsql AS $$
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
    NEW.typed_etag          := NEW.etag;
    RETURN NEW;
END
$$;

CREATE TRIGGER resources_typed_columns
    BEFORE INSERT OR UPDATE ON resources
    FOR EACH ROW WHEN (NEW.typed_etag IS DISTINCT FROM NEW.etag)
    EXECUTE FUNCTION resources_typed_columns();

-- Every stored row, through the trigger.
UPDATE resources SET typed_etag = NULL;

-- Each list filter served by an index of its own column (see migration 8).
CREATE INDEX resources_list_parent_organization ON resources (kind, parent_organization, name) WHERE parent_organization IS NOT NULL;
CREATE INDEX resources_list_organization_kind ON resources (kind, organization_kind, name) WHERE organization_kind IS NOT NULL;
CREATE INDEX resources_list_stage ON resources (kind, stage, name) WHERE stage IS NOT NULL;
CREATE INDEX resources_list_benchmark_category ON resources (kind, benchmark_category, name) WHERE benchmark_category IS NOT NULL;
CREATE INDEX resources_list_verification ON resources (kind, verification, name) WHERE verification IS NOT NULL;
CREATE INDEX resources_list_subject ON resources (kind, subject, name) WHERE subject IS NOT NULL;
CREATE INDEX resources_list_disclosure_category ON resources (kind, disclosure_category, name) WHERE disclosure_category IS NOT NULL;
CREATE INDEX resources_list_disclosure_status ON resources (kind, disclosure_status, name) WHERE disclosure_status IS NOT NULL;
CREATE INDEX resources_list_indicator_index ON resources (kind, indicator_index, name) WHERE indicator_index IS NOT NULL;
CREATE INDEX resources_list_indicator_domain ON resources (kind, indicator_domain, name) WHERE indicator_domain IS NOT NULL;
CREATE INDEX resources_list_publisher ON resources (kind, publisher, name) WHERE publisher IS NOT NULL;
CREATE INDEX resources_list_committed_by ON resources (kind, committed_by, name) WHERE committed_by IS NOT NULL;
-- Only model lines have developers, and every query of them names the kind.
CREATE INDEX resources_developers ON resources USING gin (developers) WHERE kind = 'model';

-- The leaderboard's index (migration 10) over the typed columns.
CREATE INDEX resources_leaderboard_typed ON resources
    (benchmark, settings_key, release, score DESC, publish_date ASC NULLS LAST, name)
    INCLUDE (model, verification, relation)
    WHERE kind = 'benchmark_result' AND settings_key IS NOT NULL;

-- The previous release's indexes go: nothing of this release reads their
-- columns, and each would cost every write until the contract release.
-- A replica of the previous release (during the rollout, or after a
-- rollback) still reads and writes correctly without them; its filtered
-- lists and leaderboards scan instead (deploy/README.md, "Migrations",
-- has the statements that bring them back for a rollback that stays).
DROP INDEX resources_list_category;
DROP INDEX resources_list_status;
DROP INDEX resources_list_kind_detail;
DROP INDEX resources_organizations;
DROP INDEX resources_leaderboard_best;
