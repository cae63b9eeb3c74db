"""Planting canaries into the systems they guard (HL7 v2 MLLP, FHIR, file imports)."""
