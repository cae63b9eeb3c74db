"""The shape of planting by channel: one module per channel behind one registry, and a lifecycle that
never decides by a channel's name (the source is read with ast, as tests/test_layers.py does)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from canary.plant.channels import CHANNELS, SCHEMES
from canary.plant.channels.base import Channel
from tests.support.kinds import decisions_by_name

PLANT = Path(__file__).resolve().parents[2] / "canary" / "plant"
CHANNEL_DIR = PLANT / "channels"


def test_every_channel_module_is_in_the_registry_with_the_full_interface():
    # A channel is a module of channels/, or a package there with its protocol modules beside it.
    modules = sorted([p.stem for p in CHANNEL_DIR.glob("*.py") if p.stem not in ("__init__", "base")]
                     + [p.parent.name for p in CHANNEL_DIR.glob("*/__init__.py")])
    assert sorted(CHANNELS) == modules == ["fhir", "file", "mllp"]
    for name, channel in CHANNELS.items():
        assert isinstance(channel, Channel) and channel.name == name
        module = f"canary.plant.channels.{name}"
        # Every step is a function; plant and retire are the channel's own, not borrowed from another one.
        steps = [field for field, value in vars(channel).items() if callable(value)]
        assert {"parse_target", "check_options", "check_target", "check_environment", "warnings", "plant",
                "retire", "receiver"} <= set(steps)
        assert all(getattr(channel, step).__module__ in (module, "canary.plant.channels.base") for step in steps)
        assert channel.plant.__module__ == channel.retire.__module__ == channel.parse_target.__module__ == module
        # A channel that can be retired more than one way takes the choice as an option.
        assert ("retire" in channel.options) == bool(channel.retire_strategies)
        assert set(channel.authority_options) <= set(channel.options)


def test_schemes_name_one_channel_each_and_every_channel_can_be_stored(db):
    assert sum(len(c.schemes) for c in CHANNELS.values()) == len(SCHEMES)
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'plantings'").fetchone()[0]
    allowed = re.search(r"channel IN \(([^)]*)\)", sql)
    assert allowed is not None
    assert sorted(re.findall(r"'([^']+)'", allowed.group(1))) == sorted(CHANNELS)


def _decisions_by_channel(path: Path) -> list[str]:
    """Places that compare with, index by, match on or key a dict with a channel's name."""
    return decisions_by_name(path, CHANNELS)


def test_no_plant_module_outside_the_channels_decides_by_a_channel_name():
    outside = [p for p in PLANT.rglob("*.py") if CHANNEL_DIR not in p.parents]
    assert outside, "canary/plant has modules besides its channels"
    assert [hit for path in outside for hit in _decisions_by_channel(path)] == []


def test_the_check_finds_a_dispatch_by_name(tmp_path):
    # The check above passes because the code is right, not because it cannot see anything.
    sample = tmp_path / "sample.py"
    sample.write_text('def f(t):\n    if t.channel == "mllp":\n        return {"fhir": 1}[t.channel]\n')
    assert len(_decisions_by_channel(sample)) == 2


def test_the_registry_loads_no_protocol_library():
    """`canary plants`, the console and `canary lint` read the registry: HL7, FHIR and HTTP libraries load
    only when a channel builds a message or opens a link."""
    code = ("import sys; import canary.plant.channels; "
            "print(sorted(m for m in ('hl7', 'fhir.resources', 'requests', "
            "'canary.plant.channels.mllp.client', 'canary.plant.channels.mllp.tls') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
