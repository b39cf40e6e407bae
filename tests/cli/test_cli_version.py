"""`simhost --version` and `hwsim --version` print the installed distribution's version."""

from __future__ import annotations

from importlib.metadata import version

import click
import pytest
from click.testing import CliRunner

from hwsim.cli import main as hwsim_main
from simhost.cli import main


@pytest.mark.parametrize(("command", "name"), [(main, "simhost"), (hwsim_main, "hwsim")])
def test_version(command: click.Command, name: str) -> None:
    result = CliRunner().invoke(command, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"{name} {version('simhost')}\n"
