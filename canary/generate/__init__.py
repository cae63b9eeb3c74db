"""Generating fake French patients a thief cannot tell from real ones."""
