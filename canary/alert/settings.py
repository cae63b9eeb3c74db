"""Settings of canary.alert (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = [
    Setting("alert.window_seconds", int, 3600,
            "Events with the same correlation key within this many seconds of an open alert update it "
            "(count, last seen, severity) instead of paging again.",
            minimum=1),
    Setting("alert.incident_window_seconds", int, 3600,
            "Events on a canary already in an unresolved alert seen within this many seconds join that alert, "
            "whatever their channel (a link opened, its DNS name resolved and the record read in the EHR are "
            "one incident, one page). 0 keeps channels apart.",
            minimum=0, maximum=7 * 86400),
    Setting("alert.allow_private_targets", bool, False,
            "Allow notification URLs that resolve to private or loopback addresses (never link-local, "
            "multicast or cloud metadata: list those in alert.allowed_target_cidrs if truly needed).",
            host_only=True),
    Setting("alert.allowed_target_cidrs", list, [],
            "Address ranges notification URLs may resolve to even though private, e.g. 10.20.0.0/16 for the "
            "in-house SIEM.",
            kind="cidr", host_only=True),
    Setting("alert.jsonl_folder", str, "",
            "Folder under which notification targets added from the console or the API may write jsonl:// files "
            "(empty: none; 'canary notify add' on the host may name any path).",
            host_only=True),
    Setting("alert.retry_base_seconds", float, 2.0,
            "First retry delay for a destination that failed; doubles on each failure.",
            minimum=0.01),
    Setting("alert.retry_max_seconds", float, 300.0, "Longest delay between two retries of a destination.",
            minimum=0.01),
    Setting("alert.lease_seconds", float, 60.0,
            "How long a delivery worker holds a claimed message; after a crash another worker takes it "
            "over once this has passed.",
            minimum=1),
    Setting("alert.destination_warning_seconds", float, 900.0,
            "A destination failing for longer than this raises an alert of its own (channel 'notify').",
            minimum=0.1),
    Setting("alert.rate_per_minute", int, 60,
            "Messages per minute per destination (0: no limit). Over the limit messages wait, never drop.",
            minimum=0),
    Setting("alert.delivery_timeout_seconds", float, 10.0, "Timeout of one delivery attempt.",
            minimum=0.1),
    Setting("alert.delivery_threads", int, 4, "Deliveries sent in parallel by one worker.",
            minimum=1, maximum=64),
    Setting("alert.outbox_keep_days", int, 30,
            "Delivered messages are kept this many days (the delivery record), then pruned; "
            "undelivered ones are never pruned.",
            minimum=1),
    Setting("alert.poll_seconds", float, 0.1,
            "How often the correlation and delivery workers look for new events and due messages.",
            minimum=0.01),
]
