"""Settings of the patient generator."""

from __future__ import annotations

from canary.settings import Setting

SETTINGS = [
    Setting("registers.gp_allowlist", list, [],
            "RPPS numbers of the only real physicians canaries may name as treating physician (once an RPPS "
            "extract is imported). Empty: any practising GP near the address. Nothing is ever sent to them."),
]
