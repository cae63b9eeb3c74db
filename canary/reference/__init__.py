"""The CLI reference (docs/cli.md), generated from the click commands so it cannot drift."""
