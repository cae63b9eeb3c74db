"""Settings of canary.watch.accesslog (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = [
    Setting("accesslog.burst_canaries", int, 3,
            "Distinct canaries read by one account within accesslog.burst_window that mean an "
            "exfiltration in progress (severity critical).",
            minimum=1),
    Setting("accesslog.burst_window", str, "10m",
            "Sliding window for accesslog.burst_canaries, e.g. 10m, 1h, 600 (seconds).",
            kind="duration"),
    Setting("accesslog.export_actions", list,
            ["export", "extract", "extraction", "bulk", "dump", "download", "print_list", "impression_liste"],
            "Words that mark an action as a bulk export: any canary read inside one is an exfiltration."),
    Setting("accesslog.timezone", str, "Europe/Paris",
            "Time zone of log timestamps that carry no offset (IANA name).",
            kind="timezone"),
    Setting("accesslog.fhir_bearer_token", str, "",
            "Bearer token sent to the FHIR servers polled for AuditEvents (empty: no Authorization header).",
            secret=True),
    Setting("accesslog.sql_gap_seconds", float, 30.0,
            "Database sources: how long a key missing between two rows read (its EHR transaction not yet "
            "committed) is looked for again before it is taken as never written (a rollback)."),
    Setting("accesslog.poll_interval", float, 0.2,
            "Seconds between two looks at a tailed file (bounds the write-to-event delay).",
            minimum=0.01),
    Setting("accesslog.rotation_grace", float, 30.0,
            "Seconds a tailed file renamed away (logrotate create) is still followed while its writer keeps "
            "it open, before the new file is read; the renamed file is left earlier once no process holds it.",
            minimum=0.0),
]
