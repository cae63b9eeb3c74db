"""Settings of canary.web (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = [
    Setting("web.upload_max_mb", int, 100,
            "Largest file the console accepts for a one-off scan (MiB); bigger uploads are refused with 413. "
            "The file is scanned in a worker and deleted afterwards, never kept. The console and the API may set "
            "it up to 1024; more only with 'canary config set' on the host.",
            minimum=1, console_maximum=1024),
    Setting("web.trusted_proxies", list, [],
            "CIDRs of the reverse proxies in front of the console (e.g. 127.0.0.1/32 for nginx on the host): "
            "their X-Forwarded-For and X-Forwarded-Proto name the client and TLS (login throttling, Secure "
            "cookie); from any other address those headers are ignored.",
            kind="cidr", host_only=True),
    Setting("web.inbox_refresh_seconds", int, 15,
            "How often the console's triage inbox reads its rows again, in place, keeping the ticked alerts "
            "ticked (seconds).",
            minimum=2, maximum=3600),
]
