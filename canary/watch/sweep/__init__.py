"""Leak sweeps: finding canaries in dumps, pastes and feeds."""
