"""The README says what the code does: its settings table lists exactly the
CDK context keys ``infra.config`` reads into ``Settings``, and it names every option of
every ``alb502`` command (so a new option cannot ship undocumented)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from alb502 import cli
from infra.config import _KEYS as CONTEXT_KEYS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _settings_table_keys() -> set[str]:
    table = README.split("Settings (context:", 1)[1].split("\n\n", 2)[1]
    keys: set[str] = set()
    for row in table.splitlines()[2:]:
        keys.update(re.findall(r"`(\w+)`", row.split("|")[1]))
    return keys


def test_the_settings_table_lists_every_context_key() -> None:
    # loadBalancers is read on its own (a list, not one value).
    assert _settings_table_keys() == {*CONTEXT_KEYS, "loadBalancers"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli._parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(commands.choices)


@pytest.mark.parametrize("name", sorted(_commands()))
def test_the_readme_names_every_option_of_each_command(name: str) -> None:
    command = _commands()[name]
    assert f"alb502 {name}" in README
    options = {
        option
        for action in command._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    missing = sorted(o for o in options if f"{o}" not in README)
    assert not missing, f"alb502 {name} --help has options the README does not mention: {missing}"
