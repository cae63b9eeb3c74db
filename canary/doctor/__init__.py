"""Health checks of a registry and its workers: what would silently stop a canary from paging."""
