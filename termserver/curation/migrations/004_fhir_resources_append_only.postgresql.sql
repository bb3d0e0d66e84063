-- Stored FHIR resources keep every version: the database refuses to change, delete or truncate.
CREATE FUNCTION fhir_resources_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'fhir_resources is append-only';
END
$$;

CREATE TRIGGER fhir_resources_no_update_delete BEFORE UPDATE OR DELETE ON fhir_resources
  FOR EACH ROW EXECUTE FUNCTION fhir_resources_append_only();

CREATE TRIGGER fhir_resources_no_truncate BEFORE TRUNCATE ON fhir_resources
  FOR EACH STATEMENT EXECUTE FUNCTION fhir_resources_append_only();
