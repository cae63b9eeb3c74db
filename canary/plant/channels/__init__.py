"""The planting channels, one module each, and the one registry the lifecycle looks them up in.

To add a channel: write ``canary/plant/channels/NAME.py`` (or a package ``NAME/``, its protocol modules
inside) ending with ``CHANNEL = Channel(...)`` (see ``base.Channel`` for what each field does), add it to
``CHANNELS`` below, and add NAME to the CHECK of ``plantings.channel`` in a new migration of
``canary.plant.schema``.
"""

from __future__ import annotations

from typing import Any

from canary.plant.channels import fhir, file, mllp
from canary.plant.channels.base import Channel

CHANNELS: dict[str, Channel] = {channel.name: channel for channel in (mllp.CHANNEL, fhir.CHANNEL, file.CHANNEL)}
# URL scheme -> channel (mllps:// is the MLLP channel inside TLS).
SCHEMES: dict[str, Channel] = {scheme: channel for channel in CHANNELS.values() for scheme in channel.schemes}


def receiver(planting: dict[str, Any]) -> str | None:
    """Whom a planting's target addresses the canaries to, as its channel says (MLLP: MSH-5/MSH-6), else None."""
    options, channel = planting.get("options"), CHANNELS.get(str(planting.get("channel")))
    if channel is None or not isinstance(options, dict):
        return None
    return channel.receiver(options)
