"""Helpers the tests share: waiting, ports, records, protocol peers. Tests import them from here, never from
a ``conftest.py`` (pytest loads those; importing them twice gives two copies of their state)."""
