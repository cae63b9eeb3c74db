"""The console and its REST API (``create_app``), built only when asked for.

The registry applies this package's migrations (``canary.web.schema``) for every command, so importing
the package must stay cheap: Flask is loaded by ``canary.web.app`` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    from canary.web.app import create_app as build

    return build(config)


__all__ = ["create_app"]
