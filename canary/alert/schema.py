"""Tables of canary.alert (append-only migrations, names prefixed with the domain)."""

MIGRATIONS: list = []
