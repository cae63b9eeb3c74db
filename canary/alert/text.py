"""The alert text, in French and English, written for an on-call reading it half awake.

Five lines per language: what, where, since when, how sure, what to do first. Built only from the
alert's public view, so every destination (chat, e-mail, SMS, SIEM) says the same thing.
"""

from __future__ import annotations

import re
from typing import Any

from canary.alert.shapes import AlertFields, AlertText, NoticeText
from canary.timezones import DEFAULT_ZONE, Zone, zone_named

PARIS = zone_named(DEFAULT_ZONE)  # on-call teams in France read local time; the JSON keeps UTC

SEVERITY_WORDS = {
    "critical": ("CRITIQUE", "CRITICAL"), "high": ("ÉLEVÉE", "HIGH"), "medium": ("MOYENNE", "MEDIUM"),
    "low": ("FAIBLE", "LOW"), "info": ("INFO", "INFO"),
}

CONFIDENCE = {
    "critical": ("certaine : ces patients fictifs n'existent que dans {systems}",
                 "certain: these fake patients exist only in {systems}"),
    "high": ("élevée : quelqu'un a utilisé une donnée piège de {systems}",
             "high: someone used a trap value from {systems}"),
    "medium": ("moyenne : à confirmer", "medium: to be confirmed"),
    "low": ("faible : probablement un robot (aperçu de lien, scanner)",
            "low: probably a bot (link previewer, scanner)"),
    "info": ("information seulement", "information only"),
}


# C0 and C1 controls, DEL, line and paragraph separators, and the bidirectional overrides that reorder
# what a reader sees: none belongs in an account name, and each could fake a line or a record.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    """``text`` with every control character replaced by a space (a forged line break becomes a space)."""
    return _CONTROLS.sub(" ", text)


def clean_fields(value: Any) -> Any:
    """Every string in ``value`` (nested lists and dicts too) without control characters.

    Account names, sources and hosts come from unauthenticated peers (syslog, HTTP, DNS, mail): they go
    through here before they are written into a title, a text or a SIEM record.
    """
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, list):
        return [clean_fields(v) for v in value]
    if isinstance(value, dict):
        return {k: clean_fields(v) for k, v in value.items()}
    return value


def human_time(value: str | None, zone: Zone = PARIS) -> str:
    return zone.show(value)


def _short(view: AlertFields) -> tuple[str, str]:
    """A few words for the title line (chat notification, SMS, mail subject)."""
    account = ", ".join(view["accounts"]) or "?"
    channel = view["channel"]
    if channel == "leak":
        return "fuite de données", "data leak"
    if channel == "access-log":
        if view["exfiltration"]:
            return f"exfiltration par le compte {account}", f"exfiltration by account {account}"
        return f"lecture par le compte {account}", f"read by account {account}"
    words = {"http": ("lien piège ouvert", "trap link opened"),
             "dns": ("nom DNS piège résolu", "trap DNS name resolved"),
             "smtp": ("courriel piège reçu", "trap mail received"),
             "imap": ("courriel piège reçu", "trap mail received"),
             "phone": ("appel vers un numéro piège", "call to a trap number"),
             "sms": ("SMS vers un numéro piège", "text to a trap number"),
             "notify": ("destination d'alerte en échec", "alert destination failing"),
             "watch": ("surveillance dégradée", "watcher degraded")}
    return words.get(channel, (channel, channel))


