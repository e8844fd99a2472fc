-- no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS resources_list_metric ON resources (kind, metric, name) WHERE metric IS NOT NULL;
