"""The configuration file: every problem at once, naming the key, exit 78, no traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from daemon.config import ConfigError, find_config, parse_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "systemd" / "frontdesk.example.toml"

MINIMAL = """
[freelancer]
name = "Julie"
email = "julie@example.org"
timezone = "America/Toronto"
[calendar]
url = "http://127.0.0.1:5232/julie/work/"
username = "julie"
password_env = "CALPASS"
[hours]
monday = ["09:00-12:00", "13:00-17:00"]
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ=env if env is not None else {"CALPASS": "x"})
    return info.value.problems


def test_the_shipped_example_is_valid(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    secret.chmod(0o600)
    text = EXAMPLE.read_text().replace("/etc/frontdesk/caldav-password", str(secret)).replace(
        "/etc/frontdesk/mail-password", str(secret))
    config = parse_config(text, environ={"HOME": str(tmp_path)})
    assert config.policy.freelancer.email == "julie@example.org"
    assert config.calendar.password == "s3cret"
    assert config.mail is not None and config.mail.imap_port == 993
    assert [r.label() for r in config.policy.hours.week[0]] == ["09:00-12:00", "13:00-17:00"]
    assert 2 not in config.policy.hours.week  # wednesday left out: a day off
    assert config.policy.terms.payment.text("en").startswith("Payment is due")
    assert config.policy.terms.options.items("fr")[0] == "Payer en trois versements"
    assert config.policy.services[0].price == "95 $"
    assert config.warnings == ()


def test_minimal_file_gets_defaults() -> None:
    config = parse_config(MINIMAL, environ={"CALPASS": "x", "HOME": "/home/j"})
    assert config.policy.booking.duration_minutes == 60
    assert config.mail is None
    assert config.daemon.state_dir == Path("/home/j/.local/state/frontdesk")
    assert repr(config.calendar.password) == "Secret('***')"


def test_state_directory_from_systemd() -> None:
    config = parse_config(MINIMAL, environ={"CALPASS": "x", "STATE_DIRECTORY": "/var/lib/fd"})
    assert config.daemon.state_dir == Path("/var/lib/fd")


def test_issue_examples_are_named_with_key_and_value() -> None:
    text = MINIMAL.replace('"America/Toronto"', '"Montreal"').replace(
        'monday = ["09:00-12:00", "13:00-17:00"]', 'monday = ["09:00-12:00", "13:00-12:00"]'
    ) + "[booking]\nduratoin_minutes = 60\n"
    found = problems(text)
    assert 'hours.monday[1]: "13:00-12:00" ends before it starts' in found
    assert "booking.duratoin_minutes: unknown key, did you mean duration_minutes?" in found
    assert any(p.startswith('freelancer.timezone: "Montreal" is not an IANA time zone')
               for p in found)
    assert len(found) == 3


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ('tuesday = ["09:00-12:00", "11:30-13:00"]', "hours.tuesday: "),
        ('tuesday = ["09:00-24:00"]', 'hours.tuesday[0]: "09:00-24:00": "24:00"'),
        ('tuesday = ["9-5"]', "hours.tuesday[0]:"),
        ('closed = ["2027-01-02/2026-12-24"]', "hours.closed[0]: "),
        ('closed = ["2027-02-30"]', "hours.closed[0]: "),
        ('tuesdy = ["09:00-12:00"]', "hours.tuesdy: unknown key, did you mean tuesday?"),
    ],
)
def test_bad_hours(snippet: str, expected: str) -> None:
    found = problems(MINIMAL + snippet + "\n")
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("[booking]\nduration_minutes = -30\n", "booking.duration_minutes: -30 must be at least"),
        ("[booking]\nbuffer_minutes = -1\n", "booking.buffer_minutes: -1"),
        ("[booking]\ncluster = \"yes\"\n", 'booking.cluster: "yes" is not true or false'),
        ("[booking]\nslots_offered = true\n", "booking.slots_offered: true is not a whole number"),
        ("[invites]\ndecline_outside_hour = true\n", "invites.decline_outside_hour: unknown key"),
        ("[terms]\npayment = { de = \"x\" }\n", "terms.payment.de: unknown language"),
        ("[[services]]\nname = \"Massage\"\nminutes = 0\nprice = \"95 $\"\n",
         "services[0].minutes: 0 must be a positive whole number"),
        ("[clients]\nblock = [\"spam\"]\n", 'clients.block[0]: "spam" is not an address'),
        ("[daemon]\nlog_level = \"loud\"\n", 'daemon.log_level: "loud" must be one of'),
        ("[mail]\nimap_host = \"imap.example.org\"\nimap_security = \"none\"\n"
         "smtp_host = \"smtp.example.org\"\n", "mail.imap_security: \"none\" (no TLS) is only"),
        ("[mail]\nimap_host = \"imap.example.org\"\nsmtp_host = \"smtp.example.org\"\n"
         "mode = \"drafts\"\n", 'mail.mode: "drafts" must be one of "send", "draft"'),
        ("[calender]\nurl = \"x\"\n", "calender: unknown section, did you mean calendar?"),
    ],
)
def test_bad_values_name_their_key(section: str, expected: str) -> None:
    found = problems(MINIMAL + section)
    assert any(p.startswith(expected) for p in found), found


def test_plain_http_only_to_loopback() -> None:
    found = problems(MINIMAL.replace("http://127.0.0.1:5232", "http://dav.example.org"))
    assert any(p.startswith("calendar.url: ") and "https" in p for p in found)


