"""Editing settings from the console: `canary config set`'s checks, nothing written on a bad value,
read-only values from the environment and secrets, an audit entry per change."""

from __future__ import annotations

import html
import re

from canary.settings import get_setting, set_setting
from tests.support.accounts import audited_changes

FORM = {"csrf": "test-form-token"}


def _row(page: str, name: str) -> str:
    match = re.search(rf'<tr id="setting-{re.escape(name)}">(.*?)</tr>', page, re.S)
    assert match, name
    return match.group(1)


def _stored(db, name: str):
    row = db.execute("SELECT value FROM settings WHERE key = ?", [name]).fetchone()
    return row[0] if row else None


def test_an_admin_sets_and_resets_a_setting_from_the_form(db, sign_in):
    admin = sign_in("admin")
    done = admin.post("/settings/alert.window_seconds?lang=en", data=FORM | {"value": "900", "action": "save"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/settings")
    page = admin.get("/settings?lang=en").get_data(as_text=True)
    assert "Setting alert.window_seconds saved." in page
    row = _row(page, "alert.window_seconds")
    assert "<td>900</td><td>registry</td>" in row and 'value="900"' in row and 'value="reset"' in row
    assert get_setting(db, "alert.window_seconds") == 900
    reset = admin.post("/settings/alert.window_seconds?lang=fr", data=FORM | {"action": "reset"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Réglage alert.window_seconds remis à sa valeur par défaut." in reset
    assert _stored(db, "alert.window_seconds") is None and 'value="reset"' not in _row(reset, "alert.window_seconds")
    audit = [(e["action"], e["who"], e["via"], e["target"], e["details"]) for e in audited_changes(db)][::-1]
    assert audit == [("setting.set", "rssi", "console", "setting:alert.window_seconds", {"value": 900}),
                     ("setting.unset", "rssi", "console", "setting:alert.window_seconds", {})]


def test_lists_are_edited_one_value_per_line(db, sign_in):
    admin = sign_in("admin")
    lines = "mail.example.fr\nsoins.example.fr\n"
    page = admin.post("/settings/pool.mail_domains?lang=en", data=FORM | {"value": lines},
                      follow_redirects=True).get_data(as_text=True)
    assert "Setting pool.mail_domains saved." in page
    assert get_setting(db, "pool.mail_domains") == ["mail.example.fr", "soins.example.fr"]
    assert "mail.example.fr\nsoins.example.fr</textarea>" in _row(page, "pool.mail_domains")


def test_a_bad_value_shows_the_cli_message_and_writes_nothing(db, sign_in, cli):
    set_setting(db, "alert.window_seconds", "600")
    admin = sign_in("admin")
    for name, value in (("alert.window_seconds", "ten minutes"), ("alert.window_seconds", "-5"),
                        ("tripwire.scanner_networks", "not-a-cidr"), ("no.such.setting", "1")):
        page = admin.post(f"/settings/{name}?lang=en", data=FORM | {"value": value},
                          follow_redirects=True).get_data(as_text=True)
        result = cli("config", "set", "--", name, value)
        assert result.exit_code == 1
        message = result.output.strip().removeprefix("error: ")
        assert html.escape(message) in page.replace("&#39;", "&#x27;"), (name, value, message)
    assert get_setting(db, "alert.window_seconds") == 600 and _stored(db, "tripwire.scanner_networks") is None
    assert not [e for e in audited_changes(db) if e["action"].startswith("setting.")]


def test_environment_values_and_secrets_are_read_only_with_why(db, sign_in, monkeypatch):
    monkeypatch.setenv("CANARY_ALERT_RATE_PER_MINUTE", "30")
    admin = sign_in("admin")
    page = admin.get("/settings?lang=en").get_data(as_text=True)
    env_row = _row(page, "alert.rate_per_minute")
    assert "environment" in env_row and "<form" not in env_row
    assert "set by the process&#39;s environment variable CANARY_ALERT_RATE_PER_MINUTE" in env_row
    secret_row = _row(page, "web.secret_key")
    assert "<form" not in secret_row and "generated secret" in secret_row and "(set)" in secret_row
    secret = get_setting(db, "web.secret_key")
    assert secret not in page
    refused = admin.post("/settings/alert.rate_per_minute?lang=en", data=FORM | {"value": "5"},
                         follow_redirects=True).get_data(as_text=True)
    assert "comes from the environment (CANARY_ALERT_RATE_PER_MINUTE)" in refused
    assert _stored(db, "alert.rate_per_minute") is None
    admin.post("/settings/web.secret_key", data=FORM | {"value": "guessable"})
    assert get_setting(db, "web.secret_key") == secret
    french = admin.get("/settings?lang=fr").get_data(as_text=True)
    assert "fixé par la variable d&#39;environnement CANARY_ALERT_RATE_PER_MINUTE" in french


def test_a_setting_the_environment_sets_is_refused_the_same_way_by_config_set_and_the_form(db, sign_in, cli,
                                                                                           monkeypatch):
    """One check path: the environment wins over the registry, so neither door stores a value that would
    show as saved and change nothing (set or reset)."""
    monkeypatch.setenv("CANARY_ALERT_RATE_PER_MINUTE", "30")
    expected = ("alert.rate_per_minute comes from the environment (CANARY_ALERT_RATE_PER_MINUTE), which wins over "
                "the registry: change it there, then restart what reads it")
    for args in (("config", "set", "alert.rate_per_minute", "5"), ("config", "unset", "alert.rate_per_minute")):
        refused = cli(*args)
        assert refused.exit_code == 1 and refused.output.strip() == f"error: {expected}", refused.output
    page = sign_in("admin").post("/settings/alert.rate_per_minute?lang=en", data=FORM | {"value": "5"},
                                 follow_redirects=True).get_data(as_text=True)
    assert html.escape(expected) in page.replace("&#39;", "&#x27;")
    assert _stored(db, "alert.rate_per_minute") is None
    assert not [e for e in audited_changes(db) if e["action"].startswith("setting.")]
    monkeypatch.delenv("CANARY_ALERT_RATE_PER_MINUTE")
    assert cli("config", "set", "alert.rate_per_minute", "5").exit_code == 0  # without it, stored as before
    assert _stored(db, "alert.rate_per_minute") == "5"


def test_only_admins_change_settings_and_only_with_the_form_token(db, sign_in):
    assert sign_in("analyst").post("/settings/alert.window_seconds", data=FORM | {"value": "900"}).status_code == 403
    assert sign_in("admin").post("/settings/alert.window_seconds", data={"value": "900"}).status_code == 400
    assert _stored(db, "alert.window_seconds") is None


def test_peer_controlled_values_in_settings_stay_text(db, sign_in):
    payload = '"><script>document.title="pwned"</script>'
    db.execute("INSERT INTO settings (key, value, updated_at) VALUES ('pool.mail_domains', ?, 'x')",
               ['["' + payload.replace('"', '\\"') + '"]'])
    page = sign_in("admin").get("/settings").get_data(as_text=True)
    assert "<script>document.title" not in page and "&lt;script&gt;" in page


def test_settings_are_grouped_by_domain_and_searchable_with_readable_lists(app, db_path, sign_in):
    from canary.settings import all_settings, set_setting
    from canary.store import open_db

    db = open_db(db_path)
    set_setting(db, "pool.mail_domains", "messagerie-famille.fr\nboite-perso.fr")
    db.close()
    admin = sign_in("admin")
    page = admin.get("/settings?lang=en").get_data(as_text=True)
    domains = sorted({name.split(".")[0] for name in all_settings()})
    # one section per domain, in order, each listing its own settings; a table of contents links them
    starts = [page.index(f'<section class="settings-group" id="group-{d}">') for d in domains]
    assert starts == sorted(starts)
    for domain in domains:
        assert f'href="#group-{domain}"' in page
    pool = page[page.index('id="group-pool"'):page.index("</section>", page.index('id="group-pool"'))]
    assert 'id="setting-pool.mail_domains"' in pool and 'id="setting-alert.window_seconds"' not in pool
    # a list value reads as items, not as a JSON column one character wide
    value_cell = re.search(r'<tr id="setting-pool.mail_domains">.*?</label></td><td>(.*?)</td>', page, re.S).group(1)
    assert "<li>messagerie-famille.fr</li><li>boite-perso.fr</li>" in value_cell and "[" not in value_cell
    # searched by name, words of the help text or domain, without a script (the CSP allows none)
    found = admin.get("/settings?lang=en&q=window").get_data(as_text=True)
    assert 'id="setting-alert.window_seconds"' in found and 'id="setting-pool.mail_domains"' not in found
    assert '<input type="search" name="q" value="window"' in found
    shown, total = map(int, re.search(r"(\d+) of (\d+) settings", found).groups())
    assert 1 <= shown < total == len(all_settings())
    none = admin.get("/settings?lang=en&q=zzzz-nothing").get_data(as_text=True)
    assert "No setting matches" in none