def _what(view: AlertFields) -> tuple[str, str]:
    n = len(view["canaries"])
    channel = view["channel"]
    account = ", ".join(view["accounts"]) or "?"
    source = ", ".join(view["sources"][:3]) or "?"
    if channel == "leak":
        return (f"{n} patient(s) fictif(s) trouvé(s) dans une fuite ({source})",
                f"{n} fake patient(s) found in a leak ({source})")
    if channel == "access-log":
        where = ", ".join(view.get("account_systems") or view["systems"]) or "?"
        if view["exfiltration"]:
            return (f"le compte {account} a lu {n} dossiers de patients fictifs en rafale dans {where} "
                    "(exfiltration)",
                    f"account {account} read {n} fake patient records in a burst in {where} (exfiltration)")
        return (f"le compte {account} a ouvert {n} dossier(s) de patient fictif dans {where}",
                f"account {account} opened {n} fake patient record(s) in {where}")
    if channel in ("http", "dns"):
        return (f"lien ou document piège d'un patient fictif ouvert ({channel}, source {source})",
                f"trap link or document of a fake patient opened ({channel}, source {source})")
    if channel in ("smtp", "imap"):
        return (f"courriel reçu à l'adresse d'un patient fictif (expéditeur {source})",
                f"mail received at a fake patient's address (sender {source})")
    if channel in ("phone", "sms"):
        kind_fr = "appel" if channel == "phone" else "SMS"
        kind_en = "call" if channel == "phone" else "text message"
        return (f"{kind_fr} vers le numéro d'un patient fictif (depuis {source})",
                f"{kind_en} to a fake patient's number (from {source})")
    if channel == "notify":
        return (f"une destination d'alerte échoue depuis longtemps ({source})",
                f"an alert destination has been failing for long ({source})")
    if channel == "watch":
        return (f"le registre a refusé des écritures : détections mises en journal ou perdues ({source})",
                f"the registry refused writes: sightings journalled or lost ({source})")
    return (f"événement {channel} sur un patient fictif", f"{channel} event on a fake patient")


def _where(view: AlertFields) -> str:
    parts = []
    for detail in view["by_system"]:
        place = f" ({detail['establishment']})" if detail.get("establishment") else ""
        parts.append(f"{detail['system']}{place} ×{detail['canaries']}")
    return ", ".join(parts) or "?"


def _since(view: AlertFields, zone: Zone) -> tuple[str, str]:
    first = human_time(view["first_seen"], zone)
    fr = f"{first} {zone.label_fr} ({view['count']} événement(s))"
    en = f"{first} {zone.label_en} ({view['count']} event(s))"
    window = view["window"]
    start, end = (human_time(window["from"], zone), human_time(window["to"], zone)) if window else ("", "")
    if window and window["from"] and window["to"]:
        fr += f" ; vol entre le {start} et le {end}"
        en += f"; taken between {start} and {end}"
    elif window and window["from"]:
        fr += f" ; vol après le {start}"
        en += f"; taken after {start}"
    if view.get("seen_again"):
        last = human_time(view["last_seen"], zone)
        fr += f" ; fuite déjà signalée, vue à nouveau {view['seen_again']} fois (dernière le {last})"
        en += f"; same dump seen again {view['seen_again']} time(s) (last {last})"
    return fr, en


def _first_action(view: AlertFields, zone: Zone) -> tuple[str, str]:
    systems = ", ".join(view["systems"]) or "?"
    channel = view["channel"]
    if channel == "access-log" and view["accounts"]:
        account = ", ".join(view["accounts"])
        where = ", ".join(view.get("account_systems") or []) or systems
        fr, en = (f"Désactivez le compte {account} sur {where} et conservez ses journaux d'accès",
                  f"Disable account {account} on {where} and preserve its access logs")
    elif channel == "leak":
        window = view["window"]
        span = ""
        if window and window["from"]:
            end_text = human_time(window["to"], zone) if window["to"] else "…"
            span = f" ({human_time(window['from'], zone)} → {end_text})"
        fr, en = (f"Vérifiez les exports, sauvegardes et extractions en masse de {systems}{span}",
                  f"Check the export jobs, backups and bulk reads of {systems}{span}")
    elif channel == "notify":
        fr, en = ("Vérifiez l'adresse et les identifiants de la destination ; les alertes attendent dans la file",
                  "Check the destination's address and credentials; alerts are queued, not lost")
    elif channel == "watch":
        fr, en = ("Libérez de l'espace disque ou le verrou du registre ; voyez le détail de l'événement "
                  "watch-degraded (journalled / lost)",
                  "Free disk space or the registry's lock; see the watch-degraded event's details "
                  "(journalled / lost)")
    elif channel in ("smtp", "imap", "phone", "sms"):
        fr, en = (f"Cherchez qui a extrait les coordonnées des patients de {systems}",
                  f"Find who extracted patient contact details from {systems}")
    else:
        fr, en = (f"Identifiez la source et qui avait accès aux documents de {systems}",
                  f"Identify the source and who could reach the documents of {systems}")
    if view["severity"] == "low":
        fr = "Vérifiez d'abord si la source est un scanner connu ; sinon : " + fr[0].lower() + fr[1:]
        en = "First check whether the source is a known scanner; if not: " + en[0].lower() + en[1:]
    return fr, en


