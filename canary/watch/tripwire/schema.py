"""Tables of canary.watch.tripwire (append-only migrations, names prefixed with the domain)."""

MIGRATIONS: list = []
