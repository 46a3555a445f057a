"""`frontdesk init` through the installed command: questions, flags, stdin, files, then check."""

from __future__ import annotations

import os
import pty
import select
import stat
import subprocess
import time
from pathlib import Path

import pytest
from test_config import documented_keys

from daemon.config import parse_config
from daemon.schema import KEYS

FLAGS = ["--name", "Julie Tremblay", "--email", "julie@example.org",
         "--timezone", "America/Toronto", "--language", "fr", "--days", "mon,tue,thursday",
         "--hours", "09:00-12:00, 13:00-17:00",
         "--calendar-url", "https://dav.example.org/julie/work/", "--calendar-username", "julie",
         "--imap-host", "imap.example.org", "--smtp-host", "smtp.example.org:587",
         "--smtp-security", "starttls"]


def init(frontdesk_bin: str, env: dict[str, str], *args: str, stdin: str = "",
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([frontdesk_bin, "init", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=60)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_unattended_init_writes_a_commented_configuration_and_its_secrets(
        frontdesk_bin: str, tmp_path: Path, clean_env: dict[str, str]) -> None:
    target = tmp_path / "fd" / "frontdesk.toml"
    result = init(frontdesk_bin, clean_env, "--config", str(target), *FLAGS, "--offline",
                  stdin="cal-secret\nmail-secret\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f"wrote {target}",
        f"wrote {target.parent / 'caldav-password'} (mode 600)",
        f"wrote {target.parent / 'mail-password'} (mode 600)",
        f"ok    configuration {target}",
    ]
    assert mode(target) == mode(target.parent / "caldav-password") == 0o600
    assert mode(target.parent / "mail-password") == 0o600
    assert (target.parent / "caldav-password").read_text() == "cal-secret\n"
    text = target.read_text()
    assert documented_keys(text) == {k.path for k in KEYS}  # the schema documents the file
    config = parse_config(text, path=target, environ={"HOME": str(tmp_path)})
    assert config.policy.freelancer.name == "Julie Tremblay"
    assert config.policy.freelancer.language == "fr"
    assert sorted(config.policy.hours.week) == [0, 1, 3]
    assert [r.label() for r in config.policy.hours.week[3]] == ["09:00-12:00", "13:00-17:00"]
    assert config.calendar.password == "cal-secret" and config.calendar.username == "julie"
    assert config.mail is not None and config.mail.password == "mail-secret"
    assert (config.mail.imap_port, config.mail.smtp_port) == (993, 587)
    assert config.mail.smtp_security == "starttls"
    assert 'password_file = "caldav-password"' in text  # a bare name: beside it, or a credential


def test_init_refuses_to_overwrite(frontdesk_bin: str, tmp_path: Path,
                                   clean_env: dict[str, str]) -> None:
    target = tmp_path / "frontdesk.toml"
    first = init(frontdesk_bin, clean_env, "--config", str(target), *FLAGS, "--offline",
                 stdin="a\nb\n")
    assert first.returncode == 0, first.stderr
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    again = init(frontdesk_bin, clean_env, "--config", str(target), *FLAGS, "--offline",
                 stdin="c\nd\n")
    assert again.returncode == 73
    assert again.stderr == (f"frontdesk: {target} already exists; init does not overwrite: "
                            "edit it (README: Configuration), or move it away first\n")
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before
    # a password file in the way stops it before anything is written
    (tmp_path / "other.caldav-password").write_text("keep\n")
    third = init(frontdesk_bin, clean_env, "--config", str(tmp_path / "other.toml"), *FLAGS,
                 "--offline", stdin="c\nd\n")
    assert third.returncode == 73 and "other.caldav-password already exists" in third.stderr
    assert not (tmp_path / "other.toml").exists()


def test_answers_come_from_stdin_when_it_is_not_a_terminal(
        frontdesk_bin: str, tmp_path: Path, clean_env: dict[str, str]) -> None:
    env = dict(clean_env, FRONTDESK_CONFIG=str(tmp_path / "c" / "frontdesk.toml"))
    answers = "\n".join([
        "Jean Roy", "jean@example.org", "Europe/Paris", "fr", "", "",  # days, hours: defaults
        "https://dav.example.org/jean/", "", "cal-pw",  # username: the address
        "", ""])  # no IMAP host: no mail
    result = init(frontdesk_bin, env, "--offline", stdin=answers + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    config = parse_config((tmp_path / "c" / "frontdesk.toml").read_text(),
                          path=tmp_path / "c" / "frontdesk.toml", environ={})
    assert config.policy.freelancer.zone.key == "Europe/Paris"
    assert sorted(config.policy.hours.week) == [0, 1, 2, 3, 4]
    assert config.calendar.username == "jean@example.org"
    assert config.mail is None
    assert "# [mail]" in (tmp_path / "c" / "frontdesk.toml").read_text()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (["--timezone", "GMT+1"], 'frontdesk: --timezone: "GMT+1" is not an IANA time zone; '
                                  "name the place instead"),
        (["--email", "julie"], 'frontdesk: --email: "julie" is not an email address'),
        (["--hours", "09:00-13:00,12:00-17:00"], 'frontdesk: --hours: "09:00-13:00" and '
                                                 '"12:00-17:00" overlap'),
        (["--days", "mon,funday"], 'frontdesk: --days: "funday" is not a day of the week'),
        (["--calendar-url", "https://julie:pw@dav.example.org/"],
         "frontdesk: --calendar-url: \"https://***@dav.example.org/\" holds a username or "
         "password"),
        (["--imap-security", "none"], 'frontdesk: --imap-security none: only to a loopback '
                                      'host, not "imap.example.org"'),
    ],
)
def test_a_bad_answer_names_its_flag_and_writes_nothing(
        frontdesk_bin: str, tmp_path: Path, clean_env: dict[str, str], change: list[str],
        expected: str) -> None:
    flags = list(FLAGS)
    if change[0] in flags:
        flags[flags.index(change[0]) + 1] = change[1]
    else:
        flags += change
    result = init(frontdesk_bin, clean_env, "--config", str(tmp_path / "f.toml"), *flags,
                  "--offline", stdin="a\nb\n")
    assert result.returncode == 64, result.stderr
    assert result.stderr.startswith(expected), result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_missing_answer_says_which_flag_gives_it(frontdesk_bin: str, tmp_path: Path,
                                                   clean_env: dict[str, str]) -> None:
    result = init(frontdesk_bin, clean_env, "--config", str(tmp_path / "f.toml"), "--offline",
                  stdin="")
    assert result.returncode == 64
    assert result.stderr == ("frontdesk: no answer for “Your name (signs every reply)”: "
                             "give --name\n")


def test_no_password_for_a_remote_server_is_named_by_the_check(
        frontdesk_bin: str, tmp_path: Path, clean_env: dict[str, str]) -> None:
    target = tmp_path / "frontdesk.toml"
    result = init(frontdesk_bin, clean_env, "--config", str(target), *FLAGS, "--offline",
                  stdin="\n\n")
    assert result.returncode == 78, result.stdout + result.stderr
    assert "calendar.password_file: is required" in result.stderr
    assert "mail.password_file: is required" in result.stderr
    assert '# password_file = "caldav-password"' in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frontdesk.toml"]


def test_an_instance_file_gets_instance_password_files(
        frontdesk_bin: str, tmp_path: Path, clean_env: dict[str, str]) -> None:
    # what frontdesk@julie.service hands over: julie.toml, julie.caldav-password, ...
    target = tmp_path / "julie.toml"
    result = init(frontdesk_bin, clean_env, "--config", str(target), *FLAGS, "--offline",
                  stdin="c\nm\n")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "julie.caldav-password", "julie.mail-password", "julie.toml"]
    assert 'password_file = "julie.caldav-password"' in target.read_text()


