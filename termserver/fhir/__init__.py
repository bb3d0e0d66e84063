"""FHIR R4 terminology services over the snapshot: parameters, resources, operations."""
