"""How a planting is shown: the keys of `canary plants --json`, a contract for scripts and other domains."""

from __future__ import annotations

from typing import Any

from canary.plant.channels import receiver

PLANTING_KEYS = ("id", "canary_id", "system", "generation", "channel", "target", "receiver", "state",
                 "external_id", "resources", "attempts", "planned_at", "planted_at", "retired_at", "error",
                 "updated_at")


def planting_view(row: dict[str, Any]) -> dict[str, Any]:
    """A row of canary.plant.lifecycle.list_plantings as `canary plants --json` gives it."""
    return {key: receiver(row) if key == "receiver" else row.get(key) for key in PLANTING_KEYS}
