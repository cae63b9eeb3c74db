"""The CLI contract of the foundation issue: names, options, errors."""

import json


def test_system_add_and_list(cli):
    result = cli("system", "add", "ehr-mediboard", "--kind", "ehr", "--establishment", "Clinique des Lilas",
                 "--finess", "690000000")
    assert result.exit_code == 0, result.output
    assert cli("system", "add", "lab-sil", "--kind", "lab").exit_code == 0
    listed = json.loads(cli("system", "list", "--json").output)
    assert [s["name"] for s in listed] == ["ehr-mediboard", "lab-sil"]
    assert listed[0]["establishment"] == "Clinique des Lilas" and listed[0]["canaries"] == 0


def test_errors_are_one_line_and_non_zero(cli):
    result = cli("seed", "nowhere", "--count", "3")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: unknown system 'nowhere'; see 'canary system list'"]
    assert cli("show", "zzzz").exit_code == 1
    bad_option = cli("system", "add", "x", "--kind", "mainframe")
    assert bad_option.exit_code == 2
    assert bad_option.output.strip().splitlines() == [
        "error: Invalid value for '--kind': 'mainframe' is not one of 'ehr', 'lab', 'imaging', 'billing', 'backup', "
        "'warehouse', 'partner', 'pharmacy', 'other'. (see 'cli system add --help')"]


def test_config_roundtrip(cli):
    assert cli("config", "set", "pool.mail_domains", "mutuelle-contact.fr, messagerie-sante.fr").exit_code == 0
    assert json.loads(cli("config", "get", "pool.mail_domains").output) == ["mutuelle-contact.fr",
                                                                             "messagerie-sante.fr"]
    assert cli("config", "set", "no.such", "1").exit_code == 1


EXPORT_KEYS = {"id", "system", "sex", "birth_name", "used_name", "first_names", "birth_date", "birth_place", "nir",
               "address", "phones", "email", "coverage", "gp", "conditions", "prescriptions", "allergies", "tokens"}


def _registry(cli):
    cli("system", "add", "ehr-mediboard", "--kind", "ehr", "--establishment", "Clinique des Lilas")
    # Many blocks and several domains: one system may only put a few canaries in each (crowding bound; at
    # the host's block density, a canary or two per block of 10,000 shared with real subscribers).
    cli("config", "set", "pool.phones", ",".join(f"+33756{b}{b % 10}000-+33756{b}{b % 10}199" for b in range(10, 40)))
    cli("config", "set", "pool.mail_domains", "messagerie-famille.fr,boite-perso.fr")
    cli("config", "set", "tripwire.base_url", "https://portail-patient.example.fr")
    cli("config", "set", "tripwire.dns_zone", "docs.example.fr")


def test_seed_list_show_export_contract(cli, tmp_path):
    _registry(cli)
    seeded = cli("seed", "ehr-mediboard", "--count", "12", "--seed", "7")
    assert seeded.exit_code == 0, seeded.output
    ids = [line for line in seeded.output.splitlines() if not line.startswith("WARNING")]
    assert len(ids) == 12 and len(set(ids)) == 12
    listed = json.loads(cli("list", "--system", "ehr-mediboard", "--json").output)
    assert [c["id"] for c in listed] == ids
    out = tmp_path / "canaries.json"
    assert cli("export", "--format", "json", "-o", str(out)).exit_code == 0
    exported = json.loads(out.read_text(encoding="utf-8"))
    for canary in exported:
        assert set(canary) >= EXPORT_KEYS, EXPORT_KEYS - set(canary)
        assert canary["system"] == "ehr-mediboard" and canary["sex"] in ("F", "M")
        assert len(canary["nir"]) == 15 and isinstance(canary["first_names"], list)
        assert set(canary["birth_place"]) >= {"code", "name"}
        assert set(canary["address"]) >= {"line", "postcode", "city", "commune_code"}
        assert all(p.startswith("+33756") and p[-3] in "01" for p in canary["phones"])
        assert canary["email"] is None or canary["email"].endswith(("@messagerie-famille.fr", "@boite-perso.fr"))
    shown = json.loads(cli("show", ids[0], "--json").output)
    assert shown == exported[0]
    csv_text = cli("export", "--format", "csv").output
    header = csv_text.splitlines()[0].split(",")
    assert {"id", "system", "nir", "address.postcode", "first_names"} <= set(header)
    assert len(csv_text.splitlines()) == 13
    assert cli("lint").exit_code == 0


