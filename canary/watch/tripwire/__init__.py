"""Live tripwires: callback URLs, DNS names, documents, mail and calls."""
