"""The Flask app, built by the factory: ``flask --app app run`` or ``canary serve``."""

from canary.web import create_app

__all__ = ["create_app"]
