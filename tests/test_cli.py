"""The CLI contract of the foundation issue: names, options, errors."""

import json


def test_system_add_and_list(cli):
    result = cli("system", "add", "ehr-mediboard", "--kind", "ehr", "--establishment", "Clinique des Lilas",
                 "--finess", "690000000")
    assert result.exit_code == 0, result.output
    assert cli("system", "add", "lab-sil", "--kind", "lab").exit_code == 0
    listed = json.loads(cli("system", "list", "--json").output)
    assert [s["name"] for s in listed] == ["ehr-mediboard", "lab-sil"]
    assert listed[0]["establishment"] == "Clinique des Lilas" and listed[0]["canaries"] == 0


def test_errors_are_one_line_and_non_zero(cli):
    result = cli("seed", "nowhere", "--count", "3")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: unknown system 'nowhere'; see 'canary system list'"]
    assert cli("show", "zzzz").exit_code == 1
    assert cli("system", "add", "x", "--kind", "mainframe").exit_code == 2


def test_config_roundtrip(cli):
    assert cli("config", "set", "pool.mail_domains", "mutuelle-contact.fr, messagerie-sante.fr").exit_code == 0
    assert json.loads(cli("config", "get", "pool.mail_domains").output) == ["mutuelle-contact.fr",
                                                                             "messagerie-sante.fr"]
    assert cli("config", "set", "no.such", "1").exit_code == 1
