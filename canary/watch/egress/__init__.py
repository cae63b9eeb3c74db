"""Watching the exfiltration channels: uploads through the web proxy (ICAP) and outbound mail (milter)."""