_ABOUT_ITSELF = ("notify", "watch")  # channels where the product reports on itself


def render(view: AlertFields, zone: Zone = PARIS) -> AlertText:
    """``title`` (one bilingual line) and ``text`` {fr, en}, plus ``confidence`` and ``first_action``.

    Times are written in ``zone`` (setting ``display.timezone``), named in the text."""
    sev_fr, sev_en = SEVERITY_WORDS.get(view["severity"], (view["severity"], view["severity"]))
    what_fr, what_en = _what(view)
    where = _where(view)
    since_fr, since_en = _since(view, zone)
    systems = ", ".join(view["systems"]) or "?"
    conf_fr, conf_en = (c.format(systems=systems) for c in CONFIDENCE.get(view["severity"], ("?", "?")))
    if view["channel"] in _ABOUT_ITSELF:
        # Not a sighting: the product reports a fault of its own (no trap value was used).
        conf_fr, conf_en = ("certaine : le produit signale une panne le concernant",
                            "certain: the product reports a fault of its own")
        where = ", ".join(view["sources"][:3]) or where
    act_fr, act_en = _first_action(view, zone)
    short_fr, short_en = _short(view)
    title = f"[{sev_fr}/{sev_en}] Canary #{view['id']} : {short_fr} / {short_en} — {systems}"
    fr = "\n".join([f"Quoi : {what_fr}", f"Où : {where}", f"Depuis : {since_fr}", f"Certitude : {conf_fr}",
                    f"À faire d'abord : {act_fr}"])
    en = "\n".join([f"What: {what_en}", f"Where: {where}", f"Since: {since_en}", f"How sure: {conf_en}",
                    f"Do first: {act_en}"])
    return {"title": title, "text": {"fr": fr, "en": en}, "confidence": conf_en.split(":")[0],
            "first_action": {"fr": act_fr, "en": act_en}}


NOTICE_WORDS = {
    "acknowledged": (("PRISE EN COMPTE", "ACKNOWLEDGED"), ("prise en compte", "acknowledged")),
    "resolved": (("RÉSOLUE", "RESOLVED"), ("résolue", "resolved")),
}


def render_notice(view: AlertFields, kind: str, by: str | None, at: str | None,
                  zone: Zone = PARIS) -> NoticeText:
    """``title`` and ``text`` {fr, en} of a state-change notice: who, when, the note; plainly not a new page."""
    (tag_fr, tag_en), (done_fr, done_en) = NOTICE_WORDS[kind]
    systems = ", ".join(view["systems"]) or "?"
    short_fr, short_en = _short(view)
    sev_fr, sev_en = SEVERITY_WORDS.get(view["severity"], (view["severity"], view["severity"]))
    when_fr = f" le {human_time(at, zone)} ({zone.label_fr})" if at else ""
    when_en = f" at {human_time(at, zone)} ({zone.label_en})" if at else ""
    who_fr, who_en = (f" par {by}", f" by {by}") if by else ("", "")
    fr = [f"Alerte #{view['id']} {done_fr}{who_fr}{when_fr}.",
          f"Alerte : {short_fr} — {systems} ({sev_fr})."]
    en = [f"Alert #{view['id']} {done_en}{who_en}{when_en}.",
          f"Alert: {short_en} — {systems} ({sev_en})."]
    if view.get("note"):
        fr.append(f"Note : {view['note']}")
        en.append(f"Note: {view['note']}")
    fr.append("Changement d'état seulement, pas une nouvelle alerte.")
    en.append("State change only, not a new page.")
    return {"title": f"[{tag_fr}/{tag_en}] Canary #{view['id']} : {short_fr} / {short_en} — {systems}",
            "text": {"fr": "\n".join(fr), "en": "\n".join(en)}}
