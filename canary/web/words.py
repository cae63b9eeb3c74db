"""Console words of the triage pages (labels, canary memos, translated states and kinds), French first.

Kept apart from the core table in ``i18n.py``, which merges them in.
"""

from __future__ import annotations

WORDS: dict[str, dict[str, str]] = {
    "destination_url": {"fr": "Adresse de la destination", "en": "Destination URL"},
    "min_severity": {"fr": "Gravité minimale", "en": "Minimum severity"},
    "days_valid": {"fr": "Validité (jours)", "en": "Valid for (days)"},
    "finess": {"fr": "FINESS", "en": "FINESS"},
    "schedule": {"fr": "Fréquence", "en": "Schedule"},
    "memo": {"fr": "Mémo", "en": "Memo"},
    "memo_saved": {"fr": "Mémo enregistré.", "en": "Memo saved."},
    "save_memo": {"fr": "Enregistrer le mémo", "en": "Save memo"},
    "last_triggered": {"fr": "Dernier déclenchement", "en": "Last triggered"},
    "never": {"fr": "jamais", "en": "never"},
    "open_alerts": {"fr": "Alertes en cours", "en": "Open alerts"},
    "no_open_alert": {"fr": "Aucune alerte en cours sur ce système.", "en": "No open alert on this system."},
    "watch_sources": {"fr": "Sources surveillées", "en": "Watch sources"},
    "no_source_for_system": {"fr": "Aucun journal d'accès n'est lu pour ce système (canary logs add).",
                             "en": "No access log is read for this system (canary logs add)."},
    "last_line": {"fr": "Dernière ligne", "en": "Last line"},
    "all_watch": {"fr": "Toute la surveillance", "en": "All watching"},
    "retire_plantings_zone": {"fr": "Retirer une implantation… (action destructive)",
                              "en": "Retire a planting… (destructive)"},
    "retire_systems_zone": {"fr": "Retirer toutes les implantations d'un système… (action destructive)",
                            "en": "Retire all plantings of a system… (destructive)"},
    "search_settings": {"fr": "Chercher un réglage", "en": "Search settings"},
    "settings_shown": {"fr": "{shown} sur {total} réglages", "en": "{shown} of {total} settings"},
    "show_all": {"fr": "tout afficher", "en": "show all"},
    "back_to_top": {"fr": "haut de page", "en": "back to top"},
    "no_setting_matches": {"fr": "Aucun réglage ne correspond.", "en": "No setting matches."},
    "messages_waiting": {"fr": "message(s) en attente", "en": "message(s) waiting"},
    # delivery rows of an alert: what was sent, and where it stands
    "message_page": {"fr": "alerte", "en": "page"},
    "message_acknowledged": {"fr": "avis : prise en compte", "en": "notice: acknowledged"},
    "message_resolved": {"fr": "avis : résolue", "en": "notice: resolved"},
    "message_updated": {"fr": "avis : nouveaux éléments", "en": "notice: new evidence"},
    "delivery_pending": {"fr": "en attente", "en": "pending"},
    "delivery_delivered": {"fr": "remise", "en": "delivered"},
    # system kinds (canary.store.registry.SYSTEM_KINDS)
    "kind_ehr": {"fr": "DPI (dossier patient)", "en": "EHR"},
    "kind_lab": {"fr": "laboratoire (SIL)", "en": "laboratory (LIS)"},
    "kind_imaging": {"fr": "imagerie (PACS/RIS)", "en": "imaging (PACS/RIS)"},
    "kind_billing": {"fr": "facturation", "en": "billing"},
    "kind_backup": {"fr": "sauvegarde", "en": "backup"},
    "kind_warehouse": {"fr": "entrepôt de données", "en": "data warehouse"},
    "kind_partner": {"fr": "partenaire", "en": "partner"},
    "kind_pharmacy": {"fr": "pharmacie", "en": "pharmacy"},
    "kind_other": {"fr": "autre", "en": "other"},
}
