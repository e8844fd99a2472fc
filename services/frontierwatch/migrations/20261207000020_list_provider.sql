-- no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS resources_list_provider ON resources (kind, provider, name) WHERE provider IS NOT NULL;
