"""Alerts: correlating events into pages for on-call and delivering them."""
