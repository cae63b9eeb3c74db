"""Any other URL: an apprise service (Slack, Teams, PagerDuty, Opsgenie, mailto, SMS gateways...).

apprise makes its own connections and resolves names again: only vetted schemes, whose connections are
known, are accepted (docs/alert.md, SSRF). apprise is imported where it is used: loading every plugin is
slow and only delivery needs it.
"""

from __future__ import annotations

from typing import Any

from canary.alert.kinds.base import (
    SSRF_SETTINGS,
    Delivery,
    DeliveryError,
    DestinationKind,
    NetworkTarget,
    no_remote_check,
    no_url_check,
    plain_redact,
)
from canary.errors import CanaryError

# apprise services that open an incident per message: a state-change notice would page again
INCIDENT_SCHEMES = {"pagerduty", "opsgenie", "pagertree", "splunk", "victorops"}
# apprise services whose connections are known: a fixed vendor endpoint, or a host (and port) the URL
# names, read from the plugin's host and SMTP fields. Any other plugin may carry its endpoint in a field
# of its own (nostr's ?relay=ws://..., a ?server=...): refused rather than guessed, since a field that
# holds a URL is not always one the plugin connects to (xml's xsd_url is a name, never fetched).
VETTED_APPRISE_SCHEMES = frozenset({
    "slack", "workflows", "msteams", "pagerduty", "opsgenie", "pagertree", "splunk", "victorops", "discord",
    "tgram", "pover", "mailto", "mailtos", "ntfy", "ntfys", "gotify", "gotifys", "matrix", "matrixs", "form",
    "forms", "xml", "xmls", "apprise", "apprises", "mmost", "mmosts", "rocket", "rockets"})
# Services that carry custom headers (+Name=value in the URL): the idempotency key goes there too.
HEADER_SCHEMES = ("mailto", "mailtos", "form", "forms", "xml", "xmls")


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower()


def apprise_plugin(url: str) -> Any:
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise CanaryError(f"unsupported or malformed notification URL {plain_redact(url)!r} "
                          "(see the apprise URL list)")
    return plugin


def network_targets(url: str) -> list[NetworkTarget]:
    """The SMTP host, or the host the URL names; none for a fixed vendor endpoint."""
    scheme = _scheme(url)
    plugin = apprise_plugin(url)
    if scheme not in VETTED_APPRISE_SCHEMES:
        raise CanaryError(f"apprise scheme {scheme}:// is not one canary vets (where it connects may hide in "
                          f"any field of its URL); use one of {', '.join(sorted(VETTED_APPRISE_SCHEMES))}, "
                          "or a jsons:// or hmacs:// webhook")
    targets: list[NetworkTarget] = []
    smtp_host = getattr(plugin, "smtp_host", None)
    if smtp_host:
        targets.append((str(smtp_host), getattr(plugin, "port", None)))
    elif "host" in getattr(plugin, "template_tokens", {}) and getattr(plugin, "host", None):
        targets.append((str(plugin.host), getattr(plugin, "port", None)))
    return targets


def redact(url: str) -> str:
    """apprise's own privacy view of its URL (it knows which fields are tokens), else the plain one."""
    try:
        return str(apprise_plugin(url).url(privacy=True))
    except CanaryError:
        return plain_redact(url)


def takes_notices(url: str) -> bool:
    return _scheme(url) not in INCIDENT_SCHEMES


def plain_text(payload: dict[str, Any]) -> str:
    text = payload.get("text") or {}
    return f"{text.get('fr', '')}\n\n{text.get('en', '')}\n\nref: {payload['idempotency_key']}"


def _with_key(url: str, key: str) -> str:
    if _scheme(url) not in HEADER_SCHEMES:
        return url
    return url + ("&" if "?" in url else "?") + f"+Idempotency-Key={key}"


def send(delivery: Delivery) -> None:
    import apprise

    payload = delivery.payload
    # Redirects are never followed (the next hop was never checked against the SSRF policy): off for the
    # whole asset, and again on each plugin, whatever a "redirect=yes" in the URL asked for.
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(http_redirects=False))
    if not notifier.add(_with_key(delivery.url, payload["idempotency_key"])):
        raise DeliveryError("apprise refused the URL")
    for plugin in notifier:
        plugin.redirects = False
    notice = payload.get("notice")
    if notice:  # a state change: never the alarm colour of the page it follows
        notify_type = apprise.NotifyType.SUCCESS if notice["to"] == "resolved" else apprise.NotifyType.INFO
    else:
        notify_type = {"critical": apprise.NotifyType.FAILURE, "high": apprise.NotifyType.FAILURE,
                       "medium": apprise.NotifyType.WARNING}.get(payload["severity"], apprise.NotifyType.INFO)
    problems: list[str] = []

    def keep_warnings(entry: Any, _plugin: Any) -> None:
        if entry.level in ("WARNING", "ERROR", "CRITICAL"):
            problems.append(str(entry.message))

    ok = notifier.notify(body=plain_text(payload), title=payload.get("title", ""), notify_type=notify_type,
                         log_callback=keep_warnings)
    if not ok:
        raise DeliveryError(problems[-1][:300] if problems else "apprise: delivery failed")


KIND = DestinationKind(
    name="apprise", schemes=(), example="slack://TokenA/TokenB/TokenC/#soc",
    check_url=no_url_check, network_targets=network_targets, redact=redact, send=send,
    takes_notices=takes_notices, check_remote_add=no_remote_check, settings=SSRF_SETTINGS)
