"""Documentation checked against the code, so it cannot drift."""

from pathlib import Path

from canary.cli import get_cli
from canary.settings import settings_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_settings_reference_is_current():
    assert (ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == settings_markdown(), (
        "regenerate with: canary config docs > docs/settings.md"
    )


def test_every_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in get_cli().commands if f"`canary {name}" not in readme]
    assert not missing, f"README CLI reference lacks: {missing}"


def _readme_commands() -> list[list[str]]:
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = readme.split("```sh")[1:]
    lines = []
    for block in blocks:
        for line in block.split("```")[0].splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("canary ") and "<" not in line:
                lines.append(shlex.split(line)[1:])
    return lines


def test_readme_examples_name_real_commands_and_options():
    import click

    cli = get_cli()
    commands = _readme_commands()
    assert len(commands) > 15
    for args in commands:
        command: click.Command = cli
        rest = list(args)
        while isinstance(command, click.Group) and rest and rest[0] in command.commands:
            command = command.commands[rest.pop(0)]
        assert not isinstance(command, click.Group), f"README: 'canary {' '.join(args)}' names no command"
        known = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for word in rest:
            if word.startswith("--"):
                assert word.split("=")[0] in known, f"README: 'canary {' '.join(args)}': unknown option {word}"


def test_cli_reference_is_current_and_names_every_option():
    import click

    from canary.reference.markdown import cli_markdown, walk

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert text == cli_markdown(get_cli()), "regenerate with: canary cli-docs > docs/cli.md"
    missing = []
    for path, command in walk(get_cli()):
        if path and f"## `canary {' '.join(path)}`" not in text:
            missing.append(" ".join(path))
        section = text.split(f"## `canary {' '.join(path)}`\n", 1)[-1].split("\n## ", 1)[0]
        for param in command.params:
            if isinstance(param, click.Option) and path:
                missing += [f"{' '.join(path)} {opt}" for opt in param.opts if f"`{opt}`" not in section]
    assert not missing, f"docs/cli.md lacks: {missing}"


def test_every_command_the_docs_cite_exists():
    """`canary GROUP SUB ...` in any page of docs/ or the README names a real command and real options."""
    import re


    cli = get_cli()
    wrong = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for cited in re.findall(r"`canary ([^`]+)`", page.read_text(encoding="utf-8")):
            # "system add|edit", "backup/restore": each alternative is checked
            for variant in _alternatives(cited.split()):
                wrong += _wrong_citation(cli, page.name, cited, variant)
    assert not wrong, wrong


def _alternatives(words: list[str]) -> list[list[str]]:
    import re

    for i, word in enumerate(words):
        if re.fullmatch(r"[a-z-]+([|/][a-z-]+)+", word):
            return [[*words[:i], alt, *words[i + 1:]] for alt in re.split(r"[|/]", word)]
    return [words]


def _wrong_citation(cli, page: str, cited: str, words: list[str]) -> list[str]:
    import re

    import click

    command: click.Command = cli
    words = list(words)
    while words and isinstance(command, click.Group) and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    following = words[0] if words else ""
    if isinstance(command, click.Group) and re.fullmatch(r"[a-z][a-z-]*", following):
        return [f"{page}: canary {cited}"]  # a subcommand that does not exist
    known = {opt for param in command.params for opt in getattr(param, "opts", [])} | {"--help"}
    return [f"{page}: canary {cited} ({word})" for word in words
            if re.fullmatch(r"--[a-z][a-z-]*", word.split("=")[0]) and word.split("=")[0] not in known]
