"""Settings of canary.ops (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = [
    Setting("backup.key_file", str, "",
            "Key file (owner-only) that seals backups; empty = the passphrase in CANARY_BACKUP_PASSPHRASE. "
            "`canary backup/restore --key-file` wins over both."),
    Setting("retention.events_days", int, 0,
            "Events older than this many days are pruned by serve's daily job (0: kept forever). "
            "The first event of an alert that is not resolved is never pruned."),
    Setting("retention.evidence_days", int, 0,
            "Kept mail and leak-sweep findings older than this many days are pruned daily (0: kept forever); "
            "the evidence of the first event of an alert that is not resolved is never pruned. "
            "Delivered outbox rows follow alert.outbox_keep_days."),
    Setting("retention.hour", int, 3, "UTC hour at which serve's daily prune job runs (0-23).", kind="hour"),
    Setting("doctor.resolver", str, "",
            "DNS resolver `canary doctor` asks, as host or host:port; empty = the system resolver."),
    Setting("doctor.host_addresses", list, [],
            "Public addresses of this host, which the DNS zone's NS and the mail domains' MX must reach "
            "(behind NAT, the public one); empty = what the host's own name resolves to."),
    Setting("doctor.timeout", float, 5.0, "Seconds `canary doctor` waits for each DNS or HTTP answer."),
]
