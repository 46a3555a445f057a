"""The command line itself, through the installed command: --version, --help, --config, and
what a first run without a configuration says (issue 11, item 4)."""

from __future__ import annotations

import argparse
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
from test_config import MINIMAL

from daemon.cli import build_parser


def run(frontdesk_bin: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([frontdesk_bin, *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_version(frontdesk_bin: str, clean_env: dict[str, str]) -> None:
    result = run(frontdesk_bin, clean_env, "--version")
    assert result.returncode == 0
    assert result.stdout == f"frontdesk {version('frontdesk')}\n"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions
                  if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_of_every_command_says_what_it_does() -> None:
    commands = subcommands()
    assert set(commands) >= {"init", "check", "slots", "once", "explain", "run", "status", "demo"}
    for name, parser in commands.items():
        assert parser.description and len(parser.description) > 40, name
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
            assert len(action.help) > 10, (name, action.dest, action.help)


@pytest.mark.parametrize("command", ["init", "check", "slots", "once", "explain", "run",
                                     "status", "demo"])
def test_subcommand_help_through_the_command(frontdesk_bin: str, clean_env: dict[str, str],
                                             command: str) -> None:
    result = run(frontdesk_bin, clean_env, command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: frontdesk {command}")
    assert "--config PATH" in result.stdout  # accepted after the command too


def test_check_help_says_what_offline_does(frontdesk_bin: str, clean_env: dict[str, str]) -> None:
    text = " ".join(run(frontdesk_bin, clean_env, "check", "--help").stdout.split())
    assert "--offline validate the file and read its password files, but connect to no " \
           "server" in text


def test_config_is_accepted_before_and_after_the_command(
        frontdesk_bin: str, tmp_path: Path, clean_env: dict[str, str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(MINIMAL)
    bad = tmp_path / "bad.toml"
    bad.write_text("[freelancer\n")
    env = dict(clean_env, CALPASS="x")
    after = run(frontdesk_bin, env, "check", "--offline", "--config", str(good))
    assert after.returncode == 0, after.stderr
    assert after.stdout == f"ok    configuration {good}\n"
    before = run(frontdesk_bin, env, "--config", str(good), "check", "--offline")
    assert before.stdout == after.stdout
    # given twice, the one after the command wins
    both = run(frontdesk_bin, env, "--config", str(bad), "check", "--config", str(good),
               "--offline")
    assert both.returncode == 0, both.stderr
    assert run(frontdesk_bin, env, "check", "-v", "--offline", "--config", str(good)
               ).returncode == 0


def test_no_configuration_file_names_where_it_looked_and_what_to_do(
        frontdesk_bin: str, tmp_path: Path, clean_env: dict[str, str]) -> None:
    if Path("/etc/frontdesk/frontdesk.toml").exists():
        pytest.skip("this machine has a system configuration, which would be found")
    result = run(frontdesk_bin, clean_env, "status")
    assert result.returncode == 78
    message = result.stderr
    assert "no configuration file found (looked at " in message
    assert str(tmp_path / "home" / ".config" / "frontdesk" / "frontdesk.toml") in message
    assert "/etc/frontdesk/frontdesk.toml" in message
    assert "frontdesk init" in message and "frontdesk.example.toml" in message
    assert "Traceback" not in message
