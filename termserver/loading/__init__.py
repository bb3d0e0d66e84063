"""Readers: FHIR CodeSystem JSON and the project's SKOS Turtle, into the domain records."""
