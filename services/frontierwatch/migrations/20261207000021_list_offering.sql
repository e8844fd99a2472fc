-- no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS resources_list_offering ON resources (kind, offering, name) WHERE offering IS NOT NULL;
