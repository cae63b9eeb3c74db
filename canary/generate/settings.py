"""Settings of canary.generate (see canary.settings). ``pool.phones`` and ``pool.mail_domains`` are core."""

from canary.settings import Setting

SETTINGS: list[Setting] = [
    Setting("pool.mailbox_providers", list, [],
            "Consumer mail providers where the operator opens canary mailboxes (e.g. laposte.net,gmail.com,"
            "outlook.fr). The generator proposes an address per canary; the canary carries it only after "
            "'canary contacts confirm'."),
    Setting("generate.host_patients", int, 100_000,
            "Patients in a system's real file (until a host profile says): bounds how many canaries one block "
            "of 1,000 / 10,000 numbers or one owned mail domain may carry (docs/generator.md)."),
    Setting("registers.gp_allowlist", list, [],
            "RPPS numbers of the only real physicians canaries may name as treating physician (once an RPPS "
            "extract is imported). Empty: any practising GP near the address. Nothing is ever sent to them."),
]
