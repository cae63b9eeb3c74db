"""Tables of canary.watch.accesslog (append-only migrations, names prefixed with the domain)."""

MIGRATIONS: list = []
