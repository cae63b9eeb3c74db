"""403 and 404 are pages of the console, in its language; API paths keep their JSON answers."""

from __future__ import annotations


def test_403_and_404_are_styled_pages_in_both_languages(sign_in):
    viewer = sign_in("viewer")
    forbidden = viewer.get("/settings?lang=fr")
    page = forbidden.get_data(as_text=True)
    assert forbidden.status_code == 403 and "403 — Accès refusé" in page and "<header>" in page
    assert "Retour à l&#39;accueil" in page and "nonce-" in forbidden.headers["Content-Security-Policy"]
    missing = viewer.get("/no/such/page?lang=en")
    assert missing.status_code == 404 and "404 — Page not found" in missing.get_data(as_text=True)
    assert "Sign out (vera)" in missing.get_data(as_text=True)  # the console around it, signed in
    unknown_alert = viewer.get("/alerts/99999?lang=fr")
    assert unknown_alert.status_code == 404 and "Page introuvable" in unknown_alert.get_data(as_text=True)


def test_api_paths_keep_json_errors(api):
    client, headers = api
    unrouted = client.get("/api/v1/no-such-thing", headers=headers["viewer"])
    assert unrouted.status_code == 404 and unrouted.is_json and unrouted.get_json()["error"]
    refused = client.get("/api/v1/settings", headers=headers["viewer"])
    assert refused.status_code == 403 and refused.is_json
