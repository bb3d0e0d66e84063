"""Runner for the HL7 FHIR terminology ecosystem tests: ``python -m termserver.conformance``."""
