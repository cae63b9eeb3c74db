"""Settings of canary.watch.egress (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = [
    Setting("egress.block", bool, False,
            "Refuse what carries a canary: the proxy shows a 403 page instead of sending the upload, the mail "
            "gateway rejects (or quarantines, see egress.mail_block_action) the mail. Off: monitor only."),
    Setting("egress.icap_host", str, "127.0.0.1", "Address the ICAP service listens on (canary serve --icap)."),
    Setting("egress.icap_port", int, 1344, "Port of the ICAP service (1344 is the ICAP port).", kind="port"),
    Setting("egress.milter_host", str, "127.0.0.1", "Address the milter listens on (canary serve --milter)."),
    Setting("egress.milter_port", int, 8894, "Port of the milter (Postfix: smtpd_milters = inet:host:port).",
            kind="port"),
    Setting("egress.mail_block_action", str, "reject",
            "With egress.block: 'reject' (the sender gets a 5xx) or 'quarantine' (Postfix holds the mail)."),
    Setting("egress.max_body_bytes", int, 64 * 1024**2,
            "Largest body (upload, response or mail) that is held and matched; a larger one is passed through "
            "untouched and counted. The sweep limits (sweep.max_*) apply inside it."),
    Setting("egress.deadline", float, 10.0,
            "Seconds a body may be matched before the traffic is let through anyway (counted as a timeout; "
            "the match goes on and still records what it finds). Keep it below the proxy's and MTA's timeouts."),
    Setting("egress.fail_closed", bool, True,
            "With egress.block: a body whose match the deadline cannot finish (an archive of 100,000 members, a "
            "decoding bomb) is refused and counted as timeout_blocked; off: let through and counted as timeout."),
    Setting("egress.io_timeout", float, 30.0,
            "Seconds of silence from the proxy or MTA, in the middle of a request, before it is answered and closed."),
]