@pytest.mark.servers
def test_init_then_check_against_real_servers(
        frontdesk_bin: str, tmp_path: Path, clean_env: dict[str, str], calendar_url: str,
        mail_account: object) -> None:
    account = mail_account
    target = tmp_path / "frontdesk.toml"
    flags = ["--name", "Julie", "--email", account.address,  # type: ignore[attr-defined]
             "--timezone", "America/Toronto", "--language", "en", "--days", "monday",
             "--hours", "09:00-17:00", "--calendar-url", calendar_url,
             "--calendar-username", "julie",
             "--imap-host", f"127.0.0.1:{account.imap_port}",  # type: ignore[attr-defined]
             "--smtp-host", f"127.0.0.1:{account.smtp_port}",  # type: ignore[attr-defined]
             "--imap-security", "none", "--smtp-security", "none"]
    result = init(frontdesk_bin, dict(clean_env, XDG_STATE_HOME=str(tmp_path / "state")),
                  "--config", str(target), *flags,
                  stdin=f"secret\n{account.password}\n")  # type: ignore[attr-defined]
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith(("wrote", "ok")) for line in lines), lines
    assert any("logged in as julie, collection exists" in line for line in lines)
    assert any("IMAP 127.0.0.1" in line and "logged in" in line for line in lines)


def test_init_on_a_terminal_asks_and_asks_again(frontdesk_bin: str, tmp_path: Path,
                                                clean_env: dict[str, str]) -> None:
    target = tmp_path / "frontdesk.toml"
    pid, fd = pty.fork()
    if pid == 0:  # the child: frontdesk init on a terminal
        os.execve(frontdesk_bin, [frontdesk_bin, "init", "--config", str(target), "--offline",
                                  "--calendar-url", "https://dav.example.org/j/",
                                  "--imap-host", ""], dict(clean_env, TZ="Europe/Paris"))
    seen = ""

    def expect(text: str) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while text not in seen:
            assert time.monotonic() < deadline, f"no {text!r} in {seen!r}"
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    seen += os.read(fd, 4096).decode()
                except OSError:
                    break
        assert text in seen, seen

    try:
        for prompt, answer in [
            ("Your name (signs every reply): ", "Julie"),
            ("Your email address: ", "julie@example.org"),
            ("Your time zone (IANA name, e.g. Europe/Paris) [Europe/Paris]: ", "GMT+1"),
            ("name the place instead", "America/Toronto"),
            ("Language of your replies (fr or en) [en]: ", ""),
            ("Working days [monday tuesday wednesday thursday friday]: ", ""),
            ("Working hours on those days [09:00-12:00 13:00-17:00]: ", ""),
            ("CalDAV login name [julie@example.org]: ", "julie"),
            ("CalDAV password (empty: none): ", "s3cret"),
        ]:
            expect(prompt)
            seen = seen[seen.index(prompt) + len(prompt):]
            os.write(fd, answer.encode() + b"\r")
        expect("ok    configuration")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert "s3cret" not in seen  # no echo of the password
    assert (tmp_path / "caldav-password").read_text() == "s3cret\n"
    config = parse_config(target.read_text(), path=target, environ={})
    assert config.policy.freelancer.timezone == "America/Toronto"
