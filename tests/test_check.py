"""`frontdesk check` through the installed command, against real servers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers import run, write_config

from daemon.demo.mail import free_port

pytestmark = pytest.mark.servers


def test_everything_passes(frontdesk_bin: str, tmp_path: Path, calendar_url: str,
                           mail_account: object) -> None:
    config = write_config(tmp_path / "ok", calendar_url=calendar_url, mail=mail_account)
    result = run(frontdesk_bin, config, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("ok") for line in lines), lines
    text = result.stdout
    assert "supports sync tokens" in text and "no RFC 6638 scheduling" in text
    assert "IDLE supported" in text and "logged in as julie@example.org" in text
    assert "SMTP 127.0.0.1" in text
    # where `status` will look, and why (issue 11 item 2)
    assert f"ok    state {tmp_path / 'ok' / 'state'} (daemon.state_dir): " in text


def test_offline_checks_only_the_file(frontdesk_bin: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "off", calendar_url=f"http://127.0.0.1:{free_port()}/x/")
    result = run(frontdesk_bin, config, "check", "--offline")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 1


def test_each_wrong_setting_gets_one_clear_sentence(frontdesk_bin: str, tmp_path: Path,
                                                    calendar_url: str,
                                                    mail_account: object) -> None:
    wrong_mail = dataclasses.replace(mail_account, password="not-it")  # type: ignore[type-var]
    config = write_config(tmp_path / "bad", calendar_url=calendar_url.replace("/cal-", "/nope-"),
                          mail=wrong_mail)
    result = run(frontdesk_bin, config, "check")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any("there is no calendar at" in line and "calendar.url" in line for line in failed)
    assert any("IMAP" in line and "refused the login" in line and "mail.password_file" in line
               for line in failed)
    assert any("SMTP" in line and "mail.password_file" in line for line in failed)


def test_wrong_calendar_password_and_closed_port(frontdesk_bin: str, tmp_path: Path,
                                                 calendar_url: str) -> None:
    config = write_config(tmp_path / "pw", calendar_url=calendar_url)
    (tmp_path / "pw" / "caldav-password").write_text("wrong\n")
    result = run(frontdesk_bin, config, "check")
    assert result.returncode == 1
    assert "refused the username or password" in result.stdout
    closed = write_config(tmp_path / "port", calendar_url=f"http://127.0.0.1:{free_port()}/j/c/")
    result = run(frontdesk_bin, closed, "check")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.count("FAIL") == 1
