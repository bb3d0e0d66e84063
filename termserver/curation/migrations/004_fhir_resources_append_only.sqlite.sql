-- Stored FHIR resources keep every version: the database refuses to change or delete a row.
CREATE TRIGGER fhir_resources_no_update BEFORE UPDATE ON fhir_resources
BEGIN
  SELECT RAISE(ABORT, 'fhir_resources is append-only');
END;

CREATE TRIGGER fhir_resources_no_delete BEFORE DELETE ON fhir_resources
BEGIN
  SELECT RAISE(ABORT, 'fhir_resources is append-only');
END;
