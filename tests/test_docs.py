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
