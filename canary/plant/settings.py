"""Settings of canary.plant (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = [
    Setting("plant.timeout", float, 30.0,
            "Seconds to wait for a peer when planting: MLLP connection and acknowledgement, FHIR answer.",
            minimum=0.1),
    Setting("plant.fhir.retries", int, 4,
            "Retries of a FHIR request answered 5xx or 429 (or refused), with exponential backoff.",
            minimum=0, maximum=20),
    Setting("plant.fhir.backoff", float, 1.0,
            "First FHIR retry delay in seconds, doubled at each retry (a Retry-After header wins).",
            minimum=0),
    Setting("plant.file_mode", str, "0640",
            "Mode (octal) of a file:// target the planter creates; an existing target keeps its own mode, "
            "group and owner so the import job still reads it.",
            kind="file_mode"),
    Setting("plant.hl7.sending_application", str, "GAM",
            "MSH-3 of the ADT messages: the application name the receiver expects from the admission system."),
    Setting("plant.hl7.sending_facility", str, "",
            "MSH-4 of the ADT messages; empty = the system's FINESS, else its establishment name."),
    Setting("plant.hl7.ipp_namespace", str, "",
            "CX-4.1 of the IPP (PID-3, MRG-1): the short code real feeds use (e.g. CHUX); a target's "
            "?ipp_namespace= wins; empty = the sending application."),
    Setting("plant.mllp.retire", str, "a31-inactive",
            "How MLLP plantings are retired when the target does not say (?retire=): a31-inactive (ADT^A31 "
            "with the identity marked deactivated) or a40-merge (ADT^A40 of each into a distinct canary "
            "staying at the target)."),
    Setting("plant.fhir.retire", str, "delete",
            "How FHIR plantings are retired when the target does not say (?retire=): delete (every resource, "
            "then read back) or inactive (Patient updated to active=false, then read back)."),
    Setting("plant.mllp.tls_ca_file", str, "",
            "MLLP over TLS (mllps://): PEM bundle of the CAs trusted to sign the receivers' certificates; empty = "
            "the system trust store. A target's ?tls_ca= wins."),
    Setting("plant.mllp.tls_cert_file", str, "",
            "MLLP over TLS: PEM client certificate for receivers that require mutual TLS (may hold the key too). "
            "A target's ?tls_cert= / ?tls_key= win."),
    Setting("plant.mllp.tls_key_file", str, "",
            "MLLP over TLS: PEM private key of plant.mllp.tls_cert_file (a path; the key is never stored)."),
    Setting("plant.mllp.tls_key_password_env", str, "",
            "MLLP over TLS: name of the environment variable holding the client key's passphrase, when the key "
            "is encrypted (only the name is stored)."),
    Setting("plant.trickle.min_spacing", float, 60.0,
            "Trickle planting (plant --over): fewest seconds between two canaries' arrivals at one target; a "
            "--over too short to keep it is refused.", minimum=2),
    Setting("plant.trickle.check_seconds", int, 60,
            "Trickle planting: how often 'canary serve' looks for due arrivals (it also wakes at the next one).",
            minimum=1, maximum=3600),
    Setting("plant.send_spacing", float, 2.0,
            "Mean seconds between two canaries sent in one MLLP or FHIR run (drawn between half and one and a "
            "half times it, never two in one second); 0 sends at once (tests, benchmarks).", minimum=0),
    Setting("plant.hl7.control_id", str, "counter",
            "Shape of MSH-10: counter (a number incremented per target, as many French integration engines "
            "write it), timestamp (local YYYYMMDDHHMMSS and a 4-digit sequence) or library (the hl7 "
            "package's own id).", choices=("counter", "timestamp", "library")),
    Setting("plant.fhir.user_agent", str, "HAPI-FHIR/6.10.5 (FHIR Client; FHIR 4.0.1/R4; apache)",
            "User-Agent of the FHIR requests: the client the site's integration engine uses (never the "
            "library default)."),
    Setting("plant.fhir.document_age_days", float, 60.0,
            "DocumentReference.date of a planted canary: a working-hours time up to this many days before "
            "it is planted (each canary its own).", minimum=0.1),
]
