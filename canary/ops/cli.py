"""``canary backup``, ``canary restore`` and ``canary doctor``: thin click layers over canary.ops."""

from __future__ import annotations

from pathlib import Path

import click

from canary.ops.backup import backup_key, restore_backup, take_backup
from canary.output import echo_json
from canary.store import open_db
from canary.store.context import CliContext, pass_ctx

_KEY_FILE = click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path),
                         help="Key file (owner-only) instead of the passphrase in CANARY_BACKUP_PASSPHRASE.")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_KEY_FILE
@pass_ctx
def backup(ctx: CliContext, file: Path, key_file: Path | None) -> None:
    """Write an encrypted, consistent copy of the registry to FILE (safe while serve runs)."""
    if ctx.db_path.is_file():
        db = open_db(ctx.db_path, migrate_schema=False)
        try:
            key = backup_key(key_file, db, sealing=True)
        finally:
            db.close()
    else:
        key = backup_key(key_file, sealing=True)
    click.echo(take_backup(ctx.db_path, file, key).line(f"backup of {ctx.db_path} written to"))


@click.command()
# exists=True: a missing file is said first, before any question about the passphrase.
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_KEY_FILE
@click.option("--force", is_flag=True, help="Replace an existing registry (it is kept beside, renamed).")
@pass_ctx
def restore(ctx: CliContext, file: Path, key_file: Path | None, force: bool) -> None:
    """Check backup FILE and make it the registry (refused while serve runs)."""
    summary, kept, notice = restore_backup(file, ctx.db_path, backup_key(key_file, sealing=False), force=force)
    click.echo(summary.line(f"registry restored from {file} to"))
    click.echo(f"{notice} / restauré depuis une sauvegarde : ce qui a suivi est perdu")
    if kept is not None:
        click.echo(f"the replaced registry is kept as {kept}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--send-test", is_flag=True, help="Also send a [TEST] alert to every destination and report each "
                                                 "(it pages the on-call: not for a cron job).")
@pass_ctx
def doctor(ctx: CliContext, as_json: bool, send_test: bool) -> None:
    """Check the deployment (DNS delegation, MX, callback URL, pools, plantings, paging); exit 1 on a problem."""
    from canary.ops.doctor import run_checks, summary

    results = run_checks(ctx.db, send_test=send_test)
    if as_json:
        echo_json(summary(results))
    else:
        for result in results:
            click.echo(result.line())
    if not summary(results)["ok"]:
        raise SystemExit(1)


COMMANDS = [backup, restore, doctor]
