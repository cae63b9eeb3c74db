"""Tables of canary.watch.sweep (append-only migrations, names prefixed with the domain)."""

MIGRATIONS: list = []
