"""Tables of canary.plant (append-only migrations, names prefixed with the domain)."""

MIGRATIONS: list = []
