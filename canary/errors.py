"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""


class CanaryError(Exception):
    """An expected failure with a message meant for the operator (bad input, unknown name, unreachable peer)."""


class NotFound(CanaryError):
    """A named system, canary or other object does not exist."""
