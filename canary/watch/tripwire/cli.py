"""Commands of canary.watch.tripwire, added to the root ``canary`` group: ``canary tripwire ...``, and
``canary contacts``, whose mailboxes are confirmed by a probe mail the tripwire reads back."""

from __future__ import annotations

import json
from pathlib import Path

import click

from canary.errors import CanaryError
from canary.output import echo_json, echo_rows, echo_table
from canary.store.context import CliContext, pass_ctx


@click.group()
def tripwire() -> None:
    """Live tripwires: ignore rules, callback documents, kept mail, IMAP polling."""


@tripwire.command("fill-tokens")
@click.option("--system", help="Only this system's canaries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def fill_tokens_command(ctx: CliContext, system: str | None, as_json: bool) -> None:
    """Give canaries not yet planted the callback URL and DNS name they lack (seeded before the settings)."""
    from canary.output import echo_json
    from canary.store.tokens import fill_tokens

    outcome = fill_tokens(ctx.db, system)
    if as_json:
        echo_json(outcome)
        return
    click.echo(f"{len(outcome['filled'])} canari(s) complété(s) / canaries given their links")
    if outcome["planted"]:
        click.echo(f"déjà plantés, inchangés / already planted, unchanged (retire and seed a new generation): "
                   f"{', '.join(outcome['planted'])}", err=True)


@tripwire.group()
def ignore() -> None:
    """Rules for expected hits (your own scanners, monitoring): stored with severity info, never dropped."""


@ignore.command("add")
@click.option("--cidr", help="Source address or network, e.g. 198.51.100.0/24.")
@click.option("--user-agent", help="User-agent fragment (case-insensitive), e.g. 'HealthCheck/'.")
@click.option("--system", help="Only hits on this system's canaries.")
@click.option("--note", help="Why (shown in the list).")
@pass_ctx
def ignore_add(ctx: CliContext, cidr: str | None, user_agent: str | None, system: str | None,
               note: str | None) -> None:
    """Add a rule (exactly one of --cidr or --user-agent)."""
    from canary.watch.tripwire.ignore import add_rule

    if (cidr is None) == (user_agent is None):
        raise CanaryError("give exactly one of --cidr or --user-agent")
    kind, value = ("cidr", cidr) if cidr is not None else ("user_agent", user_agent)
    rule = add_rule(ctx.db, kind, value or "", system=system, note=note)
    click.echo(f"ignore rule {rule['id']} added: {kind} {rule['value']}" + (f" (system {system})" if system else ""))


@ignore.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def ignore_list(ctx: CliContext, as_json: bool) -> None:
    """Every ignore rule."""
    from canary.watch.tripwire.ignore import list_rules

    rows = list_rules(ctx.db)
    echo_rows(rows, ["id", "kind", "value", "system", "note", "created_at"], as_json=as_json, empty="no ignore rule")


@ignore.command("remove")
@click.argument("rule_id", type=int)
@pass_ctx
def ignore_remove(ctx: CliContext, rule_id: int) -> None:
    """Delete rule RULE_ID (hits already stored keep their severity)."""
    from canary.watch.tripwire.ignore import remove_rule

    remove_rule(ctx.db, rule_id)
    click.echo(f"ignore rule {rule_id} removed")


@tripwire.command("documents")
@click.argument("canary_id", required=False)
@click.option("--format", "fmt", type=click.Choice(["pdf", "docx", "xlsx"]),
              help="pdf (open actions), docx (linked pictures, INCLUDEPICTURE) or xlsx (linked pictures).")
@click.option("--kind", type=click.Choice(["compte-rendu", "ordonnance"]), default="compte-rendu", show_default=True,
              help="Consultation report or prescription.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option("--explain", is_flag=True,
              help="Write nothing: list each document format's beacons and, reader by reader, what fires on "
                   "opening, on a click, by pre-fetch, and how the hit is graded (with CANARY_ID: its URLs).")
@click.option("--json", "as_json", is_flag=True, help="With --explain: the table as JSON.")
@pass_ctx
def documents(ctx: CliContext, canary_id: str | None, fmt: str | None, kind: str, output: Path | None,
              explain: bool, as_json: bool) -> None:
    """Write a document for CANARY_ID that calls back (remote image, link, DNS name) when opened."""
    from canary.files import write_atomic_bytes
    from canary.watch.tripwire.documents import build_document

    if explain:
        _print_reader_matrix(ctx, canary_id, fmt, as_json)
        return
    missing = [name for name, value in (("CANARY_ID", canary_id), ("--format", fmt), ("-o/--output", output))
               if not value]
    if missing:
        raise CanaryError(f"missing {', '.join(missing)} (or --explain) / manquant : {', '.join(missing)}")
    assert canary_id and fmt and output  # checked just above
    data = build_document(ctx.db, canary_id, fmt=fmt, kind=kind)
    try:
        write_atomic_bytes(output, data)
    except OSError as exc:  # the temporary file's name would only confuse: name the file asked for
        raise CanaryError(f"cannot write {output}: {exc.strerror or exc}") from exc
    click.echo(f"{kind} ({fmt}, {len(data)} bytes) written to {output}", err=True)


def _print_reader_matrix(ctx: CliContext, canary_id: str | None, fmt: str | None, as_json: bool) -> None:
    from canary.watch.tripwire.documents import beacon_urls, callback_links
    from canary.watch.tripwire.readers import reader_matrix, render_matrix

    urls = beacon_urls(callback_links(ctx.db, canary_id)) if canary_id else None
    matrix = reader_matrix(ctx.db, fmt, urls)
    if as_json:
        click.echo(json.dumps(matrix, ensure_ascii=False, indent=2))
    else:
        click.echo(render_matrix(matrix), nl=False)


@tripwire.command("imap-poll")
@pass_ctx
def imap_poll(ctx: CliContext) -> None:
    """Poll the configured IMAP mailboxes once (serve does it every tripwire.imap_interval seconds)."""
    from canary.watch.tripwire.imap import mailboxes_from_settings, poll_mailboxes
    from canary.watch.tripwire.noise import NoisePolicy

    configs = mailboxes_from_settings(ctx.db)
    if not configs:
        raise CanaryError("no IMAP mailbox configured: canary config set tripwire.imap_mailboxes "
                          "imaps://login@imap.example.fr (or tripwire.imap_host)")
    stored, failed = poll_mailboxes(ctx.db, configs, NoisePolicy.from_settings(ctx.db))
    for mailbox, count in stored.items():
        click.echo(f"{count} event(s) from {mailbox}")
    if len(failed) == 1:
        raise CanaryError(next(iter(failed.values())))
    if failed:
        raise CanaryError(f"{len(failed)} of {len(configs)} mailboxes failed: " + "; ".join(failed.values()))


@tripwire.group()
def messages() -> None:
    """Mail kept from canary addresses (SMTP receiver and IMAP polling)."""


@messages.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def messages_list(ctx: CliContext, as_json: bool) -> None:
    """Kept messages, newest last (without their content)."""
    rows = list(ctx.db.query(
        "SELECT id, received_at, channel, canary_ids, peer, mail_from, subject, size, truncated "
        "FROM tripwire_messages ORDER BY id"))
    from canary.watch.tripwire.messages import readable_header

    for row in rows:  # messages kept before subjects were decoded at storage
        row["subject"] = readable_header(row["subject"]) if row["subject"] else row["subject"]
    echo_rows(rows, ["id", "received_at", "channel", "canary_ids", "peer", "mail_from", "subject", "size"],
              as_json=as_json, empty="no message")


@messages.command("show")
@click.argument("message_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the raw message here.")
@pass_ctx
def messages_show(ctx: CliContext, message_id: int, output: Path | None) -> None:
    """The raw message MESSAGE_ID (RFC 5322), to stdout or a file."""
    from canary.files import write_atomic_bytes

    row = ctx.db.execute("SELECT raw FROM tripwire_messages WHERE id = ?", [message_id]).fetchone()
    if row is None:
        raise CanaryError(f"no kept message {message_id}; see 'canary tripwire messages list'")
    if output is None:
        click.echo(bytes(row[0]).decode("utf-8", "replace"), nl=False)
    else:
        write_atomic_bytes(output, bytes(row[0]))
        click.echo(f"message {message_id} written to {output}", err=True)


@click.group()
def contacts() -> None:
    """Consumer mailboxes proposed for canaries, and contact points the pools could not give."""


@contacts.command("list")
@click.option("--pending", is_flag=True, help="Only mailboxes still to open and confirm.")
@click.option("--system", help="Only this system's canaries.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def contacts_list(ctx: CliContext, pending: bool, system: str | None, as_json: bool) -> None:
    """List proposed mailboxes (pending, confirmed) and unfilled contact points of active canaries."""
    from canary.generate.contact_points import CONTACT_KEYS, list_contact_points

    rows = list_contact_points(ctx.db, pending_only=pending, system=system)
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows, list(CONTACT_KEYS), empty="no pending mailbox" if pending else "no contact point")


@contacts.command("confirm")
@click.argument("values", nargs=-1)
@click.option("--all", "all_pending", is_flag=True, help="Every pending mailbox of an active canary.")
@click.option("--wait", type=click.IntRange(1, 3600),
              help="Seconds to wait for the probe mails to come back (default: tripwire.probe_wait).")
@pass_ctx
def contacts_confirm(ctx: CliContext, values: tuple[str, ...], all_pending: bool, wait: int | None) -> None:
    """Put mailboxes you have opened (VALUE: the address) on their canaries, once a probe mail sent to
    each came back through the tripwire (IMAP polling or the SMTP forward); the others are refused."""
    from canary.generate.contact_points import confirm_mailboxes, pending_mailboxes
    from canary.settings import get_int
    from canary.watch.tripwire.probe import ProbeRelay, ReadBack, probe_mailboxes

    if bool(values) == all_pending:
        raise CanaryError("name the mailboxes you opened (canary contacts confirm ADDRESS...) or pass --all")
    addresses = pending_mailboxes(ctx.db, values, all_pending=all_pending)
    results = []
    if addresses:
        relay, read_back = ProbeRelay.from_settings(ctx.db), ReadBack.from_settings(ctx.db)
        results = probe_mailboxes(ctx.db, addresses, wait=wait or get_int(ctx.db, "tripwire.probe_wait"),
                                  relay=relay, read_back=read_back)
    confirmed = confirm_mailboxes(ctx.db, [r.address for r in results if r.received])
    click.echo(f"{len(confirmed)} mailboxes confirmed")
    refused = [r for r in results if not r.received]
    for result in refused:
        click.secho(f"refused: {result.address}: {result.how}", fg="red", err=True)
    if refused:
        raise SystemExit(1)


COMMANDS: list[click.Command] = [tripwire, contacts]
