"""Operator hints of `notify add`: an http(s):// URL points at json:// / jsons://."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("url", "suggested"), [("http://siem.example.fr/hook", "json://siem.example.fr/hook"),
                                                 ("https://siem.example.fr/hook", "jsons://siem.example.fr/hook")])
def test_http_url_suggests_json(cli, url, suggested):
    result = cli("notify", "add", url)
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert suggested in line and "hmac" in line
    assert "aucune destination" in cli("notify", "list").output  # nothing stored
