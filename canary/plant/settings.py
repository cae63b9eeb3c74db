"""Settings of canary.plant (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = [
    Setting("plant.timeout", float, 30.0,
            "Seconds to wait for a peer when planting: MLLP connection and acknowledgement, FHIR answer."),
    Setting("plant.fhir.retries", int, 4,
            "Retries of a FHIR request answered 5xx or 429 (or refused), with exponential backoff."),
    Setting("plant.fhir.backoff", float, 1.0,
            "First FHIR retry delay in seconds, doubled at each retry (a Retry-After header wins)."),
    Setting("plant.hl7.sending_application", str, "GAM",
            "MSH-3 of the ADT messages: the application name the receiver expects from the admission system."),
    Setting("plant.hl7.sending_facility", str, "",
            "MSH-4 of the ADT messages; empty = the system's FINESS, else its establishment name."),
]
