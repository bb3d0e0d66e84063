-- FHIR CodeSystems, ValueSets and ConceptMaps put on the server by admins (PUT/POST/DELETE /fhir).
-- Every write is a new row (version n+1; a delete is a row with deleted = 1 and no body), so no
-- version is ever overwritten and the history can be read back. The newest row id tells replicas
-- that something changed.
CREATE TABLE fhir_resources (
  id {id},
  resource_type TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  body TEXT,
  url TEXT,
  updated_at TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  UNIQUE (resource_type, resource_id, version)
);
CREATE INDEX fhir_resources_url ON fhir_resources(url);
