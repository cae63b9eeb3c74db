"""Running canary for years: backup and restore, health and metrics, retention, ``canary doctor``."""
