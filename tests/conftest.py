"""Shared test fixtures: real servers (from tests/fixtures/), the corpus, the installed command."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def _plugins() -> list[str]:
    found = []
    for name in ("fixtures.radicale", "fixtures.mail"):
        try:
            if importlib.util.find_spec(name) is not None:
                found.append(name)
        except ModuleNotFoundError:
            pass
    return found


pytest_plugins = _plugins()


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent (it sits beside the clone in CI only)")
    return CORPUS


@pytest.fixture(scope="session")
def frontdesk_bin() -> str:
    """The installed console script, as a user runs it."""
    candidate = Path(sys.executable).parent / "frontdesk"
    found = str(candidate) if candidate.exists() else shutil.which("frontdesk")
    if not found:
        pytest.fail("the frontdesk console script is not installed (pip install -e .)")
    return found


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no frontdesk or systemd variables leaking in from the caller."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FRONTDESK_", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY",
                                "JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_"))}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "home" / ".config")
    env["XDG_STATE_HOME"] = str(tmp_path / "home" / ".local" / "state")
    return env