def test_same_seed_same_registry_state_same_canaries(tmp_path):
    from click.testing import CliRunner

    from canary.cli import get_cli

    def run(db, *args):
        return CliRunner().invoke(get_cli(), ["--db", str(db), *args], catch_exceptions=False)

    exports = []
    for name in ("a.db", "b.db"):
        db = tmp_path / name
        run(db, "system", "add", "lab-sil", "--kind", "lab")
        run(db, "config", "set", "pool.mail_domains", "messagerie-famille.fr")
        run(db, "seed", "lab-sil", "--count", "5", "--seed", "42")
        exported = json.loads(run(db, "export", "--format", "json").output)
        exports.append([{k: v for k, v in c.items() if k not in ("created_at", "tokens")} for c in exported])
    assert exports[0] == exports[1]
    # Another seed gives other people.
    db = tmp_path / "c.db"
    run(db, "system", "add", "lab-sil", "--kind", "lab")
    run(db, "seed", "lab-sil", "--count", "5", "--seed", "43")
    other = json.loads(run(db, "export", "--format", "json").output)
    assert {c["nir"] for c in other}.isdisjoint({c["nir"] for c in exports[0]})


def test_seed_without_pools_warns_and_carries_no_contact(cli):
    cli("system", "add", "backup-nas", "--kind", "backup")
    result = cli("seed", "backup-nas", "--count", "5", "--seed", "1")
    assert result.exit_code == 0
    assert "WARNING: no phone pool" in result.output and "WARNING: no mail pool" in result.output
    exported = json.loads(cli("export", "--format", "json").output)
    assert all(c["phones"] == [] and c["email"] is None for c in exported)


def test_lazy_command_table_names_every_command_of_its_module() -> None:
    """`canary X` imports only X's module: canary.domains must say where each command lives."""
    import importlib

    from canary.domains import COMMAND_MODULES

    for module_name, names in COMMAND_MODULES.items():
        assert tuple(c.name for c in importlib.import_module(module_name).COMMANDS) == names, module_name


def test_a_command_runs_without_loading_the_other_domains(tmp_path) -> None:
    """The console script looks commands up lazily: `system list` does not import Flask or the alerting code."""
    import subprocess
    import sys

    code = ("import sys; from canary.cli import main; sys.argv = ['canary', '--db', sys.argv[1], 'system', 'list'];\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('flask', 'canary.alert.cli', 'canary.web.cli', 'aiosmtpd') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r.db")], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_operator_mistakes_read_as_one_plain_line(cli, db_path, tmp_path):
    """A missing output folder, an empty --db file, a missing backup: one line naming the file (issue 32)."""
    from tests.support.cli import run_canary

    cli("system", "add", "ehr-a", "--kind", "ehr")
    missing_folder = cli("export", "--format", "csv", "-o", str(tmp_path / "nowhere" / "x.csv"))
    assert missing_folder.exit_code == 1
    assert missing_folder.output.strip() == f"error: {tmp_path / 'nowhere' / 'x.csv'}: No such file or directory"
    empty = tmp_path / "empty.db"
    empty.touch()
    listed = run_canary(empty, "list")
    assert listed.returncode == 1 and "is an empty file (0 bytes), not a registry" in listed.stderr
    assert empty.stat().st_size == 0  # left as it was, not made into a fresh registry
    restored = run_canary(db_path, "restore", str(tmp_path / "nofile.bak"), env={"CANARY_BACKUP_PASSPHRASE": ""})
    assert restored.returncode == 2 and "does not exist" in restored.stderr and "passphrase" not in restored.stderr


def test_serve_help_names_the_serve_roles():
    from click.testing import CliRunner

    from canary.cli import get_cli

    text = CliRunner().invoke(get_cli(), ["serve", "--help"], terminal_width=200).output
    assert "web, callbacks, dns, smtp, logs, scheduler, delivery" in " ".join(text.split())


def test_ctrl_c_is_the_documented_error_line_and_leaves_nothing_half_written(cli, db_path):
    import signal
    import subprocess
    import sys

    from tests.support.processes import read_line

    cli("system", "add", "ehr-a", "--kind", "ehr")
    seed = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "seed", "ehr-a", "--count",
                             "100000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert read_line(seed.stderr, timeout=60).startswith("WARNING")  # started generating
        seed.send_signal(signal.SIGINT)
        _, err = seed.communicate(timeout=60)
    finally:
        if seed.poll() is None:
            seed.kill()
    assert seed.returncode == 130 and "error: interrupted (Ctrl-C)" in err and "Aborted!" not in err
    assert json.loads(cli("list", "--json").output) == []  # the seed is all or nothing
