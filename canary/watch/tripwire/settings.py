"""Settings of canary.watch.tripwire (see canary.settings).

``tripwire.base_url``, ``tripwire.dns_zone`` and ``pool.mail_domains`` are core settings (the seeder
reads them too); everything the listeners need beyond that is declared here.
"""

from urllib.parse import urlsplit

from canary.errors import CanaryError
from canary.settings import Setting

# User-agent fragments of link previewers, mail scanners and proxies that fetch what nobody opened.
DEFAULT_SCANNER_USER_AGENTS = [
    "Slackbot", "Slack-ImgProxy", "Twitterbot", "facebookexternalhit", "LinkedInBot", "WhatsApp",
    "TelegramBot", "Discordbot", "SkypeUriPreview", "MicrosoftPreview", "Microsoft Office Existence",
    "ms-office", "Teams", "BingPreview", "bingbot", "GoogleImageProxy", "Google-Safety", "Googlebot",
    "Google-PageRenderer", "Mimecast", "Barracuda", "Proofpoint", "ZScaler", "Symantec", "Trend Micro",
    "Sophos", "Forcepoint", "Cisco Secure Email", "FireEye", "urlscan", "VirusTotal", "Iframely",
    "Embedly", "redditbot", "Applebot", "Mattermost", "Rocket.Chat", "Signal",
]

# Headless browsers, detonation sandboxes and HTTP libraries: no person is behind them, whatever the path (a
# sandbox "opens" an attachment and fetches its pictures as Office would). Matched in the user agent and in the
# client hints (Sec-CH-UA), case-insensitively.
DEFAULT_AUTOMATED_USER_AGENTS = [
    "HeadlessChrome", "Headless", "PhantomJS", "SlimerJS", "Puppeteer", "Playwright", "Selenium", "WebDriver",
    "Sandbox", "Cuckoo", "Joe Sandbox", "ANY.RUN", "Hybrid-Analysis", "Python-urllib", "python-requests",
    "python-httpx", "aiohttp", "curl/", "Wget/", "Go-http-client", "libwww-perl", "Java/", "okhttp",
    "Apache-HttpClient", "node-fetch", "axios/", "Scrapy",
]

# Networks of well-known mail scanners and fetch proxies (Microsoft Exchange Online Protection,
# Google image proxy and crawlers). Operators extend this with their own gateway's ranges.
DEFAULT_SCANNER_NETWORKS = [
    "40.92.0.0/15", "40.107.0.0/16", "52.100.0.0/14", "104.47.0.0/17",  # Exchange Online Protection
    "66.102.0.0/20", "66.249.64.0/19", "64.233.160.0/19", "72.14.192.0/18",  # Google proxies / crawlers
]

def _no_password_in_urls(entries: list[str]) -> None:
    for entry in entries:
        if urlsplit(entry).password is not None:
            raise CanaryError("tripwire.imap_mailboxes: no password in the URL (it would be stored in the registry); "
                              "put it in tripwire.imap_password_dir or the environment")


