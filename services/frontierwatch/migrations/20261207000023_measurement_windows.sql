-- no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS resources_measurement_windows ON resources (offering, window_end) INCLUDE (metric) WHERE kind = 'measurement';
