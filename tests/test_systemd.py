"""The unit files: `systemd-analyze verify` prints nothing, and the system units score <= 2.0."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[1] / "systemd"
SYSTEM_UNITS = ["frontdesk.service", "frontdesk@.service"]

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                reason="systemd-analyze is not installed")


def analyze(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(exist_ok=True, mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), SYSTEMD_LOG_COLOR="0")
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.mark.parametrize("unit", SYSTEM_UNITS)
def test_verify_prints_nothing(unit: str, tmp_path: Path) -> None:
    # a template is verified through an instance, as systemd would load it
    target = tmp_path / unit.replace("@.", "@julie.")
    shutil.copy(UNITS / unit, target)
    result = analyze("verify", str(target), tmp_path=tmp_path)
    assert result.returncode == 0
    assert result.stdout + result.stderr == ""


def test_user_unit_verifies(tmp_path: Path) -> None:
    result = analyze("verify", "--user", str(UNITS / "user" / "frontdesk.service"),
                     tmp_path=tmp_path)
    if "Failed to initialize manager" in result.stderr:
        pytest.skip("no user manager can start here: " + result.stderr.strip())
    assert result.returncode == 0
    assert result.stdout + result.stderr == ""


def exposure(path: Path, tmp_path: Path) -> float:
    result = analyze("security", "--offline=yes", str(path), tmp_path=tmp_path)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found.group(1))


@pytest.mark.parametrize("unit", SYSTEM_UNITS)
def test_system_units_are_hardened(unit: str, tmp_path: Path) -> None:
    assert exposure(UNITS / unit, tmp_path) <= 2.0


def test_user_unit_score_is_reported(tmp_path: Path) -> None:
    score = exposure(UNITS / "user" / "frontdesk.service", tmp_path)
    print(f"user unit exposure: {score}")
    assert score <= 5.0  # a user manager cannot drop what the system one can; README has it


@pytest.mark.parametrize("unit", [*SYSTEM_UNITS, "user/frontdesk.service"])
def test_units_have_what_the_issue_asks(unit: str) -> None:
    text = (UNITS / unit).read_text()
    for line in ("Type=notify", "RestartPreventExitStatus=78", "Restart=on-failure",
                 "NoNewPrivileges=yes", "PrivateTmp=yes",
                 "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "SystemCallFilter=",
                 "WatchdogSec=", "StateDirectory="):
        assert line in text, f"{unit} lacks {line}"
    if unit in SYSTEM_UNITS:
        for line in ("DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes",
                     "CapabilityBoundingSet=\n", "LoadCredential="):
            assert line in text, f"{unit} lacks {line}"


def test_instance_reads_its_own_file() -> None:
    text = (UNITS / "frontdesk@.service").read_text()
    assert "--config /etc/frontdesk/%i.toml run" in text
    assert "StateDirectory=frontdesk-%i" in text