SETTINGS: list[Setting] = [
    Setting("tripwire.callback_host", str, "127.0.0.1", "Address the HTTP callback listener binds.",
            kind="host"),
    Setting("tripwire.callback_port", int, 8081, "Port of the HTTP callback listener.",
            kind="port"),
    Setting("tripwire.callback_threads", int, 16,
            "Worker threads of the HTTP callback listener (each waits for its hit to be committed).",
            minimum=1),
    Setting("tripwire.callback_max_connections", int, 1000,
            "Most HTTP callback connections open at once; past it the oldest idle connection of the address "
            "holding the most is closed to make room (nothing in flight is cut), or, if none is idle, the "
            "new one is closed.",
            minimum=1),
    Setting("tripwire.callback_max_connections_per_client", int, 32,
            "Most HTTP callback connections open at once from one address; past it a new one from that "
            "address is closed at once (a browser opens about 6).",
            minimum=1),
    Setting("tripwire.trusted_proxies", list, [],
            "CIDRs of reverse proxies whose X-Forwarded-For is believed (e.g. 10.0.0.5/32); others' is ignored.",
            kind="cidr", host_only=True),
    Setting("tripwire.webhook_secret", str, "",
            "Shared secret of the call/SMS webhooks (HMAC-SHA256 of the body, or the Twilio signature scheme).",
            secret=True),
    Setting("tripwire.scanner_user_agents", list, DEFAULT_SCANNER_USER_AGENTS,
            "User-agent fragments of link previewers and mail scanners: their hits are kept with severity low "
            "(not on the documents' pictures, which only opening a document reaches: Word's agent has ms-office)."),
    Setting("tripwire.automated_user_agents", list, DEFAULT_AUTOMATED_USER_AGENTS,
            "User-agent or client-hint fragments of headless browsers, sandboxes and HTTP libraries: their hits "
            "are kept with severity low on every path, the documents' pictures included."),
    Setting("tripwire.automated_are_noise", bool, True,
            "Grade hits of headless browsers, sandboxes and HTTP libraries (tripwire.automated_user_agents) low; "
            "false grades them as any other hit."),
    Setting("tripwire.scanner_networks", list, DEFAULT_SCANNER_NETWORKS,
            "CIDRs of mail scanners and fetch proxies: hits from there are kept with severity low.",
            kind="cidr"),
    Setting("tripwire.dns_enabled", bool, False, "Start the DNS listener with 'canary serve' (same as --dns)."),
    Setting("tripwire.dns_host", str, "127.0.0.1", "Address the DNS listener binds (UDP and TCP).",
            kind="host"),
    Setting("tripwire.dns_port", int, 5353, "Port of the DNS listener (53 in production).",
            kind="port"),
    Setting("tripwire.dns_a", list, ["127.0.0.1"],
            "IPv4 addresses answered for every name in the zone (the callback listener's public address).",
            kind="ipv4"),
    Setting("tripwire.dns_aaaa", list, [], "IPv6 addresses answered for every name in the zone.",
            kind="ipv6"),
    Setting("tripwire.dns_mx", str, "", "Mail exchanger answered for MX queries (default mx.<zone>).",
            kind="domain"),
    Setting("tripwire.dns_ns", list, [], "Name servers of the zone (default ns1.<zone>, ns2.<zone>).",
            kind="domain"),
    Setting("tripwire.dns_txt", str, "v=spf1 -all", "TXT answer for names in the zone."),
    Setting("tripwire.dns_ttl", int, 300, "TTL of the DNS answers, in seconds.",
            minimum=0),
    Setting("tripwire.dns_echo_hours", int, 24,
            "A repeat query for the same token from the same resolver network within this many hours is "
            "a resolver echo (severity low).",
            minimum=0),
    Setting("tripwire.dns_rate_per_source", int, 20,
            "UDP answers per second to one source address (twice that in a burst); beyond it the answer is an "
            "empty truncated reply (TC), smaller than the query, so the listener cannot amplify a spoofed flood "
            "and a real resolver retries over TCP. The query is still recorded. 0: no limit.",
            minimum=0),
    Setting("tripwire.dns_burst_seconds", int, 10,
            "Queries for the same token within this many seconds of the previous one are one lookup fanned "
            "out by resolvers (severity low).",
            minimum=0),
    Setting("tripwire.smtp_enabled", bool, False, "Start the SMTP receiver with 'canary serve' (same as --smtp)."),
    Setting("tripwire.smtp_host", str, "127.0.0.1", "Address the SMTP receiver binds.",
            kind="host"),
    Setting("tripwire.smtp_port", int, 2525, "Port of the SMTP receiver (25 in production).",
            kind="port"),
    Setting("tripwire.smtp_hostname", str, "", "Name the SMTP receiver greets with (default mx.<first mail domain>).",
            kind="domain"),
    Setting("tripwire.document_signers", list, [],
            "Practitioners who sign the callback documents, e.g. \"Dr Claire LEFEBVRE\" (one per entry; 'Pr' only at a "
            "university hospital). Empty: a few names drawn for each establishment."),
    Setting("tripwire.smtp_max_bytes", int, 1_048_576, "Largest message accepted (and kept), in bytes.",
            minimum=1024),
    Setting("tripwire.smtp_max_recipients", int, 20, "Most recipients accepted in one SMTP transaction.",
            minimum=1),
    Setting("tripwire.smtp_max_connections", int, 512,
            "Most SMTP connections open at once; past it a new one is answered 421 and closed (a flood "
            "of idle connections must not take the descriptors the other listeners need).",
            minimum=1),
    Setting("tripwire.smtp_max_connections_per_client", int, 32,
            "Most SMTP connections open at once from one address; past it that address is answered 421.",
            minimum=1),
    Setting("tripwire.smtp_tls_cert", str, "",
            "Path of the PEM certificate (chain, server certificate first) the SMTP receiver offers with "
            "STARTTLS, e.g. /run/credentials/canary.service/smtp.crt; empty: no STARTTLS. Needs "
            "tripwire.smtp_tls_key."),
    Setting("tripwire.smtp_tls_key", str, "",
            "Path of the PEM private key of tripwire.smtp_tls_cert, unencrypted and readable only by the "
            "service's user (mode 600: a key other users can read is refused)."),
    Setting("tripwire.smtp_require_tls", bool, False,
            "Refuse MAIL (530) until the client has done STARTTLS. Off by default: mail in clear is "
            "still a sighting, and many bulk senders never use TLS."),
    Setting("tripwire.smtp_rate_messages", int, 30,
            "Messages (MAIL commands) one client address (IPv6: one /64) may start per minute; beyond, "
            "451 4.7.1 until the minute has passed. 0: no limit.",
            minimum=0),
    Setting("tripwire.smtp_rate_connections", int, 60,
            "Connections one client address (IPv6: one /64) may open per minute; beyond, 421 4.7.0 and "
            "the connection is closed. 0: no limit.",
            minimum=0),
    Setting("tripwire.smtp_flood_window", int, 3600,
            "Longest flood window, in seconds: a client over its limits is recorded once per window (one "
            "event, severity low, action flood) however many attempts it makes.",
            minimum=1),
    Setting("tripwire.smtp_rate_exempt", list, [],
            "Addresses or CIDRs never rate limited (e.g. your own relay in front of the receiver).",
            kind="cidr"),
    Setting("tripwire.smtp_forward_addresses", list, [],
            "Addresses on pool.mail_domains that consumer canary mailboxes forward to: mail to them is matched "
            "on its recipient headers (To, Delivered-To...) and always kept (providers confirm a forward by mail).",
            kind="email"),
    Setting("tripwire.messages_keep", int, 5000, "Messages kept for analysis; the oldest are deleted beyond this.",
            minimum=1),
    Setting("tripwire.imap_host", str, "", "IMAP server of mailboxes hosted elsewhere (empty: no polling).",
            kind="host"),
    Setting("tripwire.imap_port", int, 993, "IMAP port.",
            kind="port"),
    Setting("tripwire.imap_ssl", bool, True, "Use IMAP over TLS (port 993); false for plain IMAP (tests)."),
    Setting("tripwire.imap_user", str, "", "IMAP login."),
    Setting("tripwire.imap_password_env", str, "CANARY_IMAP_PASSWORD",
            "Name of the environment variable holding the IMAP password (never stored in the registry)."),
    Setting("tripwire.imap_folder", str, "INBOX", "IMAP folder polled."),
    Setting("tripwire.imap_interval", int, 300, "Seconds between IMAP polls.",
            minimum=1),
    Setting("tripwire.imap_mailboxes", list, [],
            "More mailboxes to poll, e.g. the consumer mailboxes opened for canaries: "
            "imaps://LOGIN@HOST[:PORT][/FOLDER] each (imap:// for plain IMAP), no password in the URL.",
            extra_check=_no_password_in_urls),
    Setting("tripwire.probe_smtp_host", str, "",
            "Outgoing relay through which 'canary contacts confirm' sends each consumer mailbox a probe mail "
            "before a canary carries it (empty: confirm refuses).",
            kind="host"),
    Setting("tripwire.probe_smtp_port", int, 587, "Port of the probe relay.",
            kind="port"),
    Setting("tripwire.probe_smtp_starttls", bool, True, "STARTTLS with the probe relay (false for a local relay)."),
    Setting("tripwire.probe_smtp_user", str, "", "Login at the probe relay (empty: no authentication)."),
    Setting("tripwire.probe_smtp_password_env", str, "CANARY_PROBE_SMTP_PASSWORD",
            "Name of the environment variable holding the probe relay's password (never stored in the registry)."),
    Setting("tripwire.probe_from", str, "",
            "Sender of the probe mails, an address of yours (e.g. accueil@<one of pool.mail_domains>).",
            kind="email"),
    Setting("tripwire.probe_wait", int, 300,
            "Seconds 'canary contacts confirm' waits for the probes to come back (IMAP or SMTP forward).",
            minimum=1),
    Setting("tripwire.imap_password_dir", str, "",
            "Folder of password files for tripwire.imap_mailboxes, one per login named after it (mode 0600); "
            "without a file, the environment variable CANARY_IMAP_PASSWORD_<LOGIN> (non-alphanumerics as _)."),
]
