"""The README cannot go stale: the commands and files it names exist."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from routelab.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_routelab_command_in_the_readme_exists() -> None:
    commands = set(re.findall(r"routelab (\w+)", README)) - {"is", "answers"}
    assert {"simulate", "serve", "loadtest", "report", "compare", "demo", "schema"} <= commands
    runner = CliRunner()
    for command in sorted(commands):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, f"`routelab {command}` from the README: {result.output}"


def test_every_file_the_readme_names_exists() -> None:
    paths = set(re.findall(r"`((?:scenarios|loadtests|benchmarks|notebooks)/[\w./]+)`", README))
    paths |= set(re.findall(r"\]\(((?:loadtests|benchmarks)/[\w./]+)\)", README))
    assert paths, "the README names no files: the pattern is stale"
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"the README names files that do not exist: {missing}"


def test_the_two_commands_come_first() -> None:
    first_block = README.split("```bash", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block