def test_missing_required_sections_all_reported() -> None:
    found = problems("[freelancer]\nname = \"J\"\n")
    assert "calendar: the [calendar] section is required" in found
    assert "hours: the [hours] section is required" in found
    assert "freelancer.email: is required" in found
    assert "freelancer.timezone: is required" in found


def test_secret_sources(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.write_text("pw\n")
    loose.chmod(0o644)
    config = parse_config(MINIMAL.replace('password_env = "CALPASS"',
                                          f'password_file = "{loose}"'), environ={})
    assert config.calendar.password == "pw"
    assert any("readable by group or others" in w for w in config.warnings)
    # systemd credentials: a relative password_file, or the conventional credential name
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "caldav-password").write_text("fromcred")
    config = parse_config(MINIMAL.replace('password_env = "CALPASS"\n', ""),
                          environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.calendar.password == "fromcred"
    assert problems(MINIMAL, env={}) == ["calendar.password_env: the environment variable "
                                         "CALPASS is not set"]
    missing = problems(MINIMAL.replace('password_env = "CALPASS"',
                                       f'password_file = "{tmp_path}/nope"'), env={})
    assert missing[0].startswith("calendar.password_file: cannot read")
    config = parse_config(MINIMAL.replace('password_env = "CALPASS"', 'password = "inline"'),
                          environ={})
    assert any(w.startswith("calendar.password:") for w in config.warnings)


def test_find_config_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    user = home / ".config" / "frontdesk" / "frontdesk.toml"
    user.parent.mkdir(parents=True)
    user.write_text(MINIMAL)
    explicit = tmp_path / "x.toml"
    explicit.write_text(MINIMAL)
    env = {"HOME": str(home), "FRONTDESK_CONFIG": str(explicit)}
    assert find_config(None, env) == explicit
    assert find_config(str(explicit), {"HOME": str(home)}) == explicit
    assert find_config(None, {"HOME": str(home)}) == user
    with pytest.raises(ConfigError):
        find_config(str(tmp_path / "absent.toml"), env)


def test_cli_bad_config_exits_78_with_every_problem(frontdesk_bin: str, tmp_path: Path,
                                                    clean_env: dict[str, str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL.replace('"America/Toronto"', '"Montreal"')
                   + "[booking]\nduratoin_minutes = 60\nbuffer_minutes = -1\n")
    for command in (["check", "--offline"], ["slots"]):
        result = subprocess.run([frontdesk_bin, "--config", str(bad), *command],
                                capture_output=True, text=True, env=dict(clean_env, CALPASS="x"),
                                timeout=60)
        assert result.returncode == 78, result.stderr
        assert "Traceback" not in result.stderr
        assert "freelancer.timezone" in result.stderr
        assert "booking.duratoin_minutes: unknown key, did you mean duration_minutes?" \
            in result.stderr
        assert "booking.buffer_minutes" in result.stderr
        assert "has 3 problems" in result.stderr


def test_cli_not_toml_and_missing_file(frontdesk_bin: str, tmp_path: Path,
                                       clean_env: dict[str, str]) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[freelancer\nname = ")
    result = subprocess.run([frontdesk_bin, "--config", str(broken), "check", "--offline"],
                            capture_output=True, text=True, env=clean_env, timeout=60)
    assert result.returncode == 78 and "not valid TOML" in result.stderr
    result = subprocess.run([frontdesk_bin, "check", "--offline"], capture_output=True,
                            text=True, env=clean_env, timeout=60)
    assert result.returncode == 78 and "no configuration file found" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_check_offline_ok(frontdesk_bin: str, tmp_path: Path,
                              clean_env: dict[str, str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(MINIMAL)
    env = dict(clean_env, CALPASS="x", FRONTDESK_CONFIG=str(good))
    result = subprocess.run([frontdesk_bin, "check", "--offline"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
    assert os.fspath(good) in result.stdout


def test_a_broken_own_template_stops_start_up_with_78(frontdesk_bin: str, tmp_path: Path,
                                                      clean_env: dict[str, str]) -> None:
    own = tmp_path / "templates"
    own.mkdir()
    (own / "booking.fr.txt.j2").write_text("Bonjour {{ clinet_name }}\n{% for s in slots %}")
    config = tmp_path / "c.toml"
    config.write_text(MINIMAL + f'[daemon]\ntemplates_dir = "{own}"\nstate_dir = "{tmp_path}/s"\n')
    for command in (["once"], ["run"]):
        result = subprocess.run([frontdesk_bin, "--config", str(config), *command],
                                capture_output=True, text=True, env=dict(clean_env, CALPASS="x"),
                                timeout=60)
        assert result.returncode == 78, result.stderr
        assert "daemon.templates_dir:" in result.stderr and "booking.fr.txt.j2" in result.stderr
        assert "Traceback" not in result.stderr


def test_unusable_state_dir_is_one_sentence(frontdesk_bin: str, tmp_path: Path,
                                            clean_env: dict[str, str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = tmp_path / "c.toml"
    config.write_text(MINIMAL + f'[daemon]\nstate_dir = "{blocker}/state"\n')
    result = subprocess.run([frontdesk_bin, "--config", str(config), "slots"],
                            capture_output=True, text=True, env=dict(clean_env, CALPASS="x"),
                            timeout=60)
    assert result.returncode == 78
    assert result.stderr.startswith("frontdesk: daemon.state_dir: cannot use")
    assert "Traceback" not in result.stderr
